//! The stack file as written: a YAML node tree with a location on every node.
//!
//! Why a tree and not per-component serde structs with `deny_unknown_fields`: the component
//! named in an instance decides the schema of its `inputs`, and interpolation has to run before
//! typing (`timeout: ${Conf.timeout}` is a string until resolved), so `resolve.rs` types the
//! *resolved* tree against per-component field tables (unknown fields are rejected there, with
//! "did you mean"). serde-saphyr still does all the YAML work here: syntax, duplicate keys
//! (rejected by default, located), tabs, alias budgets.
//!
//! serde-saphyr gotchas (CRATES.md §1.2), kept here because this is the only file that talks
//! to it:
//! 1. `to_miette_report` prints `<input>` as the file name unless `source_name` is passed in
//!    `render_options!`; we build our own diagnostic (`diagnostic.rs`) instead.
//! 2. `Span::offset()` counts characters; only `Span::byte_offset()` may index the source.
//! 3. Plain scalars coerce into `String`, so shapes are validated in `resolve.rs`.
//! 4. `#[serde(flatten)]` loses locations: not used.
//! 5. There is no `Value` DOM: [`Node`] below is ours.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A byte range in the stack file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    /// Byte offset of the first byte.
    pub(crate) start: usize,
    /// Length in bytes.
    pub(crate) len: usize,
}

/// What kind of scalar the YAML parser saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    /// A string (plain or quoted).
    Str,
    /// An integer, float or boolean written as a plain scalar.
    Other,
}

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// What it holds.
    pub(crate) kind: NodeKind,
    /// Where it is written.
    pub(crate) span: Span,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    /// `key:` with nothing after it, or `~` / `null`.
    Null,
    /// A scalar's text, with `text_at` = byte offset where that text appears verbatim in the
    /// file (the scalar's own offset, or one past its opening quote), when it does.
    Scalar {
        text: String,
        kind: ScalarKind,
        text_at: Option<usize>,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its location.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    /// The key text.
    pub(crate) name: String,
    /// Where the key is written.
    pub(crate) span: Span,
}

/// Why the YAML could not be read.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    /// What went wrong, without location.
    pub(crate) message: String,
    /// Where, if known.
    pub(crate) span: Option<Span>,
    /// Line and column (1-based) as the parser reported them.
    pub(crate) line_col: Option<(usize, usize)>,
    /// Whether it is a duplicate key.
    pub(crate) duplicate_key: bool,
}

/// Parses a whole stack file into a node tree.
pub(crate) fn parse(source: &str) -> Result<Node, SyntaxError> {
    let root: Spanned<Tree> = serde_saphyr::from_str(source).map_err(|e| syntax_error(&e))?;
    let mut node = to_node(root);
    fix_scalars(&mut node, source);
    Ok(node)
}

/// The YAML path (`ChatReg.inputs.name`) of the key on `line` (1-based), read from block-style
/// indentation; `None` when lists or flow collections are involved. For errors found by the
/// parser, when there is no tree to take the path from.
pub(crate) fn block_path(source: &str, line: usize) -> Option<String> {
    fn key_of(l: &str) -> Option<(usize, &str)> {
        let rest = l.trim_start_matches(' ');
        let indent = l.len() - rest.len();
        if rest.starts_with(['-', '#', '[', '{']) {
            return None;
        }
        let (k, _) = rest.split_once(':')?;
        let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
        (!k.is_empty() && !k.contains(char::is_whitespace)).then_some((indent, k))
    }
    let lines: Vec<&str> = source.lines().collect();
    let (mut indent, key) = key_of(lines.get(line.checked_sub(1)?)?)?;
    let mut parts = vec![key];
    for l in lines[..line - 1].iter().rev() {
        if indent == 0 {
            break;
        }
        let t = l.trim_start_matches(' ');
        if t.is_empty() || t.starts_with('#') || l.len() - t.len() >= indent {
            continue;
        }
        let (i, k) = key_of(l)?;
        parts.push(k);
        indent = i;
    }
    if indent != 0 {
        return None;
    }
    parts.reverse();
    Some(parts.join("."))
}

