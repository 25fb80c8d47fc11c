//! CAM (`cam`, 2019-01-16): GetUserAppId, which the deployer uses to learn the APPID that
//! bucket names end with, and the role and policy actions an execution role needs (CreateRole,
//! GetRole, DeleteRole, CreatePolicy, DeletePolicy, AttachRolePolicy, DetachRolePolicy,
//! ListAttachedRolePolicies) with tencentcloud-sdk-python's shapes and the error codes of its
//! `cam/v20190116/errorcodes.py`. The account's UIN is made up but stable.
//!
//! Records live in [`crate::localcloud::model::cam`]; the runtime and COS only read them.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::context::{Ctx, obj, required};
use super::error::ApiError;
use crate::localcloud::model::cam::{
    Attachment, POLICIES, PolicyRecord, ROLES, RoleRecord, is_valid_document, policy_key,
};
use crate::localcloud::model::function::KeyValue;
use crate::localcloud::store::Txn;
use crate::providers::tencent::time;

/// The local account's UIN (also its owner UIN: it is a root account).
pub const UIN: &str = "100000000001";

/// The actions we answer.
pub(super) const ACTIONS: &[&str] = &[
    "GetUserAppId",
    "CreateRole",
    "GetRole",
    "DeleteRole",
    "CreatePolicy",
    "DeletePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
];

/// Where the next role and policy ids come from.
const SEQ_TABLE: &str = "cam_seq";
/// First RoleId, the magnitude CAM's look like (`4611686018427397919`).
const ROLE_ID_BASE: u64 = 4_611_686_018_427_397_000;
/// First PolicyId.
const POLICY_ID_BASE: u64 = 200_000_000;

pub(super) fn call(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    match ctx.action.as_str() {
        "GetUserAppId" => {
            let appid = ctx.plane.account.appid;
            Ok(obj(json!({ "AppId": appid, "Uin": UIN, "OwnerUin": UIN })))
        }
        "CreateRole" => create_role(ctx),
        "GetRole" => get_role(ctx),
        "DeleteRole" => delete_role(ctx),
        "CreatePolicy" => create_policy(ctx),
        "DeletePolicy" => delete_policy(ctx),
        "AttachRolePolicy" => attach(ctx, true),
        "DetachRolePolicy" => attach(ctx, false),
        "ListAttachedRolePolicies" => list_attached(ctx),
        other => Err(ApiError::new(
            "InvalidAction",
            format!("unknown action {other}"),
        )),
    }
}

fn role_not_exist(what: &str) -> ApiError {
    ApiError::new(
        "InvalidParameter.RoleNotExist",
        format!("role `{what}` does not exist"),
    )
}

fn policy_not_exist(what: &str) -> ApiError {
    ApiError::new(
        "InvalidParameter.PolicyIdNotExist",
        format!("policy `{what}` does not exist"),
    )
}

fn next_id(tx: &mut Txn<'_>, key: &str, base: u64) -> Result<u64, ApiError> {
    let n: u64 = tx.get(SEQ_TABLE, key)?.unwrap_or(0) + 1;
    tx.put(SEQ_TABLE, key, &n)?;
    Ok(base + n)
}

fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRole {
    role_name: Option<String>,
    policy_document: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Vec<KeyValue>>,
}

/// A role's or policy's name and its policy document, checked as CAM checks them: a bad name is
/// `name_code`, a bad document `InvalidParameter.PolicyDocumentError`.
fn check_name_and_document(
    name: &str,
    doc: &str,
    name_code: &'static str,
    what: &str,
) -> Result<(), ApiError> {
    if !valid_name(name) {
        return Err(ApiError::new(
            name_code,
            format!("{what} name `{name}` is not valid"),
        ));
    }
    if !is_valid_document(doc) {
        return Err(ApiError::new(
            "InvalidParameter.PolicyDocumentError",
            "PolicyDocument is not a valid policy document",
        ));
    }
    Ok(())
}

