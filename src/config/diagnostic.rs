//! The stack-file error: what failed, where (file, line, column, YAML path), what to do.
//!
//! Rendered by miette with the source snippet; the top-level [`crate::Error`] wraps it with
//! `#[diagnostic(transparent)]`.
//!
//! Also the help texts' helpers: [`suggest`] ("did you mean …?", also used by `logs` and
//! `package`) and [`list_or_none`].

use std::fmt;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use super::raw::{self, Span, SyntaxError};

/// What kind of mistake a stack file has; stable, for tests and for callers that branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The file is not UTF-8 text (UTF-16, Latin-1, binary).
    Encoding,
    /// Not valid YAML (bad indentation, tabs, unclosed brackets, unknown anchors, …).
    Syntax,
    /// The same key twice in one mapping.
    DuplicateKey,
    /// A value of the wrong shape or type (`timeout: fast`, a list where a name is expected).
    WrongType,
    /// A key that the component does not know.
    UnknownField,
    /// A required key is absent.
    MissingField,
    /// `component:` names no component chatstack knows.
    UnknownComponent,
    /// No instance of a required component (`cos`, `apigateway`).
    MissingInstance,
    /// Two instances of a component that must be unique.
    DuplicateInstance,
    /// The gateway has no `protocol: WEBSOCKET` endpoint.
    NoWebSocketEndpoint,
    /// The gateway has more than one WebSocket endpoint.
    MultipleWebSocketEndpoints,
    /// An endpoint chatstack cannot deploy (not WebSocket).
    UnsupportedEndpoint,
    /// A WebSocket endpoint whose method is not `GET` (the cloud's `InvalidWSMethod`).
    InvalidWsMethod,
    /// The endpoint binds a function name that no `scf` instance defines.
    UnknownFunction,
    /// Two `scf` instances with the same `name`.
    DuplicateFunction,
    /// `${X.…}` where no instance `X` exists.
    UnknownInstance,
    /// `${X.path}` where `X` has nothing at `path`.
    UnknownReference,
    /// `${env:NAME}` with `NAME` unset.
    UnsetEnv,
    /// A malformed `${…}` (unclosed, empty, embedding a mapping in a string).
    BadInterpolation,
    /// References that lead back to themselves.
    ReferenceCycle,
    /// A gateway output (`${restApi.internalDomain}`, …) where only values known now may go.
    DeferredNotAllowed,
    /// An SCF function name breaking SCF's rules.
    InvalidFunctionName,
    /// A handler that is not `module.function`.
    InvalidHandler,
    /// A runtime SCF does not offer.
    UnknownRuntime,
    /// `timeout` outside 1–900.
    InvalidTimeout,
    /// `memorySize` not 64 or 128–3072 in steps of 128.
    InvalidMemorySize,
    /// An environment variable name breaking SCF's rules.
    InvalidEnvKey,
    /// An environment variable name with a reserved prefix (`SCF_`, `QCLOUD_`, `TENCENTCLOUD_`).
    ReservedEnvKey,
    /// A function's variables over SCF's 4 KB.
    EnvTooLarge,
    /// A COS bucket name breaking COS's rules.
    InvalidBucketName,
    /// A malformed region.
    InvalidRegion,
    /// A resource in a region other than the gateway's.
    RegionMismatch,
    /// `codeUri` is not an existing directory.
    CodeUriNotFound,
    /// The `--stage` name is not usable.
    InvalidStage,
    /// Any other value out of its allowed set or range.
    InvalidValue,
}

