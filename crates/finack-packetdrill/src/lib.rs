//! finack-packetdrill: packetdrill scripts for finack.
//!
//! [packetdrill](https://github.com/google/packetdrill) is the scripting language
//! Linux's TCP is tested with: a script interleaves system calls with the packets
//! the stack must send (`>`) and the packets injected into it (`<`), each at a
//! time. This crate parses such scripts into a typed tree ([`parse`], [`ast`])
//! and runs them in virtual time against [`finack_core::Endpoint`] ([`run`]).
//!
//! ```
//! let script = finack_packetdrill::parse(
//!     "example.pkt",
//!     "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > S 0:0(0) <mss 1460,nop,wscale 8>\n",
//! )
//! .unwrap();
//! assert_eq!(script.events.len(), 2);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
mod error;
mod lexer;
mod parser;
pub mod run;
pub mod suite;

pub use ast::Script;
pub use error::ParseError;
pub use parser::{parse, tcpi_names};

/// Reads and parses the script at `path`.
pub fn parse_file(path: &std::path::Path) -> Result<Script, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ParseError::new(
            &path.display().to_string(),
            ast::Pos { line: 1, column: 1 },
            format!("cannot read the script: {e}"),
        )
    })?;
    parse(&path.display().to_string(), &text)
}