fn create_role(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: CreateRole = ctx.parse()?;
    let name = required(req.role_name, "RoleName")?;
    let doc = required(req.policy_document, "PolicyDocument")?;
    check_name_and_document(&name, &doc, "InvalidParameter.RoleNameError", "role")?;
    let now = ctx.now_secs();
    let id = ctx.store().write(|tx| {
        if tx.get::<RoleRecord>(ROLES, &name)?.is_some() {
            return Err(ApiError::new(
                "InvalidParameter.RoleNameInUse",
                format!("role name `{name}` is already in use"),
            ));
        }
        let role_id = next_id(tx, "role", ROLE_ID_BASE)?.to_string();
        tx.put(
            ROLES,
            &name,
            &RoleRecord {
                role_id: role_id.clone(),
                name: name.clone(),
                policy_document: doc,
                description: req.description.unwrap_or_default(),
                tags: req.tags.unwrap_or_default(),
                created: now,
                modified: now,
                attached: Vec::new(),
            },
        )?;
        Ok(role_id)
    })?;
    Ok(obj(json!({ "RoleId": id })))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleRef {
    #[serde(default)]
    role_id: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
}

/// The role a request names by `RoleName` or `RoleId`, inside a transaction.
fn find_role(
    tx: &mut Txn<'_>,
    name: Option<&str>,
    id: Option<&str>,
) -> Result<RoleRecord, ApiError> {
    if let Some(name) = name {
        return tx
            .get::<RoleRecord>(ROLES, name)?
            .ok_or_else(|| role_not_exist(name));
    }
    let id = required(id, "RoleName")?;
    tx.scan::<RoleRecord>(ROLES)?
        .into_iter()
        .find(|r| r.role_id == id)
        .ok_or_else(|| role_not_exist(id))
}

/// [`find_role`] outside a transaction, for the read-only actions.
fn read_role(ctx: &Ctx, name: Option<&str>, id: Option<&str>) -> Result<RoleRecord, ApiError> {
    if let Some(name) = name {
        return ctx
            .store()
            .get::<RoleRecord>(ROLES, name)?
            .ok_or_else(|| role_not_exist(name));
    }
    let id = required(id, "RoleName")?;
    ctx.store()
        .scan::<RoleRecord>(ROLES, "", None, usize::MAX)?
        .into_iter()
        .map(|(_, r)| r)
        .find(|r| r.role_id == id)
        .ok_or_else(|| role_not_exist(id))
}

fn role_info(r: &RoleRecord) -> Value {
    json!({
        "RoleId": r.role_id,
        "RoleName": r.name,
        "PolicyDocument": r.policy_document,
        "Description": r.description,
        "AddTime": time::format(r.created),
        "UpdateTime": time::format(r.modified),
        "ConsoleLogin": 0,
        "RoleType": "user",
        "SessionDuration": 0,
        "Tags": r.tags,
        "RoleArn": format!("qcs::cam::uin/{UIN}:roleName/{}", r.name),
    })
}

fn get_role(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: RoleRef = ctx.parse()?;
    let role = read_role(ctx, req.role_name.as_deref(), req.role_id.as_deref())?;
    Ok(obj(json!({ "RoleInfo": role_info(&role) })))
}

fn delete_role(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: RoleRef = ctx.parse()?;
    ctx.store().write(|tx| {
        let role = find_role(tx, req.role_name.as_deref(), req.role_id.as_deref())?;
        tx.delete(ROLES, &role.name)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Map::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreatePolicy {
    policy_name: Option<String>,
    policy_document: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

fn create_policy(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: CreatePolicy = ctx.parse()?;
    let name = required(req.policy_name, "PolicyName")?;
    let doc = required(req.policy_document, "PolicyDocument")?;
    check_name_and_document(&name, &doc, "InvalidParameter.PolicyNameError", "policy")?;
    let now = ctx.now_secs();
    let id = ctx.store().write(|tx| {
        if tx
            .scan::<PolicyRecord>(POLICIES)?
            .iter()
            .any(|p| p.name == name)
        {
            return Err(ApiError::new(
                "FailedOperation.PolicyNameInUse",
                format!("policy name `{name}` is already in use"),
            ));
        }
        let policy_id = next_id(tx, "policy", POLICY_ID_BASE)?;
        tx.put(
            POLICIES,
            &policy_key(policy_id),
            &PolicyRecord {
                policy_id,
                name: name.clone(),
                document: doc,
                description: req.description.unwrap_or_default(),
                created: now,
            },
        )?;
        Ok(policy_id)
    })?;
    Ok(obj(json!({ "PolicyId": id })))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeletePolicy {
    policy_id: Option<Vec<u64>>,
}

fn delete_policy(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: DeletePolicy = ctx.parse()?;
    let ids = required(req.policy_id, "PolicyId")?;
    ctx.store().write(|tx| {
        for id in &ids {
            if !tx.delete(POLICIES, &policy_key(*id))? {
                return Err(ApiError::new(
                    "ResourceNotFound.PolicyIdNotFound",
                    format!("policy `{id}` does not exist"),
                ));
            }
        }
        // A deleted policy is detached from every role it was attached to.
        for mut role in tx.scan::<RoleRecord>(ROLES)? {
            let before = role.attached.len();
            role.attached.retain(|a| !ids.contains(&a.policy_id));
            if role.attached.len() != before {
                tx.put(ROLES, &role.name.clone(), &role)?;
            }
        }
        Ok::<_, ApiError>(())
    })?;
    Ok(Map::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attach {
    #[serde(default)]
    policy_id: Option<u64>,
    #[serde(default)]
    policy_name: Option<String>,
    #[serde(default)]
    attach_role_id: Option<String>,
    #[serde(default)]
    attach_role_name: Option<String>,
    #[serde(default)]
    detach_role_id: Option<String>,
    #[serde(default)]
    detach_role_name: Option<String>,
}

/// AttachRolePolicy (`attach`) or DetachRolePolicy; both are idempotent.
fn attach(ctx: &Ctx, attach: bool) -> Result<Map<String, Value>, ApiError> {
    let req: Attach = ctx.parse()?;
    let (role_name, role_id) = if attach {
        (req.attach_role_name, req.attach_role_id)
    } else {
        (req.detach_role_name, req.detach_role_id)
    };
    if role_name.is_none() && role_id.is_none() {
        return Err(ApiError::missing(if attach {
            "AttachRoleName"
        } else {
            "DetachRoleName"
        }));
    }
    let now = ctx.now_secs();
    ctx.store().write(|tx| {
        let mut role = find_role(tx, role_name.as_deref(), role_id.as_deref())?;
        let policies = tx.scan::<PolicyRecord>(POLICIES)?;
        let policy = match (&req.policy_id, &req.policy_name) {
            (Some(id), _) => policies
                .iter()
                .find(|p| p.policy_id == *id)
                .ok_or_else(|| policy_not_exist(&id.to_string()))?,
            (None, Some(name)) => policies
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| policy_not_exist(name))?,
            (None, None) => return Err(ApiError::missing("PolicyId")),
        };
        let present = role
            .attached
            .iter()
            .any(|a| a.policy_id == policy.policy_id);
        if attach && !present {
            role.attached.push(Attachment {
                policy_id: policy.policy_id,
                added: now,
            });
        } else if !attach && present {
            role.attached.retain(|a| a.policy_id != policy.policy_id);
        } else {
            return Ok(());
        }
        role.modified = now;
        tx.put(ROLES, &role.name.clone(), &role)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Map::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAttached {
    page: Option<u64>,
    rp: Option<u64>,
    #[serde(default)]
    role_id: Option<String>,
    #[serde(default)]
    role_name: Option<String>,
}

fn list_attached(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ListAttached = ctx.parse()?;
    let page = required(req.page, "Page")?.max(1);
    let rp = required(req.rp, "Rp")?;
    if !(1..=200).contains(&rp) {
        return Err(ApiError::invalid("Rp must be between 1 and 200"));
    }
    let role = read_role(ctx, req.role_name.as_deref(), req.role_id.as_deref())?;
    let policies: Vec<PolicyRecord> = ctx
        .store()
        .scan(POLICIES, "", None, usize::MAX)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let list: Vec<Value> = role
        .attached
        .iter()
        .filter_map(|a| {
            let p = policies.iter().find(|p| p.policy_id == a.policy_id)?;
            Some(json!({
                "PolicyId": p.policy_id,
                "PolicyName": p.name,
                "AddTime": time::format(a.added),
                "PolicyType": "User",
                "CreateMode": 1,
                "Description": p.description,
            }))
        })
        .collect();
    let total = list.len();
    let start = usize::try_from((page - 1).saturating_mul(rp)).unwrap_or(usize::MAX);
    let rp = usize::try_from(rp).unwrap_or(200);
    let list: Vec<Value> = list.into_iter().skip(start).take(rp).collect();
    Ok(obj(json!({ "List": list, "TotalNum": total })))
}
