//! Errors of planning and applying.

use crate::engine::journal::JournalError;
use crate::providers::tencent;

/// Why a plan, deploy or remove failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A cloud call failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Tencent(#[from] tencent::Error),

    /// API Gateway refused to create the service or API: the platform is retired for the account.
    #[error("API Gateway cannot host this stack for this account: {source}")]
    #[diagnostic(
        code(chatstack::gateway_unavailable),
        help(
            "Tencent stopped selling API Gateway in 2024 and is switching it off in batches from \
             2026-10-30; this account can no longer create API Gateway services or APIs. Nothing \
             was left half-made: what was created before the refusal is recorded and `chatstack \
             remove` deletes it. Alternatives: deploy to an account that still has API Gateway, \
             or run the stack on the local cloud (`chatstack local` / `chatstack dev`); a \
             backend on SCF Web functions behind a Function URL is planned with the same stack \
             file and handlers."
        )
    )]
    GatewayUnavailable {
        /// The refusal.
        source: tencent::Error,
    },

    /// The bucket name ends in another account's APPID.
    #[error(
        "bucket {bucket} belongs to another account: its name ends in APPID {theirs}, and these credentials are for APPID {yours}"
    )]
    #[diagnostic(
        code(chatstack::foreign_bucket),
        help(
            "bucket names are global; drop the `-{theirs}` suffix from the bucket name in the stack file (chatstack appends your APPID), or pick another name"
        )
    )]
    BucketOfAnotherAccount {
        /// Full bucket name.
        bucket: String,
        /// The APPID in the name.
        theirs: u64,
        /// The caller's APPID.
        yours: u64,
        /// The refusal.
        source: tencent::Error,
    },

    /// A function ended in a `*Failed` state.
    #[error("function {name} is {status}: {reason}")]
    #[diagnostic(
        code(chatstack::function_failed),
        help(
            "fix the cause above and deploy again; a CreateFailed function is deleted and created again on the next deploy"
        )
    )]
    FunctionFailed {
        /// Function name.
        name: String,
        /// `CreateFailed`, `UpdateFailed`, …
        status: String,
        /// `StatusReasons`, or the status description.
        reason: String,
    },

    /// The desired change cannot be made in place.
    #[error(
        "function {name}: its runtime is {have} in the cloud and {want} in the stack file, and SCF cannot change a function's runtime"
    )]
    #[diagnostic(
        code(chatstack::runtime_change),
        help(
            "keep the runtime, or give the function a new name (the old one is then left alone; delete it with `chatstack remove` before renaming if you want it gone)"
        )
    )]
    RuntimeChange {
        /// Function name.
        name: String,
        /// Runtime in the cloud.
        have: String,
        /// Runtime in the stack file.
        want: String,
    },

    /// A resource that chatstack would take over belongs to something else.
    #[error("{resource} exists but belongs to stage `{other_stage}` of stack `{other_stack}`")]
    #[diagnostic(
        code(chatstack::foreign_resource),
        help(
            "resource names are global within a region: give this stage's resources their own names, e.g. with `${{stage}}` in `name:` (`name: chat-reg-${{stage}}`)"
        )
    )]
    Foreign {
        /// `function ChatReg`, …
        resource: String,
        /// Its stack tag.
        other_stack: String,
        /// Its stage tag.
        other_stage: String,
    },

    /// The journal or lock.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] JournalError),

    /// The overall deadline passed.
    #[error("gave up after {seconds} s (--timeout) with {} still running: {}", unfinished.len(), unfinished.join(", "))]
    #[diagnostic(
        code(chatstack::timeout),
        help(
            "what was done is recorded; run the command again to continue, with a larger --timeout if the cloud is slow"
        )
    )]
    Timeout {
        /// The deadline in seconds.
        seconds: u64,
        /// Steps still running.
        unfinished: Vec<String>,
    },

    /// Ctrl-C.
    #[error("interrupted; what was done is recorded, run the command again to resume")]
    Interrupted,

    /// Several steps failed; the first is the source.
    #[error("{} steps failed: {}", names.len(), names.join(", "))]
    #[diagnostic(code(chatstack::steps_failed))]
    Several {
        /// Failed step names.
        names: Vec<String>,
        /// The first error.
        #[source]
        first: Box<Error>,
    },
}

impl Error {
    /// Wraps a cloud error from a create call of the gateway: a retired platform becomes
    /// [`Error::GatewayUnavailable`].
    pub fn from_gateway_create(e: tencent::Error) -> Self {
        if e.is_platform_unavailable() {
            Error::GatewayUnavailable { source: e }
        } else {
            Error::Tencent(e)
        }
    }

    /// The phase timings of a finished graph run, or the error that ended it: a Ctrl-C seen by
    /// any step wins, one failure is returned as is, several as [`Error::Several`].
    pub fn from_report(
        report: super::graph::Report<Error>,
        timeout: std::time::Duration,
    ) -> Result<Vec<(&'static str, f64)>, Error> {
        use super::graph::Outcome;
        let timings = report
            .phases
            .iter()
            .map(|(p, d)| (*p, d.as_secs_f64()))
            .collect();
        match report.outcome {
            Outcome::Done => Ok(timings),
            Outcome::Cancelled => Err(Error::Interrupted),
            Outcome::TimedOut { unfinished } => Err(Error::Timeout {
                seconds: timeout.as_secs(),
                unfinished,
            }),
            Outcome::Failed(mut errors) => {
                if errors.iter().any(|(_, e)| matches!(e, Error::Interrupted)) {
                    return Err(Error::Interrupted);
                }
                if errors.len() == 1 {
                    return Err(errors.remove(0).1);
                }
                let names = errors.iter().map(|(n, _)| n.clone()).collect();
                Err(Error::Several {
                    names,
                    first: Box::new(errors.remove(0).1),
                })
            }
        }
    }

    /// Exit code (DESIGN §5).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Tencent(e) if e.is_auth_failure() => 3,
            Error::Tencent(e) if e.is_platform_unavailable() => 4,
            Error::GatewayUnavailable { .. } => 4,
            Error::RuntimeChange { .. }
            | Error::Foreign { .. }
            | Error::BucketOfAnotherAccount { .. } => 2,
            Error::Interrupted => 130,
            Error::Several { first, .. } => first.exit_code(),
            _ => 1,
        }
    }
}
