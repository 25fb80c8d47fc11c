//! The plan: what deploy would change, as a list of per-resource changes.
//!
//! Backend-neutral: a backend describes each resource it manages, desired and observed, as a
//! kind, a name and a flat map of comparable properties (canonical strings: code hash,
//! handler, an environment digest, …). The diff is generic: absent → create, present and
//! unwanted → delete, different properties → update naming the fields, else no change. Values
//! are never shown, only field names, so secrets in environments cannot leak through a plan.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A resource as a backend describes it for diffing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceState {
    /// Kind, e.g. `bucket`, `function`, `gateway-service`, `websocket-api`, `release`.
    pub kind: &'static str,
    /// Name or id the user recognises (function name, bucket id, environment, …).
    pub name: String,
    /// Comparable properties; compared key by key.
    pub props: BTreeMap<&'static str, String>,
}

impl ResourceState {
    /// A resource with no properties yet.
    pub fn new(kind: &'static str, name: impl Into<String>) -> Self {
        ResourceState {
            kind,
            name: name.into(),
            props: BTreeMap::new(),
        }
    }

    /// Adds a property.
    #[must_use]
    pub fn prop(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.props.insert(key, value.into());
        self
    }

    /// `kind name`, as shown to users.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }
}

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// It does not exist and will be created.
    Create,
    /// It exists and the listed fields will change.
    Update,
    /// It exists in a broken state (e.g. `CreateFailed`) and will be deleted and created again.
    Replace,
    /// It exists and will be deleted.
    Delete,
    /// Nothing to do.
    NoChange,
    /// Removal only: it is ours but stays, because something else still uses it (the reason is
    /// in [`Change::fields`]).
    Keep,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::NoChange => "no change",
            Action::Keep => "keep",
        })
    }
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `kind name`.
    pub resource: String,
    /// The action.
    pub action: Action,
    /// Fields that differ (for updates); for [`Action::Keep`], why it stays.
    pub fields: Vec<String>,
    /// For a code change: the files of the package that changed since the last deploy from
    /// this machine (empty when it is not known, as on a fresh CI runner).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// For a code change whose dependencies differ from the deployed ones: how, as pin
    /// changes (`+six==1.16.0`, `-idna==3.4`, `bcrypt 4.1.0 → 4.2.1`) when this machine
    /// recorded the deployed pins, else `dependencies changed` (a fresh CI runner).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

/// Diffs desired against observed. Resources are matched by kind and name; the result lists
/// desired resources in their order, then deletions.
pub fn diff(desired: &[ResourceState], observed: &[ResourceState]) -> Vec<Change> {
    let find = |r: &ResourceState| {
        observed
            .iter()
            .find(|o| o.kind == r.kind && o.name == r.name)
    };
    let mut changes: Vec<Change> = desired
        .iter()
        .map(|want| match find(want) {
            None => Change {
                resource: want.label(),
                action: Action::Create,
                fields: Vec::new(),
                files: Vec::new(),
                dependencies: Vec::new(),
            },
            Some(have) => {
                let fields = changed_fields(want, have);
                Change {
                    resource: want.label(),
                    action: if fields.is_empty() {
                        Action::NoChange
                    } else {
                        Action::Update
                    },
                    fields,
                    files: Vec::new(),
                    dependencies: Vec::new(),
                }
            }
        })
        .collect();
    changes.extend(
        observed
            .iter()
            .filter(|o| !desired.iter().any(|d| d.kind == o.kind && d.name == o.name))
            .map(|o| Change {
                resource: o.label(),
                action: Action::Delete,
                fields: Vec::new(),
                files: Vec::new(),
                dependencies: Vec::new(),
            }),
    );
    changes
}

/// The properties of `want` that `have` does not share, in key order.
pub fn changed_fields(want: &ResourceState, have: &ResourceState) -> Vec<String> {
    want.props
        .iter()
        .filter(|(k, v)| have.props.get(*k) != Some(*v))
        .map(|(k, _)| (*k).to_owned())
        .collect()
}

/// Whether a plan changes anything.
pub fn has_changes(changes: &[Change]) -> bool {
    changes
        .iter()
        .any(|c| !matches!(c.action, Action::NoChange | Action::Keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, code: &str, env: &str) -> ResourceState {
        ResourceState::new("function", name)
            .prop("code", code)
            .prop("environment", env)
    }

    #[test]
    fn diff_names_creates_updates_deletes_and_unchanged() {
        let desired = [f("a", "1", "x"), f("b", "2", "y"), f("c", "3", "z")];
        let observed = [f("a", "1", "x"), f("b", "2", "OLD"), f("gone", "9", "q")];
        let changes = diff(&desired, &observed);
        let summary: Vec<(String, Action, Vec<String>)> = changes
            .into_iter()
            .map(|c| (c.resource, c.action, c.fields))
            .collect();
        assert_eq!(
            summary,
            [
                ("function a".to_owned(), Action::NoChange, vec![]),
                (
                    "function b".to_owned(),
                    Action::Update,
                    vec!["environment".to_owned()]
                ),
                ("function c".to_owned(), Action::Create, vec![]),
                ("function gone".to_owned(), Action::Delete, vec![]),
            ]
        );
    }

    #[test]
    fn identical_states_plan_no_change() {
        let s = [f("a", "1", "x")];
        assert!(!has_changes(&diff(&s, &s)));
    }
}
