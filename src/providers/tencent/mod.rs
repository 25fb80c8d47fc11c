//! Tencent Cloud: credentials, the TC3 and COS signers, the API 3.0 transport and typed clients
//! for SCF, API Gateway, COS and CAM.
//!
//! SKELETON: the provider helper fills in the transport and clients.

pub mod cos_sign;
pub mod tc3;
#[cfg(test)]
pub(crate) mod vectors;

/// Credentials could not be found or used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("no credentials")]
pub struct CredentialsError;

/// A Tencent Cloud call failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("call failed")]
pub struct Error;

impl Error {
    /// The cloud rejected the credentials (`AuthFailure.*`).
    pub fn is_auth_failure(&self) -> bool {
        false
    }

    /// The platform cannot host the stack (API Gateway retired or unavailable for the account).
    pub fn is_platform_unavailable(&self) -> bool {
        false
    }
}