impl ErrorKind {
    /// A short stable code, shown as `chatstack::config::<code>`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Encoding => "encoding",
            ErrorKind::Syntax => "syntax",
            ErrorKind::DuplicateKey => "duplicate_key",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::UnknownField => "unknown_field",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::UnknownComponent => "unknown_component",
            ErrorKind::MissingInstance => "missing_instance",
            ErrorKind::DuplicateInstance => "duplicate_instance",
            ErrorKind::NoWebSocketEndpoint => "no_websocket_endpoint",
            ErrorKind::MultipleWebSocketEndpoints => "multiple_websocket_endpoints",
            ErrorKind::UnsupportedEndpoint => "unsupported_endpoint",
            ErrorKind::InvalidWsMethod => "invalid_ws_method",
            ErrorKind::UnknownFunction => "unknown_function",
            ErrorKind::DuplicateFunction => "duplicate_function",
            ErrorKind::UnknownInstance => "unknown_instance",
            ErrorKind::UnknownReference => "unknown_reference",
            ErrorKind::UnsetEnv => "unset_env",
            ErrorKind::BadInterpolation => "bad_interpolation",
            ErrorKind::ReferenceCycle => "reference_cycle",
            ErrorKind::DeferredNotAllowed => "deferred_not_allowed",
            ErrorKind::InvalidFunctionName => "invalid_function_name",
            ErrorKind::InvalidHandler => "invalid_handler",
            ErrorKind::UnknownRuntime => "unknown_runtime",
            ErrorKind::InvalidTimeout => "invalid_timeout",
            ErrorKind::InvalidMemorySize => "invalid_memory_size",
            ErrorKind::InvalidEnvKey => "invalid_env_key",
            ErrorKind::ReservedEnvKey => "reserved_env_key",
            ErrorKind::EnvTooLarge => "env_too_large",
            ErrorKind::InvalidBucketName => "invalid_bucket_name",
            ErrorKind::InvalidRegion => "invalid_region",
            ErrorKind::RegionMismatch => "region_mismatch",
            ErrorKind::CodeUriNotFound => "code_uri_not_found",
            ErrorKind::InvalidStage => "invalid_stage",
            ErrorKind::InvalidValue => "invalid_value",
        }
    }
}

/// Why a stack file was rejected (boxed: errors travel far and are rare).
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    message: String,
    file: String,
    yaml_path: Option<String>,
    help: Option<String>,
    /// 1-based line and column.
    line_col: Option<(usize, usize)>,
    /// Byte span in the source, for the snippet.
    span: Option<Span>,
    source_code: Option<NamedSource<String>>,
    io: Option<std::io::Error>,
}

impl Error {
    /// The kind of mistake.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// 1-based line of the offending text, when the error is about a place in the file.
    pub fn line(&self) -> Option<usize> {
        self.0.line_col.map(|(l, _)| l)
    }

    /// 1-based column (in characters) of the offending text.
    pub fn column(&self) -> Option<usize> {
        self.0.line_col.map(|(_, c)| c)
    }

    /// The YAML path of the offending value, e.g. `ChatReg.inputs.environment.variables.url`.
    pub fn yaml_path(&self) -> Option<&str> {
        self.0.yaml_path.as_deref()
    }

    /// The stack file's name as shown.
    pub fn file(&self) -> &str {
        &self.0.file
    }

    /// What went wrong, without location.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// What to do about it.
    pub fn help_text(&self) -> Option<&str> {
        self.0.help.as_deref()
    }

    pub(crate) fn io(file: &str, err: std::io::Error) -> Self {
        Error(Box::new(Inner {
            kind: ErrorKind::Io,
            message: format!("cannot read the stack file: {err}"),
            file: file.to_owned(),
            yaml_path: None,
            help: Some("check the path given with `-c` and the file's permissions".to_owned()),
            line_col: None,
            span: None,
            source_code: None,
            io: Some(err),
        }))
    }

    /// The file's bytes are not UTF-8: `line`/`col` (1-based) is where the first bad byte is,
    /// `what` says what the bytes look like instead.
    pub(crate) fn encoding(file: &str, line: usize, col: usize, what: &str) -> Self {
        Error(Box::new(Inner {
            kind: ErrorKind::Encoding,
            message: format!("the stack file is not UTF-8 text: {what}"),
            file: file.to_owned(),
            yaml_path: None,
            help: Some(
                "save the stack file as UTF-8 (YAML's encoding; editors offer it under \"Save with encoding\")"
                    .to_owned(),
            ),
            line_col: Some((line, col)),
            span: None,
            source_code: None,
            io: None,
        }))
    }

