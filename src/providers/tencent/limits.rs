//! SCF's limits, in one table: what the stack-file checks (`config`) and the local cloud's
//! CreateFunction/UpdateFunctionConfiguration both enforce. Each item names its source in
//! `tencent/API-FACTS.md` (§ numbers); `[INF]` marks what that file does not state.
//!
//! Only facts and pure predicates live here: no wording of errors (each side words its own —
//! a diagnostic with a span, or Tencent's error envelope) and no I/O.

use std::ops::RangeInclusive;

/// One SCF runtime name and whether new functions may still be created on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runtime {
    /// The exact `Runtime` value, e.g. `Python3.9` (case-sensitive).
    pub name: &'static str,
    /// Retired: functions created on it long ago still exist and still report it (GetFunction,
    /// ListFunctions), but SCF no longer offers it for new functions.
    pub retired: bool,
}

const fn current(name: &'static str) -> Runtime {
    Runtime {
        name,
        retired: false,
    }
}

const fn retired(name: &'static str) -> Runtime {
    Runtime {
        name,
        retired: true,
    }
}

/// Every runtime SCF knows (§2.1 lists `Python3.9`, `Python3.10`, `Nodejs16.13`, `Nodejs18.15`,
/// `Go1`, `Java8`, `Php8.0`, `CustomRuntime` as examples and `Python2.7` as the model's
/// default; the rest are the versions SCF has offered [INF]). `Nodejs6.10`, `Nodejs8.9` and
/// `Php5.6` are retired [INF]. `Python3.8` and `Nodejs20.19`, which the local cloud used to
/// accept, have no source and are not listed: an emulator that accepts what the cloud rejects
/// lets a stack pass locally and fail on deploy.
pub const RUNTIMES: &[Runtime] = &[
    current("Python2.7"),
    current("Python3.6"),
    current("Python3.7"),
    current("Python3.9"),
    current("Python3.10"),
    current("Python3.11"),
    current("Python3.12"),
    retired("Nodejs6.10"),
    retired("Nodejs8.9"),
    current("Nodejs10.15"),
    current("Nodejs12.16"),
    current("Nodejs14.18"),
    current("Nodejs16.13"),
    current("Nodejs18.15"),
    current("Go1"),
    current("Java8"),
    current("Java11"),
    retired("Php5.6"),
    current("Php7.2"),
    current("Php7.4"),
    current("Php8.0"),
    current("CustomRuntime"),
];

/// `Runtime` when CreateFunction is sent without one (§2.1, the model's default).
pub const DEFAULT_RUNTIME: &str = "Python2.7";

/// The runtime named exactly `name`, if SCF knows it.
pub fn runtime(name: &str) -> Option<Runtime> {
    RUNTIMES.iter().copied().find(|r| r.name == name)
}

/// Names of the runtimes a new function may use (not [`Runtime::retired`]): what a stack file
/// may name, since `deploy` creates its functions.
pub fn creatable_runtimes() -> impl Iterator<Item = &'static str> + Clone {
    RUNTIMES.iter().filter(|r| !r.retired).map(|r| r.name)
}

/// `FunctionName` length in characters (§2.1).
pub const FUNCTION_NAME_LEN: RangeInclusive<usize> = 2..=60;

/// Why `name` is not a valid `FunctionName` (§2.1), or `None` when it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionNameProblem {
    /// Outside [`FUNCTION_NAME_LEN`]; the length in characters.
    Length(usize),
    /// The first character is not an ASCII letter.
    FirstNotLetter,
    /// A character other than ASCII letters, digits, `-` and `_`.
    BadChar(char),
    /// Ends with `-` or `_`.
    BadEnd,
}

/// The first rule of §2.1 that `name` breaks: 2–60 characters of ASCII letters, digits, `-`
/// and `_`, starting with a letter, not ending with `-` or `_`.
pub fn function_name_problem(name: &str) -> Option<FunctionNameProblem> {
    let len = name.chars().count();
    if !FUNCTION_NAME_LEN.contains(&len) {
        Some(FunctionNameProblem::Length(len))
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some(FunctionNameProblem::FirstNotLetter)
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        Some(FunctionNameProblem::BadChar(c))
    } else if name.ends_with(['-', '_']) {
        Some(FunctionNameProblem::BadEnd)
    } else {
        None
    }
}

