//! Execution roles (API-FACTS §2.8): a function's `role:` names a CAM role. Deploy creates a
//! role that does not exist — the trust policy [`TRUST_POLICY`] for SCF, tags
//! `chatstack:stack`/`chatstack:stage`, and one custom policy ([`policy_document`]) that lets it
//! use the stack's bucket, attached — before the functions that use it. A role is ours when it
//! carries this stack's `chatstack:stack` tag, whichever stage created it: stages of one stack
//! that name the same role share it. A role that does not carry it (another stack's, or one
//! made by hand) is used as it is, never modified. Remove deletes only roles of ours that no
//! function of another stage still names ([`observe_users`], [`deletes`]): detach, delete the
//! policy chatstack made, delete the role, after the functions are gone. The last stage removed
//! deletes it.
//!
//! Found by name and tags every time (GetRole, ListAttachedRolePolicies), so a fresh CI runner
//! with no `.chatstack/` neither duplicates nor orphans them; every step is idempotent
//! (`RoleNameInUse` adopts the role, `PolicyNameInUse` attaches the policy by name).
//!
//! Also: the plan-time warning for Python functions that use the COS SDK with neither a role
//! nor keys in their environment ([`credential_warnings`]).

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

use serde::Serialize;

use super::context::ApplyCx;
use super::error::Error;
use super::functions::change;
use super::graph::{Graph, StepId};
use super::plan::{Action, Change};
use super::tags;
use crate::config::Stack;
use crate::package::Package;
use crate::providers::tencent::TencentCloud;
use crate::providers::tencent::cam::{
    self, AttachedPolicy, CreatePolicyRequest, CreateRoleRequest, PolicyRef, RoleInfo,
};
use crate::providers::tencent::scf::FunctionInfo;

/// The trust policy of the roles chatstack creates: SCF may assume them.
///
/// **Inferred, not verified**: the shape follows the SDK's CreateRole example
/// (`principal.service` a list of service names) with `scf.qcloud.com`, the principal API-FACTS
/// §2.8 gives for SCF. Only a live account can settle it; this constant is the one place to fix.
pub const TRUST_POLICY: &str = r#"{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["scf.qcloud.com"]}}]}"#;

/// The COS actions the policy allows on the stack's bucket: read, write, delete and list
/// objects, multipart uploads included. Names as COS's CAM documentation spells them.
pub const BUCKET_ACTIONS: &[&str] = &[
    "name/cos:HeadBucket",
    "name/cos:GetBucket",
    "name/cos:HeadObject",
    "name/cos:GetObject",
    "name/cos:PutObject",
    "name/cos:DeleteObject",
    "name/cos:DeleteMultipleObjects",
    "name/cos:InitiateMultipartUpload",
    "name/cos:UploadPart",
    "name/cos:CompleteMultipartUpload",
    "name/cos:AbortMultipartUpload",
    "name/cos:ListParts",
    "name/cos:ListMultipartUploads",
];

/// The name of the policy chatstack creates for role `role` (CAM names: at most 128 chars).
pub fn policy_name(role: &str) -> String {
    let mut name = format!("chatstack-{role}");
    name.truncate(128);
    name
}

/// The policy chatstack attaches to the roles it creates: [`BUCKET_ACTIONS`] on every object
/// of bucket `bucket` (full name, `name-appid`) in `region`, i.e. the resource
/// `qcs::cos:{region}:uid/{appid}:{bucket}/*`. Nothing else.
pub fn policy_document(region: &str, bucket: &str) -> String {
    let appid = bucket.rsplit_once('-').map_or("", |(_, a)| a);
    #[derive(Serialize)]
    struct Statement<'a> {
        effect: &'a str,
        action: &'a [&'a str],
        resource: [String; 1],
    }
    #[derive(Serialize)]
    struct Doc<'a> {
        version: &'a str,
        statement: [Statement<'a>; 1],
    }
    serde_json::to_string(&Doc {
        version: "2.0",
        statement: [Statement {
            effect: "allow",
            action: BUCKET_ACTIONS,
            resource: [format!("qcs::cos:{region}:uid/{appid}:{bucket}/*")],
        }],
    })
    .expect("a policy serializes")
}

