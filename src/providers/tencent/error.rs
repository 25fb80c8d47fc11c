//! The provider's errors: [`Error`] for a failed cloud call (API 3.0 or COS) and
//! [`CredentialsError`] for credentials that could not be found.
//!
//! Both are public structs over private kind enums, so callers classify errors with predicates
//! (`is_auth_failure`, `is_not_found`, `is_retryable`, `is_platform_unavailable`, …) rather than
//! by matching variants. `Display` says what failed at this layer (service, action, Tencent code,
//! message, RequestId); the cause, if any, is `source()`. Nothing here ever holds a secret.
//!
//! Classification decisions (documented here because the deployer relies on them):
//! * **Auth failure** (exit 3): any API 3.0 `AuthFailure` / `AuthFailure.*` code, and COS
//!   `InvalidAccessKeyId`, `SignatureDoesNotMatch` (403) and `InvalidToken` / `ExpiredToken` (400).
//! * **Platform unavailable** (exit 4): on API Gateway `CreateService` / `CreateApi`, a code in the
//!   `UnsupportedOperation`, `ResourceUnavailable`, `ActionOffline` or `UnsupportedRegion` families
//!   (except `UnsupportedOperation.BasicServiceNoMoreApi`, a real per-service limit), and
//!   `ActionOffline` / `NoSuchProduct` on any API Gateway action. Plain `UnauthorizedOperation` is
//!   **not** counted: it is usually a missing CAM permission the user can grant, so it stays a
//!   cloud error (exit 1) whose help mentions both possibilities.
//! * **Not found**: `ResourceNotFound` / `ResourceNotFound.*`, `FailedOperation.ServiceNotExist`,
//!   and COS 404. Note this includes dependencies such as `ResourceNotFound.Role` on
//!   CreateFunction; wrappers like `Scf::get_function_opt` match the precise codes.
//! * **Retryable**: `RequestLimitExceeded*`, `LimitExceeded.RequestLimitExceeded`,
//!   `InternalError*`, `ServiceUnavailable*`, any code ending in `InOperation`, transport errors,
//!   HTTP 5xx and 429, COS `SlowDown`. `ResourceNotFound` and everything else are final.
//!   The transport resends retryable errors itself, except that CreateService, CreateApi and
//!   Invoke are not resent when the outcome is unknown ([`Error::is_outcome_unknown`]): the
//!   caller looks for the resource first.

use std::fmt;
use std::path::PathBuf;

/// Whether `code` is `family` or one of its dotted sub-codes (`ResourceNotFound.FunctionName`
/// is in the `ResourceNotFound` family).
pub(crate) fn code_in(code: &str, family: &str) -> bool {
    code == family
        || (code.len() > family.len()
            && code.starts_with(family)
            && code.as_bytes()[family.len()] == b'.')
}

/// A Tencent Cloud call failed.
pub struct Error(Box<Inner>);

struct Inner {
    /// `scf`, `apigateway`, `cam`, `cos`, or empty for set-up errors.
    service: &'static str,
    /// API action (`GetFunction`) or COS operation (`PutObject`).
    action: String,
    /// How many attempts were made before giving up (1 = no retry).
    attempts: u32,
    kind: Kind,
}

enum Kind {
    /// The API 3.0 envelope carried `Response.Error`.
    Api {
        code: String,
        message: String,
        request_id: String,
    },
    /// COS answered with an error status (and usually an XML `<Error>` body).
    Cos {
        resource: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    },
    /// The API 3.0 endpoint answered with a non-200 status.
    Status {
        status: u16,
        request_id: Option<String>,
    },
    /// The request did not complete (DNS, connect, TLS, timeout, reset).
    Transport(reqwest::Error),
    /// The response could not be read as the expected shape.
    Decode {
        request_id: Option<String>,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The client could not be set up (bad endpoint URL, TLS initialisation).
    Setup { message: String },
    /// A resource did not settle in time (a function still `Updating`).
    WaitTimeout {
        resource: String,
        status: String,
        waited: std::time::Duration,
    },
}

impl Error {
    pub(crate) fn api(
        service: &'static str,
        action: &str,
        code: String,
        message: String,
        request_id: String,
    ) -> Self {
        Self::new(
            service,
            action,
            Kind::Api {
                code,
                message,
                request_id,
            },
        )
    }

    pub(crate) fn cos(
        action: &str,
        resource: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self::new(
            "cos",
            action,
            Kind::Cos {
                resource,
                status,
                code,
                message,
                request_id,
            },
        )
    }

