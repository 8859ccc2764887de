//! Parse errors with their position.

use core::fmt;

use crate::ast::Pos;

/// A syntax or semantic error in a script, printed as `file:line:column: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The script's path as given to the parser.
    pub path: String,
    /// Line, starting at 1.
    pub line: u32,
    /// Column, starting at 1.
    pub column: u32,
    /// What was wrong, usually "expected X, found Y".
    pub message: String,
}

impl ParseError {
    /// An error at `pos` in `path`.
    pub fn new(path: &str, pos: Pos, message: impl Into<String>) -> ParseError {
        ParseError {
            path: path.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}