/// The distinct execution roles the stack's functions name, sorted.
pub fn role_names(stack: &Stack) -> Vec<String> {
    stack
        .functions
        .iter()
        .filter_map(|f| f.exec_role.clone())
        .filter(|r| !r.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// One execution role as observed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRole {
    /// RoleName.
    pub name: String,
    /// Whether it exists.
    pub exists: bool,
    /// Whether it carries this stack's tag (chatstack created it for some stage of the stack).
    pub ours: bool,
    /// The policies attached to it (looked up only for ours).
    #[serde(skip)]
    pub attached: Vec<AttachedPolicy>,
    /// Who else still names it as their role: `stage {name}` for each other stage of this
    /// stack with a function that does (`function {name}` for one of the stack's functions
    /// without a stage tag), sorted; see [`other_users`]. Looked up only by removal ([`observe_users`]),
    /// only for ours; empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
}

impl ObservedRole {
    /// The role as GetRole (and, for ours, ListAttachedRolePolicies) described it.
    pub fn new(
        stack: &Stack,
        name: &str,
        info: Option<&RoleInfo>,
        attached: Vec<AttachedPolicy>,
    ) -> Self {
        ObservedRole {
            name: name.to_owned(),
            exists: info.is_some(),
            ours: info.is_some_and(|i| is_ours(stack, i)),
            attached,
            used_by: Vec::new(),
        }
    }

    /// Our policy, when it is attached.
    pub fn our_policy(&self) -> Option<&AttachedPolicy> {
        let want = policy_name(&self.name);
        self.attached.iter().find(|p| p.policy_name == want)
    }
}

/// Whether `info` carries this stack's tag, whatever its stage tag says: a role name the
/// stages of one stack share is theirs together (the stage tag records the stage that created
/// it). Another stack's role, or an untagged one, is never ours.
pub fn is_ours(stack: &Stack, info: &RoleInfo) -> bool {
    info.tag(tags::STACK) == Some(stack.name.as_str())
}

/// Whether `info` carries this stack's and this stage's tags: this stage created it.
fn created_here(stack: &Stack, info: &RoleInfo) -> bool {
    is_ours(stack, info) && info.tag(tags::STAGE) == Some(stack.stage.as_str())
}

/// Reads every role the stack names (concurrently).
pub async fn observe(stack: &Stack, cloud: &TencentCloud) -> Result<Vec<ObservedRole>, Error> {
    let cam = cloud.cam();
    let names = role_names(stack);
    futures_util::future::try_join_all(names.iter().map(|name| {
        let cam = cam.clone();
        async move {
            let info = cam.get_role_opt(name).await?;
            let attached = match &info {
                Some(i) if is_ours(stack, i) => cam.list_attached_role_policies(name).await?,
                _ => Vec::new(),
            };
            Ok::<_, Error>(ObservedRole::new(stack, name, info.as_ref(), attached))
        }
    }))
    .await
}

/// What deploy does to one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleStep {
    /// Create it, its policy, and attach the policy.
    Create,
    /// Ours, but our policy is not attached (a run cut short): create it if needed, attach it.
    Attach,
    /// It exists: used as it is.
    Keep,
}

/// One role's part of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePlan {
    /// RoleName.
    pub name: String,
    /// The step.
    pub step: RoleStep,
    /// The policy document it gets (for Create/Attach).
    pub policy: String,
}

impl RolePlan {
    /// The plan line.
    pub fn change(&self) -> Change {
        let (action, fields) = match self.step {
            RoleStep::Create => (Action::Create, Vec::new()),
            RoleStep::Attach => (Action::Update, vec!["policy".to_owned()]),
            RoleStep::Keep => (Action::NoChange, Vec::new()),
        };
        change(format!("role {}", self.name), action, fields)
    }
}

