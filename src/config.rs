//! The stack file → [`Stack`]: parsing, interpolation and validation (DESIGN §3, §6).
//!
//! - `raw.rs` reads the YAML (serde-saphyr) into a node tree with a location on every node;
//! - `resolve/` interpolates `${…}`, applies defaults and checks everything, building the
//!   typed [`Stack`] in `model.rs`;
//! - `diagnostic.rs` is the [`Error`]: kind, file, line, column, YAML path, help, and the
//!   source snippet miette renders.
//!
//! Everything is checked here, before any cloud call; nothing downstream re-validates. No
//! `serde_saphyr::` path leaves this module.

mod diagnostic;
mod model;
mod raw;
mod resolve;

pub use diagnostic::suggest;
pub use diagnostic::{Error, ErrorKind};
pub use model::*;
pub use resolve::DEFERRED_RESERVE;

use std::path::Path;

use diagnostic::Source;

/// Reads, parses, interpolates and validates a stack file.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Stack, Error> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(&name, e))?;
    let source = decode(&name, bytes)?;
    parse(&source, path, opts)
}

/// The stack file's bytes as text: UTF-8 (a UTF-8 byte-order mark is dropped), or an error
/// naming the line and column of the first byte that is not, and what the file looks like.
fn decode(name: &str, bytes: Vec<u8>) -> Result<String, Error> {
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(Error::encoding(
            name,
            1,
            1,
            "it is UTF-16 (it starts with a UTF-16 byte-order mark)",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let bad = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let (line, col) = place(&bytes[..bad]);
            // Text has next to no control bytes; binary files and BOM-less UTF-16 are full of them.
            let control = bytes
                .iter()
                .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
                .count();
            let what = if control * 100 > bytes.len() {
                "it looks binary, or UTF-16 without a byte-order mark".to_owned()
            } else {
                format!(
                    "byte 0x{:02X} here is not UTF-8 (Latin-1 or another legacy encoding?)",
                    bytes[bad]
                )
            };
            Err(Error::encoding(name, line, col, &what))
        }
    }
}

/// 1-based line and column (in characters) just after `prefix`, which is valid UTF-8.
fn place(prefix: &[u8]) -> (usize, usize) {
    let text = std::str::from_utf8(prefix).unwrap_or_default();
    let line = text.matches('\n').count() + 1;
    let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parses, interpolates and validates the text of the stack file at `path`. `codeUri`
/// directories are checked relative to `path`'s directory; nothing else touches the disk.
pub fn parse(source: &str, path: &Path, opts: &LoadOptions) -> Result<Stack, Error> {
    let name = path.display().to_string();
    let src = Source {
        name: &name,
        text: source,
    };
    let root = raw::parse(source).map_err(|e| diagnostic::syntax(&src, &e))?;
    resolve::resolve(&src, &root, path, opts)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod decode_tests {
    use super::decode;

    #[test]
    fn text_that_is_not_utf8_is_refused_naming_where_and_what() {
        // bytes → the text, or (line, column, what the message says)
        type Want = Result<&'static str, (usize, usize, &'static str)>;
        let cases: &[(&[u8], Want)] = &[
            (b"a: 1\n", Ok("a: 1\n")),
            (b"\xEF\xBB\xBFa: 1\n", Ok("a: 1\n")),
            (b"\xFF\xFEa\0:\0", Err((1, 1, "UTF-16"))),
            (b"\xFE\xFF\0a", Err((1, 1, "UTF-16"))),
            (b"a: 1\nname: Chat\xE9\n", Err((2, 11, "0xE9"))),
            (b"a: \xC3\xA9\xFF", Err((1, 5, "0xFF"))),
            (b"\x00\x01\x00\x02\x00\x80\x00\x00", Err((1, 6, "binary"))),
        ];
        for (bytes, want) in cases {
            let got = decode("s.yml", bytes.to_vec());
            match (want, got) {
                (Ok(text), Ok(got)) => assert_eq!(&got, text),
                (Err((line, col, says)), Err(e)) => {
                    assert_eq!(
                        (e.line(), e.column()),
                        (Some(*line), Some(*col)),
                        "{bytes:?}"
                    );
                    assert!(e.message().contains(says), "{bytes:?}: {}", e.message());
                    assert!(e.to_string().starts_with(&format!("s.yml:{line}:{col}: ")));
                }
                (want, got) => panic!("{bytes:?}: want {want:?}, got {got:?}"),
            }
        }
    }
}
