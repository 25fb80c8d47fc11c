//! The observed model of a deployment: what exists in the cloud for one stack and stage (see
//! the [module docs](super)). The steps import it from here rather than from the engine's root
//! module, which re-exports it; it depends only on the backend seam's [`ObservedEntry`].

use serde::Serialize;

use super::backend::seam::ObservedEntry;
use super::roles::ObservedRole;
use crate::config::FunctionRole;

/// What exists in the cloud for one stack and stage.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// The bucket (its full name is known even when it does not exist).
    pub bucket: ObservedBucket,
    /// The WebSocket entry point, if any part exists.
    pub entry: Option<ObservedEntry>,
    /// Each function of the stack file, existing or not, in file order.
    pub functions: Vec<ObservedFunction>,
    /// Each execution role the functions name, existing or not, sorted by name.
    pub roles: Vec<ObservedRole>,
}

impl Observed {
    /// Whether nothing of the stack exists. A role of ours counts as long as removal would
    /// delete it ([`super::roles::deletes`]): one another stage still uses (known only when
    /// [`super::remove::observe`] looked) does not make this stage deployed.
    pub fn is_empty(&self) -> bool {
        !self.bucket.exists
            && self.entry.is_none()
            && self.functions.iter().all(|f| f.status.is_none())
            && !self.roles.iter().any(super::roles::deletes)
    }
}

/// The COS bucket.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedBucket {
    /// Full bucket id, `name-appid`.
    pub name: String,
    /// Region (as the bucket reports it when it exists).
    pub region: String,
    /// Whether it exists.
    pub exists: bool,
}

/// One function of the stack file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedFunction {
    /// `FunctionName`.
    pub name: String,
    /// Its role for the WebSocket endpoint, if bound.
    pub role: Option<FunctionRole>,
    /// SCF `Status`, `None` when the function does not exist.
    pub status: Option<String>,
    /// Our code hash tag, if present.
    pub code_sha256: Option<String>,
    /// The `chatstack:deps-sha256` tag: the digest of the dependencies it was deployed with,
    /// if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deps_sha256: Option<String>,
    /// What GetFunction said (configuration, environment — values may be secrets: never print
    /// them —, tags, status reasons), when it exists.
    #[serde(skip)]
    pub detail: Option<crate::providers::tencent::scf::FunctionInfo>,
}

impl Serialize for FunctionRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