/// `Timeout`, seconds (§2.1).
pub const TIMEOUT_SECS: RangeInclusive<u32> = 1..=900;
/// `Timeout` when none is sent (§2.1).
pub const DEFAULT_TIMEOUT_SECS: u32 = 3;
/// `InitTimeout`, seconds [INF: §2.1 names the field, not its range].
pub const INIT_TIMEOUT_SECS: RangeInclusive<u32> = 1..=300;
/// `InitTimeout` when none is sent [INF].
pub const DEFAULT_INIT_TIMEOUT_SECS: u32 = 65;

/// The smallest `MemorySize`, MB (§2.1).
pub const MEMORY_MIN_MB: u32 = 64;
/// `MemorySize` above [`MEMORY_MIN_MB`] goes in steps of this many MB (§2.1).
pub const MEMORY_STEP_MB: u32 = 128;
/// The largest `MemorySize`, MB (§2.1).
pub const MEMORY_MAX_MB: u32 = 3072;
/// `MemorySize` when none is sent, MB (§2.1).
pub const DEFAULT_MEMORY_MB: u32 = 128;

/// Whether SCF offers `mb` as a `MemorySize`: 64, or 128–3072 in steps of 128 (§2.1).
pub fn is_memory_size(mb: i64) -> bool {
    mb == i64::from(MEMORY_MIN_MB)
        || ((i64::from(MEMORY_STEP_MB)..=i64::from(MEMORY_MAX_MB)).contains(&mb)
            && mb % i64::from(MEMORY_STEP_MB) == 0)
}

/// The longest `Description`, in characters (§2.1).
pub const DESCRIPTION_MAX_CHARS: usize = 1000;

/// The namespace a function lands in when none is named (§2.1).
pub const DEFAULT_NAMESPACE: &str = "default";
/// A namespace name's length [INF: not in API-FACTS]; letters, digits, `-` and `_`.
pub const NAMESPACE_LEN: RangeInclusive<usize> = 1..=30;

/// A function's whole environment: the sum of key and value bytes (§2.7, "4KB").
pub const ENV_LIMIT_BYTES: usize = 4096;

/// Environment-variable prefixes SCF reserves for itself (§2.7); matched case-sensitively, as
/// environment names are.
pub const RESERVED_ENV_PREFIXES: &[&str] = &["SCF_", "QCLOUD_", "TENCENTCLOUD_"];

/// The reserved prefix `key` starts with, if any (§2.7).
pub fn reserved_env_prefix(key: &str) -> Option<&'static str> {
    RESERVED_ENV_PREFIXES
        .iter()
        .copied()
        .find(|p| key.starts_with(p))
}

/// The console's rule for environment keys (§2.7): an ASCII letter, then letters, digits, `_`.
pub fn is_env_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An inline `Code.ZipFile`, bytes (§2.7, "50MB"); the request-body cap makes the practical
/// inline limit smaller (see `package::MAX_INLINE_ZIP`): larger zips go through COS, where
/// this limit is assumed to hold as well (only a live account could say otherwise).
pub const ZIP_MAX_BYTES: usize = 50 * 1024 * 1024;
/// Unzipped code, layers included, bytes (§2.7, "500MB").
pub const UNZIPPED_MAX_BYTES: u64 = 500 * 1024 * 1024;

