//! The top-level error: every layer's typed error, and the exit code each maps to (DESIGN §5).

use std::path::PathBuf;

use crate::{config, engine, package, providers::tencent, template};

/// Anything that ends a command unsuccessfully.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The stack file is unreadable or invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] config::Error),

    /// A function's code could not be packaged.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Package(#[from] package::Error),

    /// No credentials, or unusable ones.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Credentials(#[from] tencent::CredentialsError),

    /// A Tencent Cloud call failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Tencent(#[from] tencent::Error),

    /// Planning, deploying or removing failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Engine(#[from] engine::error::Error),

    /// The user declined the confirmation prompt.
    #[error("cancelled: nothing was changed")]
    Declined,

    /// A destructive command could not ask for confirmation (no terminal) and had no `--yes`.
    #[error(
        "`{command}` would delete or replace resources and there is no terminal to confirm on: nothing was changed"
    )]
    #[diagnostic(
        code(chatstack::confirmation_required),
        help("pass `--yes` to {command} without asking (as in CI)")
    )]
    ConfirmationRequired {
        /// The command that refused.
        command: &'static str,
    },

    /// A command-line choice that is refused (e.g. `local --listen` off loopback without
    /// `--allow-remote`); nothing was started or changed.
    #[error("{message}")]
    #[diagnostic(code(chatstack::usage), help("{help}"))]
    Usage {
        /// What is refused and why.
        message: String,
        /// What to do.
        help: String,
    },

    /// No `-c` and no default stack file in the directory.
    #[error("no stack file found: looked for chatstack.yml and serverless.yml in {}", dir.display())]
    #[diagnostic(
        code(chatstack::no_stack_file),
        help("pass the stack file with `-c FILE`, or run `chatstack init` to write one")
    )]
    StackFileNotFound {
        /// The directory searched.
        dir: PathBuf,
    },

    /// `init` wrote nothing.
    #[error(transparent)]
    #[diagnostic(
        code(chatstack::init),
        help("choose an empty or new directory: `chatstack init mychat`")
    )]
    Init(#[from] template::InitError),

    /// `dev --example NAME` names no example.
    #[error("there is no example `{name}`")]
    #[diagnostic(code(chatstack::unknown_example), help("the examples are: {known}"))]
    UnknownExample {
        /// What was asked for.
        name: String,
        /// The examples, comma-separated.
        known: String,
    },

    /// `logs`/`invoke FUNCTION` names no function of the stack, nor one the cloud has.
    #[error("no function `{name}` in this stack{}", suggestion.as_ref().map(|s| format!(": did you mean `{s}`?")).unwrap_or_default())]
    #[diagnostic(code(chatstack::unknown_function), help("the stack's functions are: {}", known.join(", ")))]
    UnknownFunction {
        /// What was asked for.
        name: String,
        /// The closest name, when it is a likely typo.
        suggestion: Option<String>,
        /// The stack's FunctionNames.
        known: Vec<String>,
    },

    /// `invoke`: the function ran and failed (exception, timeout, crash, memory).
    #[error("function `{function}` failed: {message}")]
    #[diagnostic(
        code(chatstack::function_failed),
        help(
            "RequestId {request_id}; `chatstack invoke {function} --log` prints its output with the error, `chatstack logs {function}` its recent invocations"
        )
    )]
    FunctionFailed {
        /// FunctionName.
        function: String,
        /// The function's error message.
        message: String,
        /// The invocation's RequestId.
        request_id: String,
    },

    /// A function's runtime is one the local cloud cannot run.
    #[error("function `{function}` uses {runtime}, and the local cloud runs Python functions only")]
    #[diagnostic(
        code(chatstack::local_runtime),
        help(
            "use a Python runtime (e.g. `runtime: Python3.9`) to run it locally; `chatstack deploy` to Tencent Cloud runs any SCF runtime"
        )
    )]
    LocalRuntime {
        /// FunctionName.
        function: String,
        /// Its runtime.
        runtime: String,
    },

    /// No Python to run the functions with, or its packages could not be installed.
    #[error("cannot prepare Python for the functions: {0}")]
    #[diagnostic(
        code(chatstack::python),
        help(
            "the local cloud runs functions with Python 3 and the COS SDK: install Python 3 with venv and pip (Debian/Ubuntu: `apt install python3 python3-venv`), or point CHATSTACK_PYTHON at an interpreter that has `cos-python-sdk-v5` and `requests`"
        )
    )]
    PythonUnavailable(String),

    /// Watching the project's files failed.
    #[error("cannot watch the project's files for changes")]
    #[diagnostic(
        code(chatstack::watch),
        help("on Linux, raise fs.inotify.max_user_watches if the tree is large")
    )]
    Watch(#[source] notify::Error),

    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),

    /// Reading or writing a local file failed.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code: 1 cloud refused or failed, 2 bad usage or stack file, 3
    /// credentials, 4 the platform cannot host the stack, 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::Package(_)
            | Error::StackFileNotFound { .. }
            | Error::Init(_)
            | Error::UnknownExample { .. }
            | Error::UnknownFunction { .. }
            | Error::LocalRuntime { .. }
            | Error::ConfirmationRequired { .. }
            | Error::Usage { .. } => 2,
            Error::PythonUnavailable(_) | Error::Watch(_) => 1,
            Error::Credentials(_) => 3,
            Error::Tencent(e) if e.is_auth_failure() => 3,
            Error::Tencent(e) if e.is_platform_unavailable() => 4,
            Error::Tencent(_) | Error::Runtime(_) | Error::Io { .. } => 1,
            Error::Engine(e) => e.exit_code(),
            Error::Declined | Error::FunctionFailed { .. } => 1,
        }
    }
}
