//! Splits a script into tokens with positions. Comments are collected on the side.

use crate::ast::{Comment, Pos};
use crate::error::ParseError;

/// A token's kind and value.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A decimal integer (possibly negative).
    Int(i64),
    /// A `0x` hex integer.
    Hex(u64),
    /// A decimal number with a fraction, kept as text so times convert exactly.
    Float(String),
    /// A run of letters, digits and underscores that is not a number.
    Word(String),
    /// A double-quoted string, unescaped.
    Str(String),
    /// A back-quoted command, verbatim.
    Backquoted(String),
    /// A `%{ ... }%` block, trimmed of surrounding blanks.
    Code(String),
    /// `--name` with its `=value`, if any.
    Opt(String, Option<String>),
    /// A dotted-quad IPv4 address.
    Ipv4(String),
    /// `...`.
    Ellipsis,
    /// Any other single character.
    Punct(char),
    /// The end of the input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Int(v) => format!("integer {v}"),
            Tok::Hex(v) => format!("hex integer {v:#x}"),
            Tok::Float(t) => format!("number {t}"),
            Tok::Word(w) => format!("'{w}'"),
            Tok::Str(_) => "string".to_string(),
            Tok::Backquoted(_) => "`command`".to_string(),
            Tok::Code(_) => "%{ code }%".to_string(),
            Tok::Opt(n, _) => format!("option --{n}"),
            Tok::Ipv4(a) => format!("address {a}"),
            Tok::Ellipsis => "'...'".to_string(),
            Tok::Punct(c) => format!("'{c}'"),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its first character.
    pub pos: Pos,
    /// True when a newline separates it from the previous token.
    pub line_start: bool,
    /// The token's source text.
    pub text: String,
}

struct Lexer<'a> {
    path: &'a str,
    chars: Vec<char>,
    i: usize,
    line: u32,
    column: u32,
    comments: Vec<Comment>,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn err(&self, pos: Pos, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.path, pos, msg)
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.peek(k) == Some(c))
    }

    /// Skips blanks and comments; returns whether a newline was crossed.
    fn skip_trivia(&mut self) -> Result<bool, ParseError> {
        let mut newline = false;
        loop {
            match self.peek(0) {
                Some('\n') => {
                    newline = true;
                    self.bump();
                }
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek(1) == Some('/') => {
                    let pos = self.pos();
                    let mut text = String::new();
                    self.bump();
                    self.bump();
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        text.push(c);
                        self.bump();
                    }
                    self.comments.push(Comment {
                        pos,
                        text: text.trim().to_string(),
                    });
                }
                Some('/') if self.peek(1) == Some('*') => {
                    let pos = self.pos();
                    self.bump();
                    self.bump();
                    let mut text = String::new();
                    loop {
                        if self.starts_with("*/") {
                            self.bump();
                            self.bump();
                            break;
                        }
                        match self.bump() {
                            Some(c) => text.push(c),
                            None => return Err(self.err(pos, "unclosed /* comment: expected */")),
                        }
                    }
                    self.comments.push(Comment {
                        pos,
                        text: text.trim().to_string(),
                    });
                }
                _ => return Ok(newline),
            }
        }
    }

    /// Reads verbatim up to the closing delimiter `close`.
    fn delimited(&mut self, open: Pos, close: &str, what: &str) -> Result<String, ParseError> {
        let mut text = String::new();
        loop {
            if self.starts_with(close) {
                for _ in close.chars() {
                    self.bump();
                }
                return Ok(text);
            }
            match self.bump() {
                Some(c) => text.push(c),
                None => return Err(self.err(open, format!("unclosed {what}: expected {close}"))),
            }
        }
    }

    fn string(&mut self, open: Pos) -> Result<String, ParseError> {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(text),
                Some('\\') => match self.bump() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('0') => text.push('\0'),
                    Some(c) => text.push(c),
                    None => break,
                },
                Some(c) => text.push(c),
                None => break,
            }
        }
        Err(self.err(open, "unclosed string: expected '\"'"))
    }

    fn number_or_word(&mut self, pos: Pos) -> Result<Tok, ParseError> {
        let negative = self.peek(0) == Some('-');
        if negative {
            self.bump();
        }
        let mut text = String::new();
        while let Some(c) = self.peek(0).filter(|c| is_word_char(*c)) {
            text.push(c);
            self.bump();
        }
        let all_digits = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
        if !negative && (text.starts_with("0x") || text.starts_with("0X")) && text.len() > 2 {
            if let Ok(v) = u64::from_str_radix(&text[2..], 16) {
                return Ok(Tok::Hex(v));
            }
            if text[2..].chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(self.err(pos, format!("hex integer {text} out of range")));
            }
            return Ok(Tok::Word(text));
        }
        if !all_digits && !text.is_empty() {
            if negative {
                return Err(self.err(pos, "expected a number after '-'"));
            }
            return Ok(Tok::Word(text));
        }
        // A dotted quad: digits '.' digits '.' digits '.' digits.
        if !negative && self.dotted_quad_follows() {
            for _ in 0..3 {
                text.push(self.bump().unwrap_or('.'));
                while let Some(c) = self.peek(0).filter(char::is_ascii_digit) {
                    text.push(c);
                    self.bump();
                }
            }
            return Ok(Tok::Ipv4(text));
        }
        // A fraction: '.' followed by a digit (but not '...').
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            text.push('.');
            self.bump();
            while let Some(c) = self.peek(0).filter(char::is_ascii_digit) {
                text.push(c);
                self.bump();
            }
            if negative {
                text.insert(0, '-');
            }
            return Ok(Tok::Float(text));
        }
        if text.is_empty() {
            return Err(self.err(pos, "expected a number after '-'"));
        }
        let v: i64 = text
            .parse()
            .map_err(|_| self.err(pos, format!("integer {text} out of range")))?;
        Ok(Tok::Int(if negative { -v } else { v }))
    }

    fn dotted_quad_follows(&self) -> bool {
        let mut k = 0;
        for _ in 0..3 {
            if self.peek(k) != Some('.') {
                return false;
            }
            k += 1;
            let start = k;
            while self.peek(k).is_some_and(|c| c.is_ascii_digit()) {
                k += 1;
            }
            if k == start {
                return false;
            }
        }
        !self.peek(k).is_some_and(|c| is_word_char(c) || c == '.')
    }

    fn option(&mut self) -> Tok {
        self.bump();
        self.bump();
        let mut name = String::new();
        while let Some(c) = self.peek(0).filter(|c| is_word_char(*c)) {
            name.push(c);
            self.bump();
        }
        if self.peek(0) != Some('=') {
            return Tok::Opt(name, None);
        }
        self.bump();
        let mut value = String::new();
        if self.peek(0) == Some('"') {
            self.bump();
            while let Some(c) = self.peek(0) {
                if c == '"' || c == '\n' {
                    break;
                }
                value.push(c);
                self.bump();
            }
            if self.peek(0) == Some('"') {
                self.bump();
            }
            return Tok::Opt(name, Some(value));
        }
        while let Some(c) = self.peek(0).filter(|c| !c.is_whitespace()) {
            value.push(c);
            self.bump();
        }
        Tok::Opt(name, Some(value))
    }

    fn next(&mut self) -> Result<Token, ParseError> {
        let line_start = self.skip_trivia()? || self.i == 0;
        let pos = self.pos();
        let start = self.i;
        let Some(c) = self.peek(0) else {
            return Ok(Token {
                tok: Tok::Eof,
                pos,
                line_start: true,
                text: String::new(),
            });
        };
        let tok = match c {
            '.' if self.starts_with("...") => {
                self.bump();
                self.bump();
                self.bump();
                Tok::Ellipsis
            }
            '.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.number_or_word(pos)?,
            '-' if self.peek(1) == Some('-') && self.peek(2).is_some_and(is_word_char) => {
                self.option()
            }
            '-' if self.peek(1).is_some_and(|c| c.is_ascii_digit())
                || (self.peek(1) == Some('.')
                    && self.peek(2).is_some_and(|c| c.is_ascii_digit())) =>
            {
                self.number_or_word(pos)?
            }
            c if is_word_char(c) => self.number_or_word(pos)?,
            '"' => Tok::Str(self.string(pos)?),
            '`' => {
                self.bump();
                Tok::Backquoted(self.delimited(pos, "`", "back-quoted command")?)
            }
            '%' if self.peek(1) == Some('{') => {
                self.bump();
                self.bump();
                let text = self.delimited(pos, "}%", "%{ code block")?;
                Tok::Code(text.trim_matches([' ', '\t']).to_string())
            }
            c => {
                self.bump();
                Tok::Punct(c)
            }
        };
        Ok(Token {
            tok,
            pos,
            line_start,
            text: self.chars[start..self.i].iter().collect(),
        })
    }
}

