//! The top-level error: every layer's typed error, and the exit code each maps to (DESIGN §5).

use std::path::PathBuf;

use crate::{config, engine, package, providers::tencent};

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
            | Error::ConfirmationRequired { .. }
            | Error::Usage { .. } => 2,
            Error::Credentials(_) => 3,
            Error::Tencent(e) if e.is_auth_failure() => 3,
            Error::Tencent(e) if e.is_platform_unavailable() => 4,
            Error::Tencent(_) | Error::Runtime(_) | Error::Io { .. } => 1,
            Error::Engine(e) => e.exit_code(),
            Error::Declined => 1,
        }
    }
}