    /// An error that is not about a place in the file (e.g. the stage name).
    pub(crate) fn general(file: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            file: file.to_owned(),
            yaml_path: None,
            help: None,
            line_col: None,
            span: None,
            source_code: None,
            io: None,
        }))
    }

    /// An error about `span` in `source`.
    pub(crate) fn at(
        src: &Source<'_>,
        kind: ErrorKind,
        span: Span,
        yaml_path: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let span = clamp(span, src.text);
        let (text, secrets) = redact_secrets(src.text);
        let mut message = message.into();
        for s in &secrets {
            message = message.replace(s.as_str(), MASK);
        }
        Error(Box::new(Inner {
            kind,
            message,
            file: src.name.to_owned(),
            yaml_path,
            help: None,
            line_col: Some(line_col(src.text, span.start)),
            span: Some(span),
            source_code: Some(NamedSource::new(src.name, text).with_language("yaml")),
            io: None,
        }))
    }

    /// An error at a parser-reported line and column (the parser does not always give bytes).
    pub(crate) fn at_line_col(
        src: &Source<'_>,
        kind: ErrorKind,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        let start = byte_of(src.text, line, column);
        let mut e = Error::at(src, kind, Span { start, len: 0 }, None, message);
        e.0.line_col = Some((line, column));
        e
    }

    /// Adds what to do.
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        let mut help = help.into();
        if let Some(src) = &self.0.source_code {
            for s in redact_secrets(src.inner()).1 {
                help = help.replace(s.as_str(), MASK);
            }
        }
        self.0.help = Some(help);
        self
    }
}

/// What a secret value is replaced with in messages.
const MASK: &str = "** redacted **";

/// The stack file's text with the value of every secret-looking key (`secret_key: …`,
/// `DB_PASSWORD: …`, see [`looks_secret`](super::model::looks_secret)) masked byte for byte
/// with `*` (so spans and columns still line up), `${…}` references kept (they name a
/// variable, not its value); and the masked values themselves, to scrub from messages.
/// Block scalars (`secret_key: |`) are masked to the end of their indented lines.
pub(crate) fn redact_secrets(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut secrets = Vec::new();
    // Indentation of a secret block scalar being masked.
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        if let Some(key_indent) = block {
            if body.trim().is_empty() || indent > key_indent {
                secrets.push(body.trim().to_owned());
                out.push_str(&mask(line, indent, body.len()));
                continue;
            }
            block = None;
        }
        let Some((value_start, value_end)) = secret_value(body) else {
            out.push_str(line);
            continue;
        };
        let value = &body[value_start..value_end];
        if matches!(value.chars().next(), Some('|' | '>')) {
            block = Some(indent);
            out.push_str(line);
            continue;
        }
        // The literal parts of the value: a `${…}` reference is not itself secret.
        let mut literal = value.trim_matches(['"', '\'']);
        while let Some(open) = literal.find("${") {
            secrets.push(literal[..open].to_owned());
            let close = literal[open..]
                .find('}')
                .map_or(literal.len(), |c| open + c + 1);
            literal = &literal[close..];
        }
        secrets.push(literal.to_owned());
        out.push_str(&mask(line, value_start, value_end));
    }
    // Longest first, so a value containing another is scrubbed whole.
    secrets.retain(|s| s.len() >= 4);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    (out, secrets)
}

/// The byte range of the value on a `key: value` line whose key looks secret (comment excluded).
fn secret_value(line: &str) -> Option<(usize, usize)> {
    let start = line.len() - line.trim_start_matches([' ', '-', '\t']).len();
    let rest = &line[start..];
    let colon = rest
        .find(": ")
        .or_else(|| rest.ends_with(':').then(|| rest.len() - 1))?;
    let key = rest[..colon].trim().trim_matches(['"', '\'']);
    if key.is_empty() || key.contains(['{', '[', ' ']) || !super::model::looks_secret(key) {
        return None;
    }
    let value_start = start + colon + 1;
    let value = &line[value_start..];
    let value_end = value_start + value.find(" #").unwrap_or(value.len());
    let lead = line[value_start..value_end].len() - line[value_start..value_end].trim_start().len();
    let value_start = value_start + lead;
    let value_end = value_start + line[value_start..value_end].trim_end().len();
    (value_end > value_start).then_some((value_start, value_end))
}