/// Plans each role the stack names; `bucket` is the bucket's full name.
pub fn plan(stack: &Stack, observed: &[ObservedRole], bucket: &str) -> Vec<RolePlan> {
    role_names(stack)
        .into_iter()
        .map(|name| {
            let seen = observed.iter().find(|o| o.name == name);
            let step = match seen {
                None => RoleStep::Create,
                Some(o) if !o.exists => RoleStep::Create,
                Some(o) if o.ours && o.our_policy().is_none() => RoleStep::Attach,
                Some(_) => RoleStep::Keep,
            };
            RolePlan {
                name,
                step,
                policy: policy_document(&stack.bucket.region, bucket),
            }
        })
        .collect()
}

/// Adds a step per role to create or complete; returns each role's step by name.
pub fn add_steps(
    graph: &mut Graph<Error>,
    cx: &Arc<ApplyCx>,
    plans: &[RolePlan],
) -> Vec<(String, StepId)> {
    plans
        .iter()
        .filter(|p| p.step != RoleStep::Keep)
        .map(|p| {
            let verb = if p.step == RoleStep::Create {
                "create"
            } else {
                "attach policy to"
            };
            let step = graph.add(
                format!("{verb} role {}", p.name),
                "roles",
                &[],
                ensure_role(cx.clone(), p.clone()),
            );
            (p.name.clone(), step)
        })
        .collect()
}