/// Splits `src` into tokens (ending with [`Tok::Eof`]) and the comments.
pub fn tokenize(path: &str, src: &str) -> Result<(Vec<Token>, Vec<Comment>), ParseError> {
    let mut lx = Lexer {
        path,
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        column: 1,
        comments: Vec::new(),
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next()?;
        let end = t.tok == Tok::Eof;
        out.push(t);
        if end {
            return Ok((out, lx.comments));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize("t", s)
            .unwrap()
            .0
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn times_and_ellipsis() {
        assert_eq!(
            toks("+.01...0.011"),
            vec![
                Tok::Punct('+'),
                Tok::Float(".01".into()),
                Tok::Ellipsis,
                Tok::Float("0.011".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("+0...30"),
            vec![
                Tok::Punct('+'),
                Tok::Int(0),
                Tok::Ellipsis,
                Tok::Int(30),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn seq_and_flags() {
        assert_eq!(
            toks("P. 1:1001(1000)"),
            vec![
                Tok::Word("P".into()),
                Tok::Punct('.'),
                Tok::Int(1),
                Tok::Punct(':'),
                Tok::Int(1001),
                Tok::Punct('('),
                Tok::Int(1000),
                Tok::Punct(')'),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn words_hex_negative_addresses() {
        assert_eq!(
            toks("-1 0x1F 3021b9d8 192.0.2.1 --ip_version=ipv4 --x"),
            vec![
                Tok::Int(-1),
                Tok::Hex(0x1f),
                Tok::Word("3021b9d8".into()),
                Tok::Ipv4("192.0.2.1".into()),
                Tok::Opt("ip_version".into(), Some("ipv4".into())),
                Tok::Opt("x".into(), None),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_are_collected() {
        let (t, c) = tokenize("t", "// one\n/* two\n */ 0").unwrap();
        assert_eq!(t[0].tok, Tok::Int(0));
        assert_eq!(t[0].pos, Pos { line: 3, column: 5 });
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].text, "one");
        assert_eq!(c[1].text, "two");
    }

    #[test]
    fn unclosed_things_are_errors() {
        for (src, want) in [
            ("0 `abc", "back-quoted"),
            ("/* x", "comment"),
            ("%{ x", "code"),
            ("\"abc", "string"),
        ] {
            let e = tokenize("f.pkt", src).unwrap_err();
            assert!(e.message.contains(want), "{src}: {e}");
            assert!(e.to_string().starts_with("f.pkt:1:"), "{e}");
        }
    }

    #[test]
    fn integer_overflow_is_an_error() {
        let e = tokenize("t", "99999999999999999999999").unwrap_err();
        assert!(e.message.contains("out of range"));
    }
}