fn syntax_error(err: &serde_saphyr::Error) -> SyntaxError {
    use serde_saphyr::MessageFormatter as _;
    let inner = err.without_snippet();
    let message = match inner {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } => {
            format!("duplicate key `{k}`")
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => "duplicate key".to_owned(),
        _ => serde_saphyr::DefaultMessageFormatter
            .format_message(inner)
            .into_owned(),
    };
    let location = err.location();
    let span = location.and_then(|l| {
        let start = l.span().byte_offset()?;
        let len = l.span().byte_len().unwrap_or(0);
        Some(Span {
            start: usize::try_from(start).ok()?,
            len: usize::try_from(len).ok()?,
        })
    });
    let line_col = location
        .filter(|l| l.line() > 0)
        .map(|l| (l.line() as usize, l.column() as usize));
    SyntaxError {
        message,
        span,
        line_col,
        duplicate_key: matches!(inner, serde_saphyr::Error::DuplicateMappingKey { .. }),
    }
}

fn span_of(loc: &serde_saphyr::Location) -> Span {
    let s = loc.span();
    match (s.byte_offset(), s.byte_len()) {
        (Some(start), Some(len)) => Span {
            start: start as usize,
            len: len as usize,
        },
        _ => Span::default(),
    }
}

fn to_node(t: Spanned<Tree>) -> Node {
    let span = span_of(&t.referenced);
    let kind = match t.value {
        Tree::Null => NodeKind::Null,
        Tree::Scalar(text, kind) => NodeKind::Scalar {
            text,
            kind,
            text_at: None,
        },
        Tree::Seq(items) => NodeKind::Seq(items.into_iter().map(to_node).collect()),
        Tree::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    (
                        Key {
                            name: k.value,
                            span: span_of(&k.referenced),
                        },
                        to_node(v),
                    )
                })
                .collect(),
        ),
    };
    Node { kind, span }
}

/// Gives non-string scalars their text as written (`1.10`, not `1.1`) and records where each
/// scalar's text sits in the file, so errors can point inside it (at a `${…}`).
fn fix_scalars(node: &mut Node, source: &str) {
    let span = node.span;
    match &mut node.kind {
        NodeKind::Null => {}
        NodeKind::Scalar {
            text,
            kind,
            text_at,
        } => {
            let written = source.get(span.start..span.start + span.len).unwrap_or("");
            if *kind == ScalarKind::Other && !written.is_empty() {
                *text = written.trim().to_owned();
            }
            let rest = source.get(span.start..).unwrap_or("");
            if rest.starts_with(text.as_str()) {
                *text_at = Some(span.start);
            } else if (rest.starts_with('"') || rest.starts_with('\''))
                && rest[1..].starts_with(text.as_str())
            {
                *text_at = Some(span.start + 1);
            }
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(|n| fix_scalars(n, source)),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(_, n)| fix_scalars(n, source)),
    }
}

/// What serde-saphyr hands us; converted into [`Node`] right away.
enum Tree {
    Null,
    Scalar(String, ScalarKind),
    Seq(Vec<Spanned<Tree>>),
    Map(Vec<(Spanned<String>, Spanned<Tree>)>),
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        Tree::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string(), ScalarKind::Other))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string(), ScalarKind::Other))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string(), ScalarKind::Other))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string(), ScalarKind::Other))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string(), ScalarKind::Other))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string(), ScalarKind::Other))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_owned(), ScalarKind::Str))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Tree, E> {
        Ok(Tree::Scalar(v, ScalarKind::Str))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Tree>>()?;
            entries.push((key, value));
        }
        Ok(Tree::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_paths() {
        let src = "a:\n  b:\n    # note\n\n    c: 1\n  d: 2\nlist:\n  - x: 1\n    y: 2\n";
        assert_eq!(block_path(src, 5).as_deref(), Some("a.b.c"));
        assert_eq!(block_path(src, 6).as_deref(), Some("a.d"));
        assert_eq!(block_path(src, 1).as_deref(), Some("a"));
        assert_eq!(block_path(src, 9), None);
        assert_eq!(block_path(src, 8), None);
        assert_eq!(block_path(src, 0), None);
        assert_eq!(block_path(src, 99), None);
    }

    #[test]
    fn scalar_text_as_written() {
        let n = parse("a: 1.10\nb: \"q ${x}\"\nc: 你好\n").unwrap();
        let NodeKind::Map(entries) = n.kind else {
            panic!("not a map")
        };
        let texts: Vec<(String, Option<usize>)> = entries
            .iter()
            .map(|(_, v)| match &v.kind {
                NodeKind::Scalar { text, text_at, .. } => (text.clone(), *text_at),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            [
                ("1.10".to_owned(), Some(3)),
                ("q ${x}".to_owned(), Some(12)),
                ("你好".to_owned(), Some(23)),
            ]
        );
    }
}
