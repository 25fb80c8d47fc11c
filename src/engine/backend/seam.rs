//! The seam between the engine and its backends: the [`Backend`] trait, its typed plan
//! ([`EntryPlan`]) and the neutral description of an observed entry point ([`ObservedEntry`]).
//! Backends implement it, the rest of the engine calls it; the list of backends
//! ([`super::of`]) lives in the parent module, which imports both.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::config::{Outputs, Stack};
use crate::engine::context::ApplyCx;
use crate::engine::error::Error;
use crate::engine::graph::{Graph, StepId};
use crate::engine::journal::Journal;
use crate::engine::plan::Change;
use crate::providers::tencent::TencentCloud;

/// What clients and functions need of a deployed entry point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryOutputs {
    /// The URL clients connect to, once they can (`ws://` or `wss://`).
    pub client_url: Option<String>,
    /// The URL functions POST push-back messages to.
    pub pushback_url: Option<String>,
}

/// A backend's own observed details (what its planning and removal read back): any type of
/// the backend's, found again with [`ObservedEntry::detail`].
pub trait Detail: Any + fmt::Debug + Send + Sync {}

impl<T: Any + fmt::Debug + Send + Sync> Detail for T {}

/// The WebSocket entry point as observed, in terms every backend shares.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedEntry {
    /// The backend's name (`apigw`), as `info --json` prints it.
    pub backend: &'static str,
    /// Its ids, as the journal keeps them (API Gateway: `serviceId`, `apiId`).
    pub ids: BTreeMap<String, String>,
    /// Whether it carries our stack/stage tags (else it was found by name, and is not ours
    /// to remove).
    pub tagged: bool,
    /// Its outputs, computed by the backend.
    pub outputs: EntryOutputs,
    /// The backend's own details.
    #[serde(skip)]
    pub detail: Arc<dyn Detail>,
}

impl ObservedEntry {
    /// The backend's own details, if they are a `T` (they are when the backend that observed
    /// them asks).
    pub fn detail<T: Detail>(&self) -> Option<&T> {
        let any: &dyn Any = &*self.detail;
        any.downcast_ref()
    }
}

/// `info`'s view of the entry point.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryInfo {
    /// The backend's name.
    pub backend: &'static str,
    /// The client URL, once clients can connect.
    pub client_url: Option<String>,
    /// The push-back URL.
    pub pushback_url: Option<String>,
    /// Its resources' ids and state, backend-specific keys, in a fixed order.
    pub resources: Fields,
    /// The same for the table: `(kind, id, status)` rows.
    #[serde(skip)]
    pub rows: Vec<(String, String, String)>,
    /// Whether `info --json` also carries `resources` as the top-level `gateway` object that
    /// DESIGN §5 names (API Gateway only: CI scripts read it).
    #[serde(skip)]
    pub legacy_gateway: bool,
}

/// A JSON object whose keys keep their order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(pub Vec<(&'static str, serde_json::Value)>);

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One way of hosting the WebSocket entry point.
pub trait Backend: Send + Sync {
    /// Its name, as `info --json` and the journal know it.
    fn name(&self) -> &'static str;

    /// Finds its resources for `stack`. `hint` holds the ids the journal remembers; they are
    /// read at once instead of searched for, and checked before they are believed.
    fn observe<'a>(
        &'a self,
        stack: &'a Stack,
        cloud: &'a TencentCloud,
        hint: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Option<ObservedEntry>, Error>>;

    /// Diffs what `stack` wants against what exists.
    fn plan(
        &self,
        stack: &Stack,
        observed: Option<&ObservedEntry>,
    ) -> Result<Box<dyn EntryPlan>, Error>;

    /// The plan lines of removing `observed` (which carries our tags), in removal order.
    fn remove_changes(&self, observed: &ObservedEntry) -> Vec<Change>;

    /// Adds the steps that remove `observed`; functions and the bucket go after the step
    /// returned.
    fn add_remove(
        &self,
        graph: &mut Graph<Error>,
        cloud: &TencentCloud,
        journal: Arc<Journal>,
        cancel: tokio_util::sync::CancellationToken,
        observed: &ObservedEntry,
    ) -> Option<StepId>;

    /// What `remove` says about an entry point found by name that is not ours.
    fn left_alone(&self, stack: &Stack, observed: &ObservedEntry) -> String;

    /// Its part of `info`.
    fn info(&self, stack: &Stack, observed: Option<&ObservedEntry>) -> EntryInfo;
}

/// A backend's typed steps for one deploy.
pub trait EntryPlan: fmt::Debug + Send + Sync {
    /// Its plan lines (after the bucket's and the functions').
    fn changes(&self) -> Vec<Change>;

    /// The outputs already known before applying (`${restApi.…}` values).
    fn outputs(&self) -> Outputs;

    /// Adds the entry steps. Those that need the functions to exist wait for `functions`.
    /// Returns the step after which the outputs are known, if there is one.
    fn add_entry(
        &self,
        graph: &mut Graph<Error>,
        cx: &Arc<ApplyCx>,
        functions: &[StepId],
    ) -> Option<StepId>;

    /// Adds the finishing steps (a release, say), after `after`: the entry step and the
    /// wiring of the outputs into the functions.
    fn add_finish(&self, graph: &mut Graph<Error>, cx: &Arc<ApplyCx>, after: &[StepId]);

    /// The ids after applying, for a read-back without a search.
    fn ids(&self) -> BTreeMap<String, String>;
}