/// Creates the role (adopting it when a retried create finds it), creates our policy (or finds
/// it by name) and attaches it.
async fn ensure_role(cx: Arc<ApplyCx>, plan: RolePlan) -> Result<(), Error> {
    let cam = cx.cloud.cam();
    if plan.step == RoleStep::Create {
        let created = cam
            .create_role(&CreateRoleRequest {
                role_name: plan.name.clone(),
                policy_document: TRUST_POLICY.to_owned(),
                description: Some(format!(
                    "execution role of stack {} (stage {}), created by chatstack",
                    cx.stack.name, cx.stack.stage
                )),
                tags: cx.tags(),
            })
            .await;
        match created {
            Ok(_) => {}
            // A retried create whose first attempt went through: carry on if this stage made
            // it. Another stage of the stack creating the same role at the same time attaches
            // its own policy; someone else's role is used as it is.
            Err(e) if cam::is_role_name_in_use(&e) => {
                let info = cam.get_role(&plan.name).await?;
                if !created_here(&cx.stack, &info) {
                    return Ok(());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let name = policy_name(&plan.name);
    let policy = match cam
        .create_policy(&CreatePolicyRequest {
            policy_name: name.clone(),
            policy_document: plan.policy.clone(),
            description: Some(format!(
                "lets role {} use bucket objects of stack {} (stage {}); created by chatstack",
                plan.name, cx.stack.name, cx.stack.stage
            )),
        })
        .await
    {
        Ok(id) => PolicyRef::Id(id),
        Err(e) if cam::is_policy_name_in_use(&e) => PolicyRef::Name(name),
        Err(e) => return Err(e.into()),
    };
    cam.attach_role_policy(&policy, &plan.name).await?;
    Ok(())
}

/// Which stages other than this one still use role `role`: `stage {name}` for each function
/// in `functions` (GetFunction's answers for the functions tagged with this stack) that names
/// it and is tagged for another stage, or `function {name}` when it has no stage tag. Sorted,
/// each once. Functions of this stage, of another stack or naming another role do not count.
pub fn other_users(stack: &Stack, role: &str, functions: &[FunctionInfo]) -> Vec<String> {
    functions
        .iter()
        .filter(|f| f.tag(tags::STACK) == Some(stack.name.as_str()))
        .filter(|f| f.tag(tags::STAGE) != Some(stack.stage.as_str()))
        .filter(|f| f.role == role)
        .map(|f| match f.tag(tags::STAGE) {
            Some(stage) => format!("stage {stage}"),
            None => format!("function {}", f.function_name),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// For removal: fills each role of ours' [`ObservedRole::used_by`] from the functions of the
/// stack's other stages. Lists the functions tagged `chatstack:stack` = this stack in each
/// namespace this stack's functions use, in the stack's region (the client's), skips this
/// stage's by their tag, and reads each one's `Role` (GetFunction). No role of ours: no call.
/// Functions of other stages in other regions or namespaces are not seen.
pub async fn observe_users(
    stack: &Stack,
    cloud: &TencentCloud,
    roles: &mut [ObservedRole],
) -> Result<(), Error> {
    if !roles.iter().any(|r| r.ours) {
        return Ok(());
    }
    let scf = cloud.scf();
    let namespaces: BTreeSet<&str> = stack
        .functions
        .iter()
        .map(|f| f.namespace.as_str())
        .collect();
    let listed = futures_util::future::try_join_all(namespaces.iter().map(|ns| {
        let scf = scf.clone();
        async move {
            let listed = scf
                .list_functions_by_tags(Some(ns), &[(tags::STACK, stack.name.as_str())])
                .await?;
            Ok::<_, crate::providers::tencent::Error>(listed.into_iter().map(move |f| (*ns, f)))
        }
    }))
    .await?;
    let others = listed.into_iter().flatten().filter(|(_, f)| {
        !f.tags
            .iter()
            .any(|t| t.key == tags::STAGE && t.value == stack.stage)
    });
    // ListFunctions does not say a function's role: GetFunction does. One gone in between
    // uses nothing.
    let infos = futures_util::future::try_join_all(others.map(|(ns, f)| {
        let scf = scf.clone();
        async move { scf.get_function_opt(&f.function_name, Some(ns)).await }
    }))
    .await?;
    let infos: Vec<FunctionInfo> = infos.into_iter().flatten().collect();
    for r in roles.iter_mut().filter(|r| r.ours) {
        r.used_by = other_users(stack, &r.name, &infos);
    }
    Ok(())
}

/// Whether removal deletes `role`: it is ours and no other stage's function names it.
pub fn deletes(role: &ObservedRole) -> bool {
    role.ours && role.used_by.is_empty()
}

/// The plan lines of removal: every role of ours, `delete`, or `keep (used by stage …)` while
/// another stage's function names it.
pub fn remove_changes(observed: &[ObservedRole]) -> Vec<Change> {
    observed
        .iter()
        .filter(|r| r.ours)
        .map(|r| {
            let resource = format!("role {}", r.name);
            if deletes(r) {
                change(resource, Action::Delete, Vec::new())
            } else {
                change(
                    resource,
                    Action::Keep,
                    vec![format!("used by {}", r.used_by.join(", "))],
                )
            }
        })
        .collect()
}

/// Adds a removal step per role [`deletes`] picks, after `after` (the function deletions).
pub fn add_remove(
    graph: &mut Graph<Error>,
    cloud: &TencentCloud,
    observed: &[ObservedRole],
    after: &[StepId],
) -> Vec<StepId> {
    observed
        .iter()
        .filter(|r| deletes(r))
        .map(|r| {
            let cam = cloud.cam();
            let role = r.clone();
            graph.add(
                format!("delete role {}", r.name),
                "roles",
                after,
                async move { delete_role(&cam, &role).await },
            )
        })
        .collect()
}

/// Detaches every policy of role `role` (ours, by its stack tag), deletes the one chatstack created and
/// the role. What is already gone counts as deleted.
async fn delete_role(cam: &cam::Cam, role: &ObservedRole) -> Result<(), Error> {
    let attached = match cam.list_attached_role_policies(&role.name).await {
        Ok(list) => list,
        Err(e) if cam::is_role_not_found(&e) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let ours = policy_name(&role.name);
    for p in &attached {
        cam.detach_role_policy(&PolicyRef::Id(p.policy_id), &role.name)
            .await?;
        if p.policy_name == ours {
            match cam.delete_policy(&[p.policy_id]).await {
                Ok(()) => {}
                Err(e) if cam::is_policy_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    match cam.delete_role(&role.name).await {
        Ok(()) => Ok(()),
        Err(e) if cam::is_role_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a Python package imports the COS SDK (`import qcloud_cos…` / `from qcloud_cos…`,
/// `qcloud_cos_v5` included) in any of its `.py` files.
pub fn imports_cos_sdk(package: &Package) -> bool {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(&package.zip)) else {
        return false;
    };
    for i in 0..zip.len() {
        let Ok(mut entry) = zip.by_index(i) else {
            continue;
        };
        if !entry.name().is_ok_and(|n| n.ends_with(".py")) {
            continue;
        }
        let mut text = String::new();
        if entry.read_to_string(&mut text).is_err() {
            continue;
        }
        if text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("import qcloud_cos") || l.starts_with("from qcloud_cos")
        }) {
            return true;
        }
    }
    false
}

/// Warnings for Python functions that use the COS SDK with neither an execution role nor
/// key-looking variables in their environment: in the cloud they get no credentials. `packages`
/// are the functions' packages, in file order.
pub fn credential_warnings(stack: &Stack, packages: &[Package]) -> Vec<String> {
    stack
        .functions
        .iter()
        .zip(packages)
        .filter(|(f, _)| f.runtime.to_ascii_lowercase().starts_with("python"))
        .filter(|(f, _)| f.exec_role.as_deref().is_none_or(str::is_empty))
        .filter(|(f, _)| !f.environment.iter().any(|v| v.sensitive))
        .filter(|(_, p)| imports_cos_sdk(p))
        .map(|(f, _)| {
            format!(
                "function `{}`'s code imports the COS SDK (qcloud_cos) but the function has no \
                 execution role and no keys in its environment: in the cloud it gets no \
                 credentials. Add \
                 `role: {}-chat` (any role name; chatstack creates it with access to the \
                 stack's bucket) to its inputs",
                f.name, stack.name
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fixtures;

    #[test]
    fn the_policy_allows_the_buckets_objects_and_nothing_else() {
        let doc = policy_document("ap-guangzhou", "chat-1250000000");
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["version"], "2.0");
        let s = &v["statement"][0];
        assert_eq!(s["effect"], "allow");
        assert_eq!(
            s["resource"],
            serde_json::json!(["qcs::cos:ap-guangzhou:uid/1250000000:chat-1250000000/*"])
        );
        assert_eq!(s["action"].as_array().unwrap().len(), BUCKET_ACTIONS.len());
        assert!(BUCKET_ACTIONS.contains(&"name/cos:GetBucket"));
        assert!(
            !doc.contains("name/cos:*") && !doc.contains("\"*\""),
            "{doc}"
        );
        // The same document the local cloud evaluates.
        use crate::localcloud::model::cam::evaluate;
        let res = |b: &str| format!("qcs::cos:ap-guangzhou:uid/1250000000:{b}/k");
        assert!(evaluate(
            [doc.as_str()],
            "name/cos:PutObject",
            &res("chat-1250000000")
        ));
        assert!(!evaluate(
            [doc.as_str()],
            "name/cos:PutObject",
            &res("other-1250000000")
        ));
        assert!(!evaluate(
            [doc.as_str()],
            "name/cos:DeleteBucket",
            &res("chat-1250000000")
        ));
    }

    #[test]
    fn the_trust_policy_lets_scf_assume_the_role() {
        use crate::localcloud::model::cam::{SCF_SERVICE, trusts};
        assert!(trusts(TRUST_POLICY, SCF_SERVICE));
    }

    fn observed(name: &str, exists: bool, ours: bool, attached: &[&str]) -> ObservedRole {
        ObservedRole {
            name: name.to_owned(),
            exists,
            ours,
            used_by: Vec::new(),
            attached: attached
                .iter()
                .enumerate()
                .map(|(i, n)| AttachedPolicy {
                    policy_id: i as u64 + 1,
                    policy_name: (*n).to_owned(),
                    ..AttachedPolicy::default()
                })
                .collect(),
        }
    }

    #[test]
    fn roles_plan_create_attach_or_keep_and_shared_roles_are_one() {
        let mut stack = fixtures::stack();
        for f in &mut stack.functions {
            f.exec_role = Some("chat-role".to_owned());
        }
        stack.functions[2].exec_role = Some("other".to_owned());
        assert_eq!(role_names(&stack), ["chat-role", "other"]);
        let rows = |obs: &[ObservedRole]| -> Vec<(String, Action, Vec<String>)> {
            plan(&stack, obs, "chat-1250000000")
                .iter()
                .map(|p| {
                    let c = p.change();
                    (c.resource, c.action, c.fields)
                })
                .collect()
        };
        let table: [(&str, Vec<ObservedRole>, [Action; 2]); 4] = [
            ("nothing exists", vec![], [Action::Create, Action::Create]),
            (
                "ours, complete; someone else's",
                vec![
                    observed("chat-role", true, true, &["chatstack-chat-role"]),
                    observed("other", true, false, &[]),
                ],
                [Action::NoChange, Action::NoChange],
            ),
            (
                "ours without our policy (a run cut short)",
                vec![
                    observed("chat-role", true, true, &["QcloudCOSFullAccess"]),
                    observed("other", false, false, &[]),
                ],
                [Action::Update, Action::Create],
            ),
            (
                "someone else's role is never modified",
                vec![
                    observed("chat-role", true, false, &[]),
                    observed("other", true, false, &[]),
                ],
                [Action::NoChange, Action::NoChange],
            ),
        ];
        for (case, obs, want) in table {
            let got = rows(&obs);
            assert_eq!(got.len(), 2, "{case}");
            assert_eq!(got[0].0, "role chat-role", "{case}");
            assert_eq!([got[0].1, got[1].1], want, "{case}");
        }
        assert_eq!(
            remove_changes(&[
                observed("chat-role", true, true, &[]),
                observed("other", true, false, &[])
            ])
            .iter()
            .map(|c| c.resource.as_str())
            .collect::<Vec<_>>(),
            ["role chat-role"]
        );
    }

    fn tagged(tags_: &[(&str, &str)]) -> Vec<crate::providers::tencent::Tag> {
        tags_
            .iter()
            .map(|(k, v)| crate::providers::tencent::Tag::new(*k, *v))
            .collect()
    }

    /// (case, the role's tags, ours, created here).
    type OwnerRow<'a> = (&'a str, &'a [(&'a str, &'a str)], bool, bool);

    #[test]
    fn a_role_is_ours_when_it_carries_this_stacks_tag_whatever_the_stage() {
        let stack = fixtures::stack();
        assert_eq!(stack.stage, "dev");
        let me = stack.name.as_str();
        let table: [OwnerRow; 6] = [
            (
                "this stack, this stage",
                &[(tags::STACK, me), (tags::STAGE, "dev")],
                true,
                true,
            ),
            (
                "this stack, another stage",
                &[(tags::STACK, me), (tags::STAGE, "prod")],
                true,
                false,
            ),
            (
                "this stack, no stage tag",
                &[(tags::STACK, me)],
                true,
                false,
            ),
            (
                "another stack, this stage",
                &[(tags::STACK, "other"), (tags::STAGE, "dev")],
                false,
                false,
            ),
            ("only a stage tag", &[(tags::STAGE, "dev")], false, false),
            ("untagged (made by hand)", &[], false, false),
        ];
        for (case, t, ours, here) in table {
            let info = RoleInfo {
                role_name: "chat-role".to_owned(),
                tags: tagged(t),
                ..RoleInfo::default()
            };
            assert_eq!(is_ours(&stack, &info), ours, "{case}");
            assert_eq!(created_here(&stack, &info), here, "{case}");
            assert_eq!(
                ObservedRole::new(&stack, "chat-role", Some(&info), Vec::new()).ours,
                ours,
                "{case}"
            );
        }
    }

    #[test]
    fn other_stages_functions_that_name_the_role_keep_it() {
        let stack = fixtures::stack();
        let me = stack.name.clone();
        let function = |name: &str, role: &str, t: &[(&str, &str)]| FunctionInfo {
            function_name: name.to_owned(),
            role: role.to_owned(),
            tags: tagged(t),
            ..FunctionInfo::default()
        };
        let of = |stage: &'static str| [(tags::STACK, me.as_str()), (tags::STAGE, stage)];
        // (case, functions listed for the stack, who keeps role `chat-role`)
        let table: Vec<(&str, Vec<FunctionInfo>, &[&str])> = vec![
            ("nobody else", vec![], &[]),
            (
                "only this stage's functions name it",
                vec![function("ChatReg-dev", "chat-role", &of("dev"))],
                &[],
            ),
            (
                "another stage's function names it",
                vec![
                    function("ChatReg-dev", "chat-role", &of("dev")),
                    function("ChatReg-prod", "chat-role", &of("prod")),
                    function("ChatTrans-prod", "chat-role", &of("prod")),
                ],
                &["stage prod"],
            ),
            (
                "two other stages, each named once",
                vec![
                    function("ChatReg-test", "chat-role", &of("test")),
                    function("ChatReg-prod", "chat-role", &of("prod")),
                ],
                &["stage prod", "stage test"],
            ),
            (
                "another stage's functions name other roles or none",
                vec![
                    function("ChatReg-prod", "prod-role", &of("prod")),
                    function("ChatTrans-prod", "", &of("prod")),
                ],
                &[],
            ),
            (
                "another stack's function does not count",
                vec![function(
                    "X",
                    "chat-role",
                    &[(tags::STACK, "other"), (tags::STAGE, "prod")],
                )],
                &[],
            ),
            (
                "our stack's function without a stage tag keeps it, by name",
                vec![function(
                    "Loose",
                    "chat-role",
                    &[(tags::STACK, me.as_str())],
                )],
                &["function Loose"],
            ),
        ];
        for (case, functions, want) in table {
            assert_eq!(other_users(&stack, "chat-role", &functions), want, "{case}");
            let mut role = observed("chat-role", true, true, &[]);
            role.used_by = other_users(&stack, "chat-role", &functions);
            let line = &remove_changes(std::slice::from_ref(&role))[0];
            assert_eq!(deletes(&role), want.is_empty(), "{case}");
            // A role alone makes the stage deployed only while removal would delete it.
            let alone = crate::engine::Observed {
                roles: vec![role.clone()],
                ..Default::default()
            };
            assert_eq!(alone.is_empty(), !want.is_empty(), "{case}");
            if want.is_empty() {
                assert_eq!(
                    (line.action, line.fields.len()),
                    (Action::Delete, 0),
                    "{case}"
                );
            } else {
                assert_eq!(line.action, Action::Keep, "{case}");
                assert_eq!(
                    line.fields,
                    [format!("used by {}", want.join(", "))],
                    "{case}"
                );
            }
        }
        // Someone else's role is neither deleted nor listed, used or not.
        let theirs = observed("chat-role", true, false, &[]);
        assert!(!deletes(&theirs));
        assert!(remove_changes(&[theirs]).is_empty());
    }

    fn package(files: &[(&str, &str)]) -> Package {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        Package {
            zip: w.finish().unwrap().into_inner(),
            sha256: String::new(),
            file_count: files.len(),
            files: Vec::new(),
            file_hashes: std::collections::BTreeMap::new(),
            dependencies: None,
        }
    }

    #[test]
    fn cos_users_without_role_or_keys_are_warned() {
        let cos = package(&[("a.py", "import os\nfrom qcloud_cos import CosConfig\n")]);
        let plain = package(&[("a.py", "import os\n# qcloud_cos is not used\n")]);
        assert!(imports_cos_sdk(&cos));
        assert!(!imports_cos_sdk(&plain));
        let mut stack = fixtures::stack();
        for f in &mut stack.functions {
            f.runtime = "Python3.9".to_owned();
            f.exec_role = None;
            f.environment.retain(|v| !v.sensitive);
        }
        stack.functions[1].exec_role = Some("r".to_owned());
        let packages = [cos.clone(), cos.clone(), plain];
        let w = credential_warnings(&stack, &packages);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(&stack.functions[0].name) && w[0].contains("role:"),
            "{w:?}"
        );
        // Keys in the environment (as the article's stack has): no warning.
        stack.functions[0].environment.push(crate::config::EnvVar {
            key: "secret_id".to_owned(),
            value: crate::config::Value(Vec::new()),
            sensitive: true,
        });
        assert!(credential_warnings(&stack, &packages).is_empty());
    }
}