    pub(crate) fn status(
        service: &'static str,
        action: &str,
        status: u16,
        request_id: Option<String>,
    ) -> Self {
        Self::new(service, action, Kind::Status { status, request_id })
    }

    pub(crate) fn transport(service: &'static str, action: &str, source: reqwest::Error) -> Self {
        Self::new(service, action, Kind::Transport(source))
    }

    pub(crate) fn decode(
        service: &'static str,
        action: &str,
        request_id: Option<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::new(
            service,
            action,
            Kind::Decode {
                request_id,
                source: source.into(),
            },
        )
    }

    pub(crate) fn setup(message: impl Into<String>) -> Self {
        Self::new(
            "",
            "",
            Kind::Setup {
                message: message.into(),
            },
        )
    }

    pub(crate) fn wait_timeout(
        service: &'static str,
        action: &str,
        resource: &str,
        status: &str,
        waited: std::time::Duration,
    ) -> Self {
        Self::new(
            service,
            action,
            Kind::WaitTimeout {
                resource: resource.to_owned(),
                status: status.to_owned(),
                waited,
            },
        )
    }

    fn new(service: &'static str, action: &str, kind: Kind) -> Self {
        Error(Box::new(Inner {
            service,
            action: action.to_owned(),
            attempts: 1,
            kind,
        }))
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    /// The service: `scf`, `apigateway`, `cam` or `cos` (empty for set-up errors).
    pub fn service(&self) -> &str {
        self.0.service
    }

    /// The API action (`GetFunction`) or COS operation (`PutObject`).
    pub fn action(&self) -> &str {
        &self.0.action
    }

    /// How many attempts were made (1 when the error was not retried).
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// Tencent's error code (`ResourceNotFound.FunctionName`, `NoSuchKey`), when there is one.
    ///
    /// Not named `code()`: an inherent `code` would shadow `miette::Diagnostic::code` in the
    /// `#[diagnostic(transparent)]` wrappers that derive through this type.
    pub fn error_code(&self) -> Option<&str> {
        match &self.0.kind {
            Kind::Api { code, .. } => Some(code),
            Kind::Cos { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Tencent's error message, when there is one.
    pub fn message(&self) -> Option<&str> {
        match &self.0.kind {
            Kind::Api { message, .. } => Some(message),
            Kind::Cos { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The RequestId of the failed call (for support tickets), when the cloud sent one.
    pub fn request_id(&self) -> Option<&str> {
        match &self.0.kind {
            Kind::Api { request_id, .. } => Some(request_id),
            Kind::Cos { request_id, .. }
            | Kind::Status { request_id, .. }
            | Kind::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, for COS errors and non-200 API 3.0 answers.
    pub fn http_status(&self) -> Option<u16> {
        match &self.0.kind {
            Kind::Cos { status, .. } | Kind::Status { status, .. } => Some(*status),
            Kind::Transport(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Whether the code is `family` or one of its sub-codes (`code_is("ResourceNotFound")`).
    pub fn code_is(&self, family: &str) -> bool {
        self.error_code().is_some_and(|c| code_in(c, family))
    }

    /// The cloud rejected the credentials: `AuthFailure.*`, or COS `InvalidAccessKeyId`,
    /// `SignatureDoesNotMatch`, `InvalidToken`, `ExpiredToken`.
    pub fn is_auth_failure(&self) -> bool {
        match &self.0.kind {
            Kind::Api { code, .. } => code_in(code, "AuthFailure"),
            Kind::Cos { code, .. } => matches!(
                code.as_deref(),
                Some(
                    "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "InvalidToken"
                        | "ExpiredToken"
                )
            ),
            _ => false,
        }
    }

    /// The platform cannot host the stack: API Gateway can no longer be created for this account
    /// or region (see the module docs for the exact codes).
    pub fn is_platform_unavailable(&self) -> bool {
        let Kind::Api { code, .. } = &self.0.kind else {
            return false;
        };
        if self.0.service != "apigateway" {
            return false;
        }
        if code_in(code, "ActionOffline") || code_in(code, "NoSuchProduct") {
            return true;
        }
        let creating = matches!(self.0.action.as_str(), "CreateService" | "CreateApi");
        creating
            && code != "UnsupportedOperation.BasicServiceNoMoreApi"
            && (code_in(code, "UnsupportedOperation")
                || code_in(code, "ResourceUnavailable")
                || code_in(code, "UnsupportedRegion"))
    }

    /// The resource does not exist: `ResourceNotFound.*`, `FailedOperation.ServiceNotExist`,
    /// COS 404.
    pub fn is_not_found(&self) -> bool {
        match &self.0.kind {
            Kind::Api { code, .. } => {
                code_in(code, "ResourceNotFound") || code == "FailedOperation.ServiceNotExist"
            }
            Kind::Cos { status, .. } => *status == 404,
            _ => false,
        }
    }

    /// The resource already exists: `ResourceInUse.Function*`, COS `BucketAlreadyOwnedByYou`.
    /// A retried create that fails this way should adopt the existing resource.
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self.error_code(),
            Some(
                "ResourceInUse.Function" | "ResourceInUse.FunctionName" | "BucketAlreadyOwnedByYou"
            )
        )
    }

    /// The resource is not in a state that allows the operation yet (a function still
    /// `Creating`/`Updating`, API-FACTS §2.4): poll its status and try again.
    pub fn is_state_conflict(&self) -> bool {
        matches!(
            self.error_code(),
            Some(
                "FailedOperation.UpdateFunctionCode"
                    | "FailedOperation.FunctionNameStatusError"
                    | "FailedOperation.FunctionStatusError"
                    | "FailedOperation.UpdateFunctionConfiguration"
                    | "FailedOperation.DeleteFunction"
                    | "FailedOperation.FunctionVersionStatusNotActive"
                    | "FailedOperation.OperationConflict"
                    | "ResourceInUse"
            )
        )
    }

    /// Worth retrying after a backoff: throttling, internal errors, `*InOperation`, transport
    /// errors, HTTP 5xx/429, COS `SlowDown`.
    pub fn is_retryable(&self) -> bool {
        match &self.0.kind {
            Kind::Api { code, .. } => is_retryable_code(code),
            Kind::Cos { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || code
                        .as_deref()
                        .is_some_and(|c| c == "SlowDown" || is_retryable_code(c))
            }
            Kind::Status { status, .. } => *status >= 500 || *status == 429,
            Kind::Transport(e) => !e.is_builder() && !e.is_decode(),
            Kind::Decode { .. } | Kind::Setup { .. } | Kind::WaitTimeout { .. } => false,
        }
    }

    /// The request may or may not have been applied: it got no answer (transport) or an HTTP
    /// error status instead of the cloud's envelope. Before retrying a create, look for the
    /// resource.
    pub fn is_outcome_unknown(&self) -> bool {
        match &self.0.kind {
            Kind::Transport(_) | Kind::Status { .. } => true,
            Kind::Cos { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether a transport error happened on the way to a loopback address (a local cloud).
    fn reached_for_loopback(&self) -> bool {
        let Kind::Transport(e) = &self.0.kind else {
            return false;
        };
        e.url().is_some_and(super::endpoint::is_loopback)
    }

    /// The request never got an answer (network, DNS, TLS, timeout).
    pub fn is_transport(&self) -> bool {
        matches!(self.0.kind, Kind::Transport(_))
    }

    fn class(&self) -> &'static str {
        if self.is_auth_failure() {
            "auth_failure"
        } else if self.is_platform_unavailable() {
            "platform_unavailable"
        } else if self.is_not_found() {
            "not_found"
        } else if self.is_transport() {
            "transport"
        } else if self.is_retryable() {
            "unavailable"
        } else {
            match self.0.kind {
                Kind::Setup { .. } => "setup",
                Kind::Decode { .. } => "unexpected_response",
                Kind::WaitTimeout { .. } => "wait_timeout",
                _ => "refused",
            }
        }
    }
}

fn is_retryable_code(code: &str) -> bool {
    code_in(code, "RequestLimitExceeded")
        || code == "LimitExceeded.RequestLimitExceeded"
        || code_in(code, "InternalError")
        || code_in(code, "ServiceUnavailable")
        || code.ends_with("InOperation")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner {
            service,
            action,
            attempts,
            kind,
        } = &*self.0;
        match kind {
            Kind::Api {
                code,
                message,
                request_id,
            } => {
                write!(f, "{service} {action} failed: {code}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if !request_id.is_empty() {
                    write!(f, " (RequestId {request_id})")?;
                }
            }
            Kind::Cos {
                resource,
                status,
                code,
                message,
                request_id,
            } => {
                write!(f, "cos {action} {resource} failed: HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                if let Some(message) = message.as_deref().filter(|m| !m.is_empty()) {
                    write!(f, ": {message}")?;
                }
                if let Some(id) = request_id {
                    write!(f, " (RequestId {id})")?;
                }
            }
            Kind::Status { status, request_id } => {
                write!(
                    f,
                    "{service} {action} failed: the API endpoint answered HTTP {status}"
                )?;
                if let Some(id) = request_id {
                    write!(f, " (RequestId {id})")?;
                }
            }
            Kind::Transport(_) => {
                write!(f, "{service} {action} failed: the request did not complete")?
            }
            Kind::Decode { request_id, .. } => {
                write!(
                    f,
                    "{service} {action} returned a response that cannot be read"
                )?;
                if let Some(id) = request_id {
                    write!(f, " (RequestId {id})")?;
                }
            }
            Kind::Setup { message } => f.write_str(message)?,
            Kind::WaitTimeout {
                resource,
                status,
                waited,
            } => write!(
                f,
                "{service} {resource} is still {status} after {}s",
                waited.as_secs()
            )?,
        }
        if *attempts > 1 {
            write!(f, " [after {attempts} attempts]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Display already carries every field; none of them is secret.
        f.debug_tuple("tencent::Error")
            .field(&format_args!("{self}"))
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            Kind::Transport(e) => Some(e),
            Kind::Decode { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl miette::Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("chatstack::tencent::{}", self.class())))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help: String = match self.class() {
            "auth_failure" => {
                if self.code_is("AuthFailure.SignatureExpire") {
                    "the request timestamp is more than 5 minutes off: check this machine's clock"
                        .into()
                } else if self.code_is("AuthFailure.UnauthorizedOperation") {
                    "the credentials work but CAM denied this action: grant the user a policy \
                     covering SCF, API Gateway and COS"
                        .into()
                } else {
                    "check TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY (and \
                     TENCENTCLOUD_SESSION_TOKEN for temporary keys), or the tccli profile in \
                     ~/.tccli/default.credential; keys are managed at \
                     https://console.cloud.tencent.com/cam/capi"
                        .into()
                }
            }
            "platform_unavailable" => "Tencent stopped selling API Gateway on 2024-07-01 and is \
                 retiring it; this account or region can no longer create API Gateway services \
                 or APIs. Use an account that still has API Gateway, or `chatstack dev` to run \
                 the stack on the local cloud"
                .into(),
            "not_found" => "the resource does not exist (it may have been deleted outside \
                 chatstack); run the command again to recreate it"
                .into(),
            "transport" if self.reached_for_loopback() => {
                "could not reach the local cloud at `--endpoint`: is `chatstack local` (or \
                 `chatstack dev`) running there? `chatstack local` prints its URL on its first \
                 line"
                    .into()
            }
            "transport" => {
                "could not reach Tencent Cloud: check the network, proxy and `--endpoint`".into()
            }
            "unavailable" => "Tencent Cloud is busy or throttling; wait a moment and run the \
                 command again (it resumes where it stopped)"
                .into(),
            "unexpected_response" => {
                "the cloud answered something chatstack does not understand; please report this \
                 with the RequestId"
                    .into()
            }
            "setup" => return None,
            "wait_timeout" => "the cloud is slow to apply the change; run the command again \
                 later (it resumes where it stopped)"
                .into(),
            _ if self.code_is("UnauthorizedOperation") => {
                "CAM denied the operation: grant the user the needed policy. If the account never \
                 had API Gateway, note that Tencent no longer sells it to new accounts"
                    .into()
            }
            _ if self.code_is("LimitExceeded") => {
                "an account quota is exhausted: delete unused resources or raise the quota".into()
            }
            _ => match self.request_id() {
                Some(id) => format!("quote RequestId {id} when asking Tencent Cloud support"),
                None => return None,
            },
        };
        Some(Box::new(help))
    }
}

/// Credentials could not be found, or were only partly given.
pub struct CredentialsError(CredentialsErrorKind);

pub(crate) enum CredentialsErrorKind {
    /// Nothing in the environment, the tccli profile or the stack file.
    Missing { tccli_path: Option<PathBuf> },
    /// One environment variable of a pair is set without the other.
    PartialEnv {
        present: &'static str,
        missing: &'static str,
    },
    /// A credentials file exists but cannot be used.
    BadFile { path: PathBuf, problem: String },
}

impl CredentialsError {
    pub(crate) fn new(kind: CredentialsErrorKind) -> Self {
        CredentialsError(kind)
    }

    /// Whether no credentials were found anywhere (as opposed to half-set or unreadable ones).
    pub fn is_missing(&self) -> bool {
        matches!(self.0, CredentialsErrorKind::Missing { .. })
    }

    /// The environment variable that is missing, for a half-set pair.
    pub fn missing_variable(&self) -> Option<&str> {
        match &self.0 {
            CredentialsErrorKind::PartialEnv { missing, .. } => Some(missing),
            _ => None,
        }
    }
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CredentialsErrorKind::Missing { .. } => {
                f.write_str("no Tencent Cloud credentials found")
            }
            CredentialsErrorKind::PartialEnv { present, missing } => {
                write!(f, "{present} is set but {missing} is not")
            }
            CredentialsErrorKind::BadFile { path, problem } => {
                write!(
                    f,
                    "cannot use the credentials in {}: {problem}",
                    path.display()
                )
            }
        }
    }
}

impl fmt::Debug for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CredentialsError")
            .field(&format_args!("{self}"))
            .finish()
    }
}

impl std::error::Error for CredentialsError {}

impl miette::Diagnostic for CredentialsError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self.0 {
            CredentialsErrorKind::Missing { .. } => "chatstack::credentials::missing",
            CredentialsErrorKind::PartialEnv { .. } => "chatstack::credentials::partial",
            CredentialsErrorKind::BadFile { .. } => "chatstack::credentials::bad_file",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = match &self.0 {
            CredentialsErrorKind::Missing { tccli_path } => {
                let profile = tccli_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "~/.tccli/default.credential".to_owned());
                format!(
                    "give credentials in one of three ways:\n  \
                     1. export TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (plus \
                     TENCENTCLOUD_SESSION_TOKEN for temporary keys, TENCENTCLOUD_REGION optional)\n  \
                     2. run `tccli configure` to write {profile}\n  \
                     3. set SecretId/SecretKey in the stack file's global `Conf` (not \
                     recommended: the file may be committed)\n\
                     No account? `chatstack dev` runs the stack on a local cloud, and \
                     `--endpoint http://127.0.0.1:9000` points any command at one started \
                     with `chatstack local` (which needs no credentials)"
                )
            }
            CredentialsErrorKind::PartialEnv { missing, .. } => {
                format!("export {missing} too, or unset both to use the tccli profile")
            }
            CredentialsErrorKind::BadFile { .. } => {
                "fix the file (`tccli configure` rewrites it) or set TENCENTCLOUD_SECRET_ID / \
                 TENCENTCLOUD_SECRET_KEY"
                    .to_owned()
            }
        };
        Some(Box::new(help))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(service: &'static str, action: &str, code: &str) -> Error {
        Error::api(
            service,
            action,
            code.to_owned(),
            "msg".to_owned(),
            "req-1".to_owned(),
        )
    }

    #[test]
    fn code_families_match_on_dotted_prefixes_only() {
        assert!(code_in("ResourceNotFound", "ResourceNotFound"));
        assert!(code_in("ResourceNotFound.FunctionName", "ResourceNotFound"));
        assert!(!code_in("ResourceNotFoundX", "ResourceNotFound"));
        assert!(!code_in("Resource", "ResourceNotFound"));
    }

    #[test]
    fn display_names_service_action_code_and_request_id() {
        let e = api("scf", "GetFunction", "ResourceNotFound.FunctionName");
        assert_eq!(
            e.to_string(),
            "scf GetFunction failed: ResourceNotFound.FunctionName: msg (RequestId req-1)"
        );
        assert_eq!(e.error_code(), Some("ResourceNotFound.FunctionName"));
        assert_eq!(e.request_id(), Some("req-1"));
        assert!(!e.to_string().contains("after"));
        let e = e.with_attempts(3);
        assert!(e.to_string().ends_with("[after 3 attempts]"));
    }

    #[test]
    fn classification_table() {
        // (service, action, code, auth, platform, not_found, retryable)
        let table = [
            (
                "scf",
                "GetFunction",
                "AuthFailure.SignatureFailure",
                true,
                false,
                false,
                false,
            ),
            (
                "scf",
                "GetFunction",
                "AuthFailure",
                true,
                false,
                false,
                false,
            ),
            (
                "scf",
                "GetFunction",
                "ResourceNotFound.Function",
                false,
                false,
                true,
                false,
            ),
            (
                "scf",
                "GetFunction",
                "RequestLimitExceeded",
                false,
                false,
                false,
                true,
            ),
            (
                "scf",
                "GetFunction",
                "RequestLimitExceeded.UinLimitExceeded",
                false,
                false,
                false,
                true,
            ),
            (
                "scf",
                "CreateFunction",
                "InternalError.System",
                false,
                false,
                false,
                true,
            ),
            (
                "apigateway",
                "DeleteService",
                "FailedOperation.ServiceInOperation",
                false,
                false,
                false,
                true,
            ),
            (
                "apigateway",
                "ModifyApi",
                "FailedOperation.ApiInOperation",
                false,
                false,
                false,
                true,
            ),
            (
                "apigateway",
                "CreateService",
                "UnsupportedOperation.ServiceRetired",
                false,
                true,
                false,
                false,
            ),
            (
                "apigateway",
                "CreateApi",
                "UnsupportedOperation",
                false,
                true,
                false,
                false,
            ),
            (
                "apigateway",
                "CreateApi",
                "ResourceUnavailable.Retired",
                false,
                true,
                false,
                false,
            ),
            (
                "apigateway",
                "CreateApi",
                "UnsupportedOperation.BasicServiceNoMoreApi",
                false,
                false,
                false,
                false,
            ),
            (
                "apigateway",
                "DescribeServicesStatus",
                "ActionOffline",
                false,
                true,
                false,
                false,
            ),
            (
                "apigateway",
                "CreateService",
                "UnauthorizedOperation",
                false,
                false,
                false,
                false,
            ),
            (
                "apigateway",
                "DeleteService",
                "UnsupportedOperation.UnsupportedDeleteService",
                false,
                false,
                false,
                false,
            ),
            (
                "scf",
                "CreateFunction",
                "UnsupportedOperation",
                false,
                false,
                false,
                false,
            ),
            (
                "apigateway",
                "DescribeService",
                "ResourceNotFound.InvalidService",
                false,
                false,
                true,
                false,
            ),
            (
                "apigateway",
                "DescribeService",
                "FailedOperation.ServiceNotExist",
                false,
                false,
                true,
                false,
            ),
            (
                "scf",
                "UpdateFunctionCode",
                "FailedOperation.UpdateFunctionCode",
                false,
                false,
                false,
                false,
            ),
        ];
        for (service, action, code, auth, platform, not_found, retryable) in table {
            let e = api(service, action, code);
            assert_eq!(e.is_auth_failure(), auth, "{service} {action} {code}: auth");
            assert_eq!(
                e.is_platform_unavailable(),
                platform,
                "{service} {action} {code}: platform"
            );
            assert_eq!(
                e.is_not_found(),
                not_found,
                "{service} {action} {code}: not found"
            );
            assert_eq!(
                e.is_retryable(),
                retryable,
                "{service} {action} {code}: retryable"
            );
        }
    }

    #[test]
    fn cos_errors_classify_by_status_and_code() {
        let cos = |status, code: &str| {
            Error::cos(
                "GetObject",
                "b-1/k".into(),
                status,
                Some(code.into()),
                None,
                Some("rid".into()),
            )
        };
        assert!(cos(403, "SignatureDoesNotMatch").is_auth_failure());
        assert!(cos(403, "InvalidAccessKeyId").is_auth_failure());
        assert!(!cos(403, "AccessDenied").is_auth_failure());
        assert!(cos(404, "NoSuchKey").is_not_found());
        assert!(cos(503, "SlowDown").is_retryable());
        assert!(cos(500, "InternalError").is_retryable());
        assert!(!cos(409, "BucketNotEmpty").is_retryable());
        assert!(cos(409, "BucketAlreadyOwnedByYou").is_already_exists());
        assert_eq!(
            cos(404, "NoSuchKey").to_string(),
            "cos GetObject b-1/k failed: HTTP 404 NoSuchKey (RequestId rid)"
        );
    }

    #[test]
    fn diagnostics_give_help() {
        use miette::Diagnostic;
        let e = api("scf", "GetFunction", "AuthFailure.SecretIdNotFound");
        let help = e.help().unwrap().to_string();
        assert!(help.contains("TENCENTCLOUD_SECRET_ID"), "{help}");
        let e = api(
            "apigateway",
            "CreateService",
            "UnsupportedOperation.ServiceRetired",
        );
        assert!(e.help().unwrap().to_string().contains("API Gateway"));
        assert_eq!(
            e.code().unwrap().to_string(),
            "chatstack::tencent::platform_unavailable"
        );

        let missing = CredentialsError::new(CredentialsErrorKind::Missing { tccli_path: None });
        let help = missing.help().unwrap().to_string();
        for way in ["TENCENTCLOUD_SECRET_ID", "tccli configure", "Conf"] {
            assert!(help.contains(way), "{help}");
        }
    }
}
