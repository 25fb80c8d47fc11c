//! Function URLs (API-FACTS §10.3): CreateTrigger, ListTriggers, UpdateTrigger and
//! DeleteTrigger for `Type: http`, the `Triggers[]` of GetFunction, and the removal of a
//! function's triggers when it is deleted. Records: [`crate::localcloud::model::trigger`].
//!
//! Decisions (assumed where the SDK is silent):
//! - Only `http` triggers exist locally; any other `Type` is `UnsupportedOperation.Trigger`.
//! - Only Web functions get one (the data plane routes only them); an Event function is
//!   `InvalidParameterValue.FunctionType` (the cloud also serves URLs for Event functions).
//! - The server names the trigger `url-{urlid}`; the `TriggerName` a client sends is a
//!   placeholder and ignored (Terraform sends one and keeps `TriggerInfo.TriggerName`).
//! - One http trigger per function and `Qualifier` (`$DEFAULT` unless given):
//!   a second is `ResourceInUse.Trigger`.
//! - `TriggerDesc` defaults: `AuthType` NONE, extranet on, intranet off; UpdateTrigger
//!   changes only the keys its `TriggerDesc` holds.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::context::{Ctx, Filter, obj, required};
use super::super::error::ApiError;
use super::common::{descending, namespace, not_found, page};
use crate::localcloud::model::function::{self, FunctionRecord, Status};
use crate::localcloud::model::trigger::{
    self, AuthType, TABLE, TriggerRecord, URL_TABLE, net_config_urls,
};
use crate::localcloud::store::{StoreError, Txn};
use crate::providers::tencent::time;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct TriggerReq {
    function_name: Option<String>,
    trigger_name: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    trigger_desc: Option<String>,
    namespace: Option<String>,
    qualifier: Option<String>,
    enable: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescParam {
    auth_type: Option<String>,
    net_config: Option<NetConfigParam>,
    cors_config: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetConfigParam {
    enable_intranet: Option<bool>,
    enable_extranet: Option<bool>,
}

/// `Type` must be `http`.
fn check_kind(kind: Option<String>) -> Result<(), ApiError> {
    match required(kind, "Type")?.as_str() {
        "http" => Ok(()),
        other => Err(ApiError::new(
            "UnsupportedOperation.Trigger",
            format!(
                "Trigger type `{other}` is not served by the local cloud: it serves only http \
                 triggers (Function URLs)."
            ),
        )),
    }
}

fn check_qualifier(q: Option<String>) -> Result<String, ApiError> {
    match q.as_deref() {
        None | Some("") => Ok("$DEFAULT".to_owned()),
        Some("$DEFAULT") | Some("$LATEST") => Ok(q.unwrap_or_default()),
        Some(other) => Err(ApiError::new(
            "ResourceNotFound.Qualifier",
            format!("The qualifier `{other}` does not exist: only $DEFAULT and $LATEST."),
        )),
    }
}

fn parse_enable(e: &str) -> Result<bool, ApiError> {
    match e {
        "OPEN" => Ok(true),
        "CLOSE" => Ok(false),
        other => Err(ApiError::new(
            "InvalidParameterValue.Enable",
            format!("Enable `{other}` must be OPEN or CLOSE."),
        )),
    }
}

/// Applies the keys a `TriggerDesc` JSON string holds to `t`.
fn apply_desc(desc: &str, t: &mut TriggerRecord) -> Result<(), ApiError> {
    let bad = |why: String| {
        ApiError::new(
            "InvalidParameterValue.TriggerDesc",
            format!(
                "TriggerDesc is invalid ({why}); expected a JSON string like \
                 {{\"AuthType\":\"NONE\",\"NetConfig\":{{\"EnableIntranet\":false,\"EnableExtranet\":true}}}}."
            ),
        )
    };
    let d: DescParam = serde_json::from_str(desc).map_err(|e| bad(e.to_string()))?;
    if let Some(a) = d.auth_type {
        t.auth = match a.as_str() {
            "NONE" => AuthType::None,
            "CAM" => AuthType::Cam,
            other => return Err(bad(format!("AuthType `{other}` must be NONE or CAM"))),
        };
    }
    if let Some(n) = d.net_config {
        if let Some(v) = n.enable_intranet {
            t.enable_intranet = v;
        }
        if let Some(v) = n.enable_extranet {
            t.enable_extranet = v;
        }
    }
    if !t.enable_intranet && !t.enable_extranet {
        return Err(bad(
            "NetConfig must enable the extranet, the intranet or both".into(),
        ));
    }
    if let Some(c) = d.cors_config {
        t.cors = if c.is_null() { None } else { Some(c) };
    }
    Ok(())
}

/// A trigger as the SDK's `TriggerInfo` / `Trigger` models have it.
pub(super) fn trigger_json(ctx: &Ctx, t: &TriggerRecord) -> Value {
    let mut net = net_config_urls(&ctx.plane.public_host(), ctx.plane.account.appid, t);
    net.insert("EnableIntranet".into(), json!(t.enable_intranet));
    net.insert("EnableExtranet".into(), json!(t.enable_extranet));
    let mut desc = Map::new();
    desc.insert("AuthType".into(), json!(t.auth.as_str()));
    desc.insert("NetConfig".into(), Value::Object(net));
    if let Some(c) = &t.cors {
        desc.insert("CorsConfig".into(), c.clone());
    }
    json!({
        "Enable": i32::from(t.enabled),
        "Qualifier": t.qualifier,
        "TriggerName": t.name,
        "Type": t.kind,
        "TriggerDesc": Value::Object(desc).to_string(),
        "AvailableStatus": "Available",
        "CustomArgument": "",
        "AddTime": time::format(t.add_time),
        "ModTime": time::format(t.mod_time),
        "ResourceId": "",
        "BindStatus": "",
        "TriggerAttribute": "",
        "Description": t.description,
        "BoundResources": "",
    })
}

/// GetFunction's `Triggers[]` (every qualifier's).
pub(super) fn function_triggers(ctx: &Ctx, r: &FunctionRecord) -> Result<Vec<Value>, ApiError> {
    if r.status == Status::Deleting {
        return Ok(Vec::new());
    }
    Ok(
        trigger::of_function(ctx.store(), &r.region, &r.namespace, &r.name)?
            .iter()
            .map(|t| trigger_json(ctx, t))
            .collect(),
    )
}

/// Removes a function's triggers and their URL index entries (DeleteFunction, in its
/// transaction).
pub(super) fn delete_all(
    tx: &mut Txn<'_>,
    region: &str,
    ns: &str,
    function: &str,
) -> Result<(), StoreError> {
    let taken: Vec<(String, TriggerRecord)> =
        tx.take_prefix(TABLE, &trigger::prefix(region, ns, function))?;
    for (_, t) in taken {
        tx.delete(URL_TABLE, &t.url_id)?;
    }
    Ok(())
}

fn url_id() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

fn trigger_not_found(name: &str, function: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFound.Trigger",
        format!("The trigger `{name}` of function `{function}` does not exist."),
    )
}

pub(super) fn create_trigger(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: TriggerReq = ctx.parse()?;
    let fname = required(req.function_name, "FunctionName")?;
    let ns = namespace(req.namespace)?;
    check_kind(req.kind)?;
    let qualifier = check_qualifier(req.qualifier)?;
    let enabled = match req.enable.as_deref() {
        None | Some("") => true,
        Some(e) => parse_enable(e)?,
    };
    let now = ctx.now_secs();
    let mut t = TriggerRecord {
        region: ctx.region.clone(),
        namespace: ns.clone(),
        function: fname.clone(),
        name: String::new(),
        kind: "http".into(),
        qualifier,
        auth: AuthType::None,
        enable_intranet: false,
        enable_extranet: true,
        cors: None,
        url_id: String::new(),
        enabled,
        description: req.description.unwrap_or_default(),
        add_time: now,
        mod_time: now,
    };
    if let Some(d) = req.trigger_desc.as_deref().filter(|d| !d.is_empty()) {
        apply_desc(d, &mut t)?;
    }
    let fkey = function::key(&ctx.region, &ns, &fname);
    let t = ctx.store().write(|tx| -> Result<TriggerRecord, ApiError> {
        let f = tx
            .get::<FunctionRecord>(function::TABLE, &fkey)?
            .and_then(|r| r.at(ctx.now_ms))
            .ok_or_else(|| not_found(&fname, &ns))?;
        if f.status != Status::Active {
            return Err(ApiError::new(
                "FailedOperation.CreateTrigger",
                format!(
                    "The function `{fname}` is {}; create its trigger when its status is Active.",
                    f.status.as_str()
                ),
            ));
        }
        if !f.is_web() {
            return Err(ApiError::new(
                "InvalidParameterValue.FunctionType",
                format!(
                    "The function `{fname}` is an Event function: the local cloud serves \
                     Function URLs (http triggers) for Web functions (Type HTTP) only."
                ),
            ));
        }
        let prefix = trigger::prefix(&ctx.region, &ns, &fname);
        let existing: Vec<TriggerRecord> = tx.scan(TABLE)?;
        if let Some(e) = existing.iter().find(|e| {
            trigger::prefix(&e.region, &e.namespace, &e.function) == prefix
                && e.kind == "http"
                && e.qualifier == t.qualifier
        }) {
            return Err(ApiError::new(
                "ResourceInUse.Trigger",
                format!(
                    "The function `{fname}` already has a Function URL for {} (`{}`).",
                    e.qualifier, e.name
                ),
            ));
        }
        let mut id = url_id();
        while tx.get::<String>(URL_TABLE, &id)?.is_some() {
            id = url_id();
        }
        t.name = format!("url-{id}");
        t.url_id = id;
        let k = trigger::key(&ctx.region, &ns, &fname, &t.name);
        tx.put(TABLE, &k, &t)?;
        tx.put(URL_TABLE, &t.url_id, &k)?;
        Ok(t)
    })?;
    Ok(obj(json!({ "TriggerInfo": trigger_json(ctx, &t) })))
}

/// The trigger an Update/DeleteTrigger request names: `(key, record)`.
fn named(ctx: &Ctx, req: &mut TriggerReq) -> Result<(String, TriggerRecord), ApiError> {
    let fname = required(req.function_name.take(), "FunctionName")?;
    let ns = namespace(req.namespace.take())?;
    let tname = required(req.trigger_name.take(), "TriggerName")?;
    check_kind(req.kind.take())?;
    function::lookup(ctx.store(), &ctx.region, &ns, &fname, ctx.now_ms)?
        .filter(|f| f.status != Status::Deleting)
        .ok_or_else(|| not_found(&fname, &ns))?;
    let k = trigger::key(&ctx.region, &ns, &fname, &tname);
    let t = ctx
        .store()
        .get::<TriggerRecord>(TABLE, &k)?
        .ok_or_else(|| trigger_not_found(&tname, &fname))?;
    // A Qualifier sent must be the trigger's.
    if let Some(q) = req.qualifier.as_deref().filter(|q| !q.is_empty())
        && q != t.qualifier
    {
        return Err(trigger_not_found(&format!("{tname}` for `{q}"), &fname));
    }
    Ok((k, t))
}

pub(super) fn update_trigger(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let mut req: TriggerReq = ctx.parse()?;
    let (k, mut t) = named(ctx, &mut req)?;
    if let Some(e) = req.enable.as_deref().filter(|e| !e.is_empty()) {
        t.enabled = parse_enable(e)?;
    }
    if let Some(d) = req.trigger_desc.as_deref().filter(|d| !d.is_empty()) {
        apply_desc(d, &mut t)?;
    }
    if let Some(d) = req.description {
        t.description = d;
    }
    t.mod_time = ctx.now_secs();
    ctx.store().write(|tx| -> Result<(), ApiError> {
        // Gone meanwhile (DeleteTrigger/DeleteFunction): not recreated.
        if tx.get::<TriggerRecord>(TABLE, &k)?.is_none() {
            return Err(trigger_not_found(&t.name, &t.function));
        }
        tx.put(TABLE, &k, &t)?;
        Ok(())
    })?;
    Ok(Map::new())
}

pub(super) fn delete_trigger(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let mut req: TriggerReq = ctx.parse()?;
    let (k, t) = named(ctx, &mut req)?;
    ctx.store().write(|tx| -> Result<(), ApiError> {
        if !tx.delete(TABLE, &k)? {
            return Err(trigger_not_found(&t.name, &t.function));
        }
        tx.delete(URL_TABLE, &t.url_id)?;
        Ok(())
    })?;
    Ok(Map::new())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListReq {
    function_name: Option<String>,
    namespace: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
    order_by: Option<String>,
    order: Option<String>,
    filters: Option<Vec<Filter>>,
}

pub(super) fn list_triggers(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ListReq = ctx.parse()?;
    let fname = required(req.function_name, "FunctionName")?;
    let ns = namespace(req.namespace)?;
    let (skip, take) = page(req.offset, req.limit)?;
    let by_add = match req.order_by.as_deref() {
        None | Some("") | Some("mod_time") => false,
        Some("add_time") => true,
        Some(o) => {
            return Err(ApiError::new(
                "InvalidParameterValue.OrderBy",
                format!("OrderBy `{o}` must be add_time or mod_time."),
            ));
        }
    };
    let descending = descending(req.order.as_deref())?;
    let filters = req.filters.unwrap_or_default();
    for f in &filters {
        if !["Qualifier", "TriggerName", "Description"].contains(&f.name.as_str()) {
            return Err(ApiError::new(
                "InvalidParameterValue.Filters",
                format!(
                    "Filter `{}` is not supported: Qualifier, TriggerName or Description.",
                    f.name
                ),
            ));
        }
    }
    let f = function::lookup(ctx.store(), &ctx.region, &ns, &fname, ctx.now_ms)?
        .ok_or_else(|| not_found(&fname, &ns))?;
    let mut found: Vec<TriggerRecord> =
        trigger::of_function(ctx.store(), &ctx.region, &ns, &fname)?
            .into_iter()
            .filter(|_| f.status != Status::Deleting)
            .filter(|t| {
                filters.iter().all(|flt| {
                    let field = match flt.name.as_str() {
                        "Qualifier" => &t.qualifier,
                        "TriggerName" => &t.name,
                        _ => &t.description,
                    };
                    flt.values.is_empty() || flt.values.iter().any(|v| v == field)
                })
            })
            .collect();
    found.sort_by(|a, b| {
        let ord = if by_add {
            a.add_time.cmp(&b.add_time)
        } else {
            a.mod_time.cmp(&b.mod_time)
        }
        .then_with(|| a.name.cmp(&b.name));
        if descending { ord.reverse() } else { ord }
    });
    let total = found.len();
    let page: Vec<Value> = found
        .iter()
        .skip(skip)
        .take(take)
        .map(|t| trigger_json(ctx, t))
        .collect();
    Ok(obj(json!({ "Triggers": page, "TotalCount": total })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TriggerRecord {
        TriggerRecord {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
            function: "f".into(),
            name: "url-x".into(),
            kind: "http".into(),
            qualifier: "$DEFAULT".into(),
            auth: AuthType::None,
            enable_intranet: false,
            enable_extranet: true,
            cors: None,
            url_id: "x".into(),
            enabled: true,
            description: String::new(),
            add_time: 0,
            mod_time: 0,
        }
    }

    #[test]
    fn trigger_desc_changes_only_the_keys_it_holds() {
        let mut t = record();
        apply_desc(r#"{"AuthType":"CAM"}"#, &mut t).unwrap();
        assert_eq!((t.auth, t.enable_extranet), (AuthType::Cam, true));
        apply_desc(
            r#"{"NetConfig":{"EnableIntranet":true,"EnableExtranet":false},"CorsConfig":{"Enable":true}}"#,
            &mut t,
        )
        .unwrap();
        assert!(t.enable_intranet && !t.enable_extranet && t.cors.is_some());
        for bad in [
            "not json",
            r#"{"AuthType":"KEY"}"#,
            r#"{"NetConfig":{"EnableIntranet":false,"EnableExtranet":false}}"#,
        ] {
            let e = apply_desc(bad, &mut record()).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue.TriggerDesc", "{bad}");
        }
    }

    #[test]
    fn kinds_qualifiers_and_enable() {
        assert!(check_kind(Some("http".into())).is_ok());
        assert_eq!(
            check_kind(Some("timer".into())).unwrap_err().code,
            "UnsupportedOperation.Trigger"
        );
        assert_eq!(check_kind(None).unwrap_err().code, "MissingParameter");
        assert_eq!(check_qualifier(None).unwrap(), "$DEFAULT");
        assert_eq!(check_qualifier(Some("$LATEST".into())).unwrap(), "$LATEST");
        assert!(check_qualifier(Some("1".into())).is_err());
        assert!(parse_enable("OPEN").unwrap() && !parse_enable("CLOSE").unwrap());
        assert!(parse_enable("open").is_err());
        assert_eq!(url_id().len(), 10);
    }
}