/// `line` with bytes `from..to` replaced by `*`, except `${…}` references.
fn mask(line: &str, from: usize, to: usize) -> String {
    let mut out = String::with_capacity(line.len());
    out.push_str(&line[..from]);
    let value = &line[from..to];
    let mut rest = value;
    while !rest.is_empty() {
        if let Some(reference) = rest
            .strip_prefix("${")
            .and_then(|r| r.find('}').map(|e| e + 3))
        {
            out.push_str(&rest[..reference]);
            rest = &rest[reference..];
        } else {
            let c = rest.chars().next().expect("not empty");
            out.extend(std::iter::repeat_n('*', c.len_utf8()));
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push_str(&line[to..]);
    out
}

/// The error for YAML the parser refused.
pub(crate) fn syntax(src: &Source<'_>, e: &SyntaxError) -> Error {
    let kind = if e.duplicate_key {
        ErrorKind::DuplicateKey
    } else {
        ErrorKind::Syntax
    };
    let tab = e.message.contains("tab");
    let mut err = match (e.span, e.line_col) {
        // The parser reports a tab one column after it; point at the tab itself.
        (_, Some((line, column))) if tab => {
            let column = src
                .text
                .lines()
                .nth(line.saturating_sub(1))
                .and_then(|l| l.chars().position(|c| c == '\t'))
                .map_or(column, |i| i + 1);
            Error::at_line_col(src, kind, line, column, e.message.clone())
        }
        (_, Some((line, column))) => Error::at_line_col(src, kind, line, column, e.message.clone()),
        (Some(span), None) => Error::at(src, kind, span, None, e.message.clone()),
        (None, None) => Error::general(src.name, kind, e.message.clone()),
    };
    if e.duplicate_key {
        if let Some(line) = err.line() {
            err.0.yaml_path = raw::block_path(src.text, line);
        }
        err.help("each key may appear once per mapping: remove or rename one of them")
    } else if tab {
        err.help("YAML indents with spaces only: replace the tabs with spaces")
    } else {
        err.help(
            "fix the YAML here: indent with spaces, close quotes and brackets, and quote values \
             that contain `: ` or start with `{`, `[`, `*`, `&` or `@`",
        )
    }
}

/// The stack file's text and the name errors show for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) name: &'a str,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// `file:line:column` of a byte offset, for warnings.
    pub(crate) fn location(&self, offset: usize) -> String {
        let (l, c) = line_col(self.text, offset.min(self.text.len()));
        format!("{}:{l}:{c}", self.name)
    }
}

fn clamp(span: Span, text: &str) -> Span {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + span.len).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Span {
        start,
        len: end - start,
    }
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Byte offset of a 1-based line and character column (clamped to the text).
fn byte_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("file", &self.0.file)
            .field("line_col", &self.0.line_col)
            .field("yaml_path", &self.0.yaml_path)
            .field("message", &self.0.message)
            .field("help", &self.0.help)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.file)?;
        if let Some((l, c)) = self.0.line_col {
            write!(f, ":{l}:{c}")?;
        }
        if let Some(p) = &self.0.yaml_path {
            write!(f, ": {p}")?;
        }
        write!(f, ": {}", self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!(
            "chatstack::config::{}",
            self.0.kind.code()
        )))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.source_code.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.0.span?;
        self.0.source_code.as_ref()?;
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(None, (span.start, span.len)),
        )))
    }
}

/// `a, b, c`, or `none`.
pub(super) fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The closest candidate, when close enough to be a likely typo.
pub fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let w = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&w, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            *d <= (w.chars().count().max(c.chars().count()) / 3).max(2)
                && *d < w.chars().count().max(1) + 1
        })
        .min_by_key(|(d, _)| *d)
        .filter(|(d, c)| *d > 0 || *c != word)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}
