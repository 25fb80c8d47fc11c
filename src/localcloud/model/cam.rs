//! CAM records: roles and custom policies, as the control plane (`api3::cam`) writes them and
//! the data plane reads them — the runtime asks whether a function's role may be assumed by
//! SCF ([`role_for_scf`]), COS asks whether a role's policies allow a request ([`allows`]).
//! Tables: [`ROLES`] keyed by role name, [`POLICIES`] keyed by the zero-padded policy id.
//!
//! Policy evaluation is CAM's syntax (`version` 2.0, `statement` [{`effect`, `action`,
//! `resource`}], strings or lists, `*` wildcards), with an explicit deny winning; `condition`
//! blocks are not evaluated (a statement with one never matches, so nothing is allowed by it).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::function::KeyValue;
use crate::localcloud::store::{Store, StoreError};

/// The roles table.
pub const ROLES: &str = "cam_roles";
/// The custom policies table.
pub const POLICIES: &str = "cam_policies";
/// The service principal of SCF in a trust policy.
pub const SCF_SERVICE: &str = "scf.qcloud.com";

/// A stored role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// RoleId, a string of digits.
    pub role_id: String,
    /// RoleName.
    pub name: String,
    /// The trust policy, as sent.
    pub policy_document: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<KeyValue>,
    /// Creation, Unix seconds.
    pub created: i64,
    /// Last change, Unix seconds.
    pub modified: i64,
    /// Attached policies, in the order attached.
    pub attached: Vec<Attachment>,
}

/// One policy attached to a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// PolicyId.
    pub policy_id: u64,
    /// When, Unix seconds.
    pub added: i64,
}

/// A stored custom policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// PolicyId.
    pub policy_id: u64,
    /// PolicyName.
    pub name: String,
    /// The policy document, as sent.
    pub document: String,
    /// Description.
    pub description: String,
    /// Creation, Unix seconds.
    pub created: i64,
}

/// The key of policy `id` (zero-padded so keys sort by id).
pub fn policy_key(id: u64) -> String {
    format!("{id:020}")
}

/// A string or a list of strings, as CAM documents write `action`, `resource`, `service`.
fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &Value) -> impl Iterator<Item = &Value> {
    match doc.get("statement") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>().into_iter(),
        Some(one @ Value::Object(_)) => vec![one].into_iter(),
        _ => Vec::new().into_iter(),
    }
}

/// Whether `doc` is a policy document CAM would take: a JSON object with a `statement`.
pub fn is_valid_document(doc: &str) -> bool {
    serde_json::from_str::<Value>(doc)
        .ok()
        .is_some_and(|v| v.is_object() && v.get("statement").is_some())
}

/// Whether trust policy `doc` lets `service` assume the role (`name/sts:AssumeRole`, allow).
pub fn trusts(doc: &str, service: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(doc) else {
        return false;
    };
    statements(&doc).any(|s| {
        s.get("effect").and_then(Value::as_str) == Some("allow")
            && strings(s.get("action"))
                .iter()
                .any(|a| glob(a, "name/sts:AssumeRole"))
            && strings(s.get("principal").and_then(|p| p.get("service"))).contains(&service)
    })
}

/// `pattern` (with `*` matching any run of characters) against `text`; case-sensitive, as CAM.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What a set of policy documents says about `action` on `resource`.
pub fn evaluate<'a>(docs: impl IntoIterator<Item = &'a str>, action: &str, resource: &str) -> bool {
    let mut allowed = false;
    for doc in docs {
        let Ok(doc) = serde_json::from_str::<Value>(doc) else {
            continue;
        };
        for s in statements(&doc) {
            if s.get("condition").is_some() {
                continue;
            }
            let hits = strings(s.get("action")).iter().any(|a| glob(a, action))
                && strings(s.get("resource")).iter().any(|r| glob(r, resource));
            if !hits {
                continue;
            }
            match s.get("effect").and_then(Value::as_str) {
                Some("deny") => return false,
                Some("allow") => allowed = true,
                _ => {}
            }
        }
    }
    allowed
}

/// Role `name`, if it exists.
pub fn role(store: &Store, name: &str) -> Result<Option<RoleRecord>, StoreError> {
    store.get(ROLES, name)
}

/// Role `name` when it exists and its trust policy lets SCF assume it: what gives a function
/// credentials.
pub fn role_for_scf(store: &Store, name: &str) -> Result<Option<RoleRecord>, StoreError> {
    if name.is_empty() {
        return Ok(None);
    }
    Ok(role(store, name)?.filter(|r| trusts(&r.policy_document, SCF_SERVICE)))
}

/// Whether role `name`'s attached policies allow `action` on `resource` (a missing role allows
/// nothing).
pub fn allows(store: &Store, name: &str, action: &str, resource: &str) -> Result<bool, StoreError> {
    let Some(role) = role(store, name)? else {
        return Ok(false);
    };
    let mut docs = Vec::new();
    for a in &role.attached {
        if let Some(p) = store.get::<PolicyRecord>(POLICIES, &policy_key(a.policy_id))? {
            docs.push(p.document);
        }
    }
    Ok(evaluate(docs.iter().map(String::as_str), action, resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUST: &str = r#"{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["scf.qcloud.com"]}}]}"#;

    #[test]
    fn a_trust_policy_names_the_service_that_may_assume_the_role() {
        assert!(trusts(TRUST, SCF_SERVICE));
        assert!(!trusts(TRUST, "cos.qcloud.com"));
        assert!(trusts(
            r#"{"statement":{"action":["name/sts:AssumeRole"],"effect":"allow","principal":{"service":"scf.qcloud.com"}}}"#,
            SCF_SERVICE
        ));
        assert!(!trusts(&TRUST.replace("allow", "deny"), SCF_SERVICE));
        assert!(!trusts("not json", SCF_SERVICE));
    }

    #[test]
    fn globs_match_runs_of_characters() {
        for (p, t, want) in [
            ("name/cos:*", "name/cos:GetObject", true),
            ("name/cos:*", "name/scf:Invoke", false),
            (
                "qcs::cos:ap-guangzhou:uid/1:b-1/*",
                "qcs::cos:ap-guangzhou:uid/1:b-1/",
                true,
            ),
            (
                "qcs::cos:ap-guangzhou:uid/1:b-1/*",
                "qcs::cos:ap-guangzhou:uid/1:b-1/a/b",
                true,
            ),
            (
                "qcs::cos:ap-guangzhou:uid/1:b-1/*",
                "qcs::cos:ap-guangzhou:uid/1:b-10/x",
                false,
            ),
            ("*", "anything", true),
            ("a*c*e", "abcde", true),
            ("a*c*e", "abcdf", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn allow_needs_a_matching_statement_and_deny_wins() {
        let allow = r#"{"version":"2.0","statement":[{"effect":"allow","action":["name/cos:GetObject","name/cos:PutObject"],"resource":["qcs::cos:ap-guangzhou:uid/1:b-1/*"]}]}"#;
        let deny = r#"{"version":"2.0","statement":[{"effect":"deny","action":"name/cos:*","resource":"*"}]}"#;
        let res = "qcs::cos:ap-guangzhou:uid/1:b-1/k";
        assert!(evaluate([allow], "name/cos:GetObject", res));
        assert!(!evaluate([allow], "name/cos:DeleteObject", res));
        assert!(!evaluate(
            [allow],
            "name/cos:GetObject",
            "qcs::cos:ap-guangzhou:uid/1:other-1/k"
        ));
        assert!(!evaluate([allow, deny], "name/cos:GetObject", res));
        assert!(!evaluate(std::iter::empty(), "name/cos:GetObject", res));
    }
}
