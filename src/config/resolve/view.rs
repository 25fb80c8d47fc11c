//! The typed view over a resolved node: a mapping checked against a field table
//! ([`MapView`], [`unknown_field`]), and the readers every builder shares: [`text`],
//! [`number`], [`number_in`], [`check_region`], [`same_region`], and [`describe`] for the
//! "found …" in their errors.

use super::super::diagnostic::{Error, ErrorKind, Source, suggest};
use super::super::model::*;
use super::super::raw::{Key, Span};
use super::interpolate::{RKind, RNode};

type Result<T> = std::result::Result<T, Error>;

/// A resolved mapping, typed against a field table.
pub(super) struct MapView<'r> {
    pub(super) entries: &'r [(Key, RNode)],
    path: String,
    /// Where to point when a required field is missing.
    pub(super) at: Span,
}

impl<'r> MapView<'r> {
    pub(super) fn of(
        src: &Source<'_>,
        node: &'r RNode,
        path: String,
        fallback: Span,
    ) -> Result<Self> {
        match &node.kind {
            RKind::Map(entries) => Ok(MapView {
                entries,
                path,
                at: fallback,
            }),
            RKind::Null => Ok(MapView {
                entries: &[],
                path,
                at: fallback,
            }),
            _ => Err(Error::at(
                src,
                ErrorKind::WrongType,
                node.span,
                Some(path.clone()),
                format!("`{path}` must be a mapping, found {}", describe(node)),
            )
            .help("write it as indented `key: value` lines")),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&'r RNode> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, n)| n)
    }

    /// The span of key `name`, or of the mapping when it is absent.
    pub(super) fn key_span(&self, name: &str) -> Span {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map_or(self.at, |(k, _)| k.span)
    }

    pub(super) fn path_of(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    pub(super) fn check_known(&self, src: &Source<'_>, what: &str, known: &[&str]) -> Result<()> {
        for (k, _) in self.entries {
            if !known.contains(&k.name.as_str()) {
                return Err(unknown_field(src, k, &self.path_of(&k.name), what, known));
            }
        }
        Ok(())
    }

    pub(super) fn required(&self, src: &Source<'_>, name: &str, hint: &str) -> Result<&'r RNode> {
        self.get(name).ok_or_else(|| {
            Error::at(
                src,
                ErrorKind::MissingField,
                self.at,
                Some(self.path_of(name)),
                format!("`{}` is missing `{name}`", self.path),
            )
            .help(format!("add `{name}: {hint}`"))
        })
    }
}

pub(super) fn unknown_field(
    src: &Source<'_>,
    key: &Key,
    path: &str,
    what: &str,
    known: &[&str],
) -> Error {
    let e = Error::at(
        src,
        ErrorKind::UnknownField,
        key.span,
        Some(path.to_owned()),
        format!("unknown field `{}` in {what}", key.name),
    );
    match suggest(&key.name, known.iter().copied()) {
        Some(s) => e.help(format!("did you mean `{s}`?")),
        None => e.help(format!("expected one of: {}", known.join(", "))),
    }
}

pub(super) fn describe(n: &RNode) -> &'static str {
    match n.kind {
        RKind::Null => "nothing",
        RKind::Scalar(_) => "a single value",
        RKind::Seq(_) => "a list",
        RKind::Map(_) => "a mapping",
    }
}

/// A string known now: empty for `key:` with nothing, an error for lists, mappings and gateway
/// outputs.
pub(super) fn text(src: &Source<'_>, n: &RNode, path: &str) -> Result<String> {
    match &n.kind {
        RKind::Null => Ok(String::new()),
        RKind::Scalar(segs) => {
            let mut out = String::new();
            for s in segs {
                match s {
                    Segment::Literal(l) => out.push_str(l),
                    Segment::Deferred(_) => {
                        return Err(Error::at(
                            src,
                            ErrorKind::DeferredNotAllowed,
                            n.span,
                            Some(path.to_owned()),
                            format!(
                                "`{path}` uses a gateway output, which is only known during deploy"
                            ),
                        )
                        .help(
                            "gateway outputs (internalDomain, url, serviceId) may only be used in \
                             environment.variables values",
                        ));
                    }
                }
            }
            Ok(out)
        }
        RKind::Seq(_) | RKind::Map(_) => Err(Error::at(
            src,
            ErrorKind::WrongType,
            n.span,
            Some(path.to_owned()),
            format!("`{path}` must be a single value, found {}", describe(n)),
        )
        .help("write one value (quote it if it contains `: ` or starts with `[`, `{` or `-`)")),
    }
}

pub(super) fn number(src: &Source<'_>, n: &RNode, path: &str, rule: &str) -> Result<u32> {
    let t = text(src, n, path)?;
    t.trim().parse::<u32>().map_err(|_| {
        Error::at(
            src,
            ErrorKind::WrongType,
            n.span,
            Some(path.to_owned()),
            format!("`{path}` must be a whole number, found `{t}`"),
        )
        .help(rule.to_owned())
    })
}

/// [`number`] within `range`, else a `kind` error saying `{name} N is out of range`.
pub(super) fn number_in(
    src: &Source<'_>,
    n: &RNode,
    path: String,
    name: &str,
    range: std::ops::RangeInclusive<u32>,
    kind: ErrorKind,
    rule: &str,
) -> Result<u32> {
    let t = number(src, n, &path, rule)?;
    if range.contains(&t) {
        return Ok(t);
    }
    Err(Error::at(
        src,
        kind,
        n.span,
        Some(path),
        format!("{name} {t} is out of range"),
    )
    .help(rule))
}

pub(super) fn check_region(src: &Source<'_>, n: &RNode, path: &str) -> Result<String> {
    let r = text(src, n, path)?;
    let ok = !r.is_empty()
        && r.len() <= 40
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && r.contains('-')
        && !r.starts_with('-')
        && !r.ends_with('-');
    if ok {
        Ok(r)
    } else {
        Err(Error::at(
            src,
            ErrorKind::InvalidRegion,
            n.span,
            Some(path.to_owned()),
            format!("`{r}` is not a region"),
        )
        .help("use a Tencent Cloud region id such as `ap-guangzhou` or `ap-shanghai`"))
    }
}

pub(super) fn same_region(
    src: &Source<'_>,
    n: &RNode,
    path: &str,
    region: &str,
    origin: &str,
) -> Result<String> {
    let r = check_region(src, n, path)?;
    if r != region {
        return Err(Error::at(
            src,
            ErrorKind::RegionMismatch,
            n.span,
            Some(path.to_owned()),
            format!("region `{r}` differs from the stack's region `{region}`"),
        )
        .help(format!(
            "a stack lives in one region, the gateway's ({origin}); use `{region}` here"
        )));
    }
    Ok(r)
}