/// An invocation's event (`ClientContext`), bytes, when the caller waits for the result
/// (§2.5, §2.7, "6MB sync").
pub const EVENT_SYNC_MAX_BYTES: usize = 6 * 1024 * 1024;
/// An asynchronous (`Event`) invocation's event, bytes (§2.5, §2.7, "128KB async").
pub const EVENT_ASYNC_MAX_BYTES: usize = 128 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// `name => expected` rows for [`function_name_problem`].
    macro_rules! name_rules {
        ($($name:ident: $input:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(function_name_problem($input), $want, "{:?}", $input);
            }
        )*};
    }

    name_rules! {
        name_two_chars: "ab" => None;
        name_sixty_chars: &format!("a{}", "b".repeat(59)) => None;
        name_with_dash_and_underscore: "Chat-Reg_1" => None;
        name_one_char: "a" => Some(FunctionNameProblem::Length(1));
        name_empty: "" => Some(FunctionNameProblem::Length(0));
        name_sixty_one_chars: &"a".repeat(61) => Some(FunctionNameProblem::Length(61));
        name_digit_first: "1abc" => Some(FunctionNameProblem::FirstNotLetter);
        name_dash_first: "-abc" => Some(FunctionNameProblem::FirstNotLetter);
        name_non_ascii_letter_first: "éabc" => Some(FunctionNameProblem::FirstNotLetter);
        name_dot: "chat.reg" => Some(FunctionNameProblem::BadChar('.'));
        name_space: "chat reg" => Some(FunctionNameProblem::BadChar(' '));
        name_non_ascii_inside: "chaté" => Some(FunctionNameProblem::BadChar('é'));
        name_trailing_dash: "chat-" => Some(FunctionNameProblem::BadEnd);
        name_trailing_underscore: "chat_" => Some(FunctionNameProblem::BadEnd);
        // Characters, not bytes: 30 two-byte letters are 60 bytes but fail on the letter rule.
        name_counts_characters: &"é".repeat(30) => Some(FunctionNameProblem::FirstNotLetter);
    }

    #[test]
    fn memory_sizes_are_64_or_steps_of_128_up_to_3072() {
        for (mb, ok) in [
            (64, true),
            (128, true),
            (256, true),
            (3072, true),
            (0, false),
            (-128, false),
            (63, false),
            (100, false),
            (192, false),
            (3200, false),
            (i64::MAX, false),
        ] {
            assert_eq!(is_memory_size(mb), ok, "{mb}");
        }
        assert!(is_memory_size(i64::from(DEFAULT_MEMORY_MB)));
    }

    #[test]
    fn env_keys_and_reserved_prefixes() {
        for (key, valid, reserved) in [
            ("TOKEN", true, None),
            ("a1_b", true, None),
            ("SCF_X", true, Some("SCF_")),
            ("QCLOUD_REGION", true, Some("QCLOUD_")),
            ("TENCENTCLOUD_SECRETID", true, Some("TENCENTCLOUD_")),
            // Case-sensitive, as environment names are.
            ("scf_x", true, None),
            ("_X", false, None),
            ("1X", false, None),
            ("A-B", false, None),
            ("", false, None),
        ] {
            assert_eq!(is_env_key(key), valid, "{key}");
            assert_eq!(reserved_env_prefix(key), reserved, "{key}");
        }
    }

    #[test]
    fn runtime_names_are_unique_and_the_default_is_creatable() {
        let mut names: Vec<_> = RUNTIMES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RUNTIMES.len());
        assert!(creatable_runtimes().any(|n| n == DEFAULT_RUNTIME));
        assert!(TIMEOUT_SECS.contains(&DEFAULT_TIMEOUT_SECS));
        assert!(INIT_TIMEOUT_SECS.contains(&DEFAULT_INIT_TIMEOUT_SECS));
    }

    /// The stack file is deliberately stricter than the cloud's table: `deploy` creates the
    /// functions it names, and a retired runtime exists only for functions created long ago, so
    /// naming one can only fail at CreateFunction. The emulator, which also answers GetFunction
    /// for such old functions, knows them all.
    #[test]
    fn retired_runtimes_are_known_but_not_creatable() {
        for name in ["Nodejs6.10", "Nodejs8.9", "Php5.6"] {
            assert_eq!(runtime(name).map(|r| r.retired), Some(true), "{name}");
            assert!(!creatable_runtimes().any(|n| n == name), "{name}");
        }
        for name in ["Python3.9", "Nodejs18.15", "Go1", "CustomRuntime"] {
            assert!(creatable_runtimes().any(|n| n == name), "{name}");
        }
        for unsourced in ["Python3.8", "Nodejs20.19", "python3.9"] {
            assert_eq!(runtime(unsourced), None, "{unsourced}");
        }
    }
}
