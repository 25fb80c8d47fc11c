//! Tags (`tag`, 2018-08-13), for SCF functions: ModifyResourceTags changes a function's tags
//! after creation, DescribeResourceTagsByResourceIds reads them. The tags live on the function
//! record, so GetFunction and ListFunctions' tag filters see every change at once (what the
//! console shows; the cloud's own propagation delay, if any, is not known).
//!
//! Resources are six-segment descriptions,
//! `qcs::scf:{region}:uin/{uin}:namespace/{namespace}/function/{name}`; any other service or
//! shape is refused with the tag service's error codes.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::cam::UIN;
use super::context::{Ctx, obj, required};
use super::error::ApiError;
use crate::localcloud::model::function::{FunctionRecord, KeyValue, TABLE, key};

/// The actions we answer.
pub(super) const ACTIONS: &[&str] = &["ModifyResourceTags", "DescribeResourceTagsByResourceIds"];

/// The most tags one request may set or unbind, each (the SDK's model docs: "标签数量不超过10个").
const MAX_TAGS_PER_REQUEST: usize = 10;

pub(super) fn call(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    match ctx.action.as_str() {
        "ModifyResourceTags" => modify_resource_tags(ctx),
        "DescribeResourceTagsByResourceIds" => describe_by_ids(ctx),
        other => Err(ApiError::new(
            "InvalidAction",
            format!("unknown action {other}"),
        )),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct TagParam {
    tag_key: Option<String>,
    tag_value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ModifyReq {
    resource: Option<String>,
    replace_tags: Option<Vec<TagParam>>,
    delete_tags: Option<Vec<TagParam>>,
}

/// A function named by a six-segment description.
#[derive(Debug, PartialEq, Eq)]
struct FunctionResource<'a> {
    region: &'a str,
    namespace: &'a str,
    name: &'a str,
}

fn parse_resource(resource: &str) -> Result<FunctionResource<'_>, ApiError> {
    let bad = || {
        ApiError::new(
            "InvalidParameterValue.ResourceDescriptionError",
            format!(
                "Resource {resource:?} is not a six-segment description \
                 qcs::scf:REGION:uin/UIN:namespace/NAMESPACE/function/NAME."
            ),
        )
    };
    let mut parts = resource.splitn(5, ':');
    let (Some("qcs"), Some(""), Some(service), Some(region), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    if service != "scf" {
        return Err(ApiError::new(
            "InvalidParameter.UnsupportedService",
            format!("The local cloud keeps tags for SCF functions only, not for `{service}`."),
        ));
    }
    let (account, path) = rest.split_once(':').ok_or_else(bad)?;
    let uin = account.strip_prefix("uin/").ok_or_else(bad)?;
    if uin != UIN {
        return Err(ApiError::new(
            "InvalidParameterValue.UinInvalid",
            format!("Resource {resource:?} belongs to uin {uin}, not to this account ({UIN})."),
        ));
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["namespace", namespace, "function", name]
            if !region.is_empty() && !namespace.is_empty() && !name.is_empty() =>
        {
            Ok(FunctionResource {
                region,
                namespace,
                name,
            })
        }
        _ => Err(bad()),
    }
}

fn tag_list(tags: Option<Vec<TagParam>>, field: &str) -> Result<Vec<TagParam>, ApiError> {
    let Some(tags) = tags else {
        return Ok(Vec::new());
    };
    if tags.is_empty() {
        return Err(ApiError::new(
            "InvalidParameterValue.DeleteTagsParamError",
            format!("{field} may be left out but not be an empty array."),
        ));
    }
    if tags.len() > MAX_TAGS_PER_REQUEST {
        return Err(ApiError::new(
            "LimitExceeded.TagNumPerRequest",
            format!(
                "{field} holds {} tags; at most {MAX_TAGS_PER_REQUEST}.",
                tags.len()
            ),
        ));
    }
    for t in &tags {
        if t.tag_key.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::new(
                "InvalidParameterValue.TagKeyEmpty",
                format!("A tag of {field} has no TagKey."),
            ));
        }
        if field == "ReplaceTags" && t.tag_value.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::new(
                "InvalidParameterValue.TagValueEmpty",
                format!("Tag {:?} of {field} has no TagValue.", t.tag_key),
            ));
        }
    }
    Ok(tags)
}

fn modify_resource_tags(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ModifyReq = ctx.parse()?;
    let resource = required(req.resource, "Resource")?;
    let target = parse_resource(&resource)?;
    let replace = tag_list(req.replace_tags, "ReplaceTags")?;
    let delete = tag_list(req.delete_tags, "DeleteTags")?;
    if replace.is_empty() && delete.is_empty() {
        return Err(ApiError::new(
            "MissingParameter",
            "One of ReplaceTags and DeleteTags is required.",
        ));
    }
    let replaced: Vec<&str> = replace
        .iter()
        .filter_map(|t| t.tag_key.as_deref())
        .collect();
    if let Some(both) = delete
        .iter()
        .filter_map(|t| t.tag_key.as_deref())
        .find(|k| replaced.contains(k))
    {
        return Err(ApiError::new(
            "InvalidParameterValue.TagKeyDuplicate",
            format!("Tag key {both:?} is in both ReplaceTags and DeleteTags."),
        ));
    }
    let k = key(target.region, target.namespace, target.name);
    ctx.store().write(|tx| {
        let mut record = tx
            .get::<FunctionRecord>(TABLE, &k)?
            .and_then(|r| r.at(ctx.now_ms))
            .ok_or_else(|| {
                ApiError::new(
                    "ResourceNotFound.RecordNotFound",
                    format!("Resource {resource:?} does not exist."),
                )
            })?;
        // A tag is not the function's configuration: its status (and an update in progress)
        // is left as it is.
        for t in &delete {
            record
                .tags
                .retain(|kv| Some(kv.key.as_str()) != t.tag_key.as_deref());
        }
        for t in replace {
            let (Some(key), value) = (t.tag_key, t.tag_value.unwrap_or_default()) else {
                continue;
            };
            match record.tags.iter_mut().find(|kv| kv.key == key) {
                Some(kv) => kv.value = value,
                None => record.tags.push(KeyValue { key, value }),
            }
        }
        tx.put(TABLE, &k, &record)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Map::new())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescribeReq {
    service_type: Option<String>,
    resource_prefix: Option<String>,
    resource_ids: Option<Vec<String>>,
    resource_region: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

fn describe_by_ids(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: DescribeReq = ctx.parse()?;
    let service = required(req.service_type, "ServiceType")?;
    let prefix = required(req.resource_prefix, "ResourcePrefix")?;
    let ids = required(req.resource_ids, "ResourceIds")?;
    let region = required(req.resource_region, "ResourceRegion")?;
    if service != "scf" {
        return Err(ApiError::new(
            "InvalidParameterValue.ServiceTypeInvalid",
            format!("The local cloud keeps tags for SCF functions only, not for `{service}`."),
        ));
    }
    if prefix != "namespace" {
        return Err(ApiError::new(
            "InvalidParameterValue.ResourcePrefixInvalid",
            format!("SCF functions are under the prefix `namespace`, not `{prefix}`."),
        ));
    }
    let mut rows = Vec::new();
    for id in &ids {
        let Some((namespace, name)) = id.split_once("/function/") else {
            return Err(ApiError::new(
                "InvalidParameterValue.ResourceIdInvalid",
                format!("Resource id {id:?} is not NAMESPACE/function/NAME."),
            ));
        };
        let record = ctx
            .store()
            .get::<FunctionRecord>(TABLE, &key(&region, namespace, name))?
            .and_then(|r| r.at(ctx.now_ms));
        for kv in record.map(|r| r.tags).unwrap_or_default() {
            rows.push(json!({
                "TagKey": kv.key,
                "TagValue": kv.value,
                "ResourceId": id,
                "TagKeyMd5": hex::encode(<md5::Md5 as md5::Digest>::digest(kv.key.as_bytes())),
                "TagValueMd5": hex::encode(<md5::Md5 as md5::Digest>::digest(kv.value.as_bytes())),
            }));
        }
    }
    let total = rows.len();
    let offset = req.offset.unwrap_or(0) as usize;
    let limit = req.limit.unwrap_or(15).clamp(1, 1000) as usize;
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    Ok(obj(json!({
        "TotalCount": total,
        "Offset": offset,
        "Limit": limit,
        "Tags": page,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_read_from_their_six_segments() {
        let ok = format!("qcs::scf:ap-guangzhou:uin/{UIN}:namespace/default/function/ChatReg");
        assert_eq!(
            parse_resource(&ok).unwrap(),
            FunctionResource {
                region: "ap-guangzhou",
                namespace: "default",
                name: "ChatReg"
            }
        );
        let refused = [
            ("ChatReg", "InvalidParameterValue.ResourceDescriptionError"),
            (
                "qcs::cvm:ap-guangzhou:uin/1:instance/ins-1",
                "InvalidParameter.UnsupportedService",
            ),
            (
                "qcs::scf:ap-guangzhou:uin/999:namespace/default/function/f",
                "InvalidParameterValue.UinInvalid",
            ),
            (
                &format!("qcs::scf:ap-guangzhou:uin/{UIN}:function/f"),
                "InvalidParameterValue.ResourceDescriptionError",
            ),
            (
                &format!("qcs::scf::uin/{UIN}:namespace/default/function/f"),
                "InvalidParameterValue.ResourceDescriptionError",
            ),
            (
                &format!("qcs::scf:ap-guangzhou:{UIN}:namespace/default/function/f"),
                "InvalidParameterValue.ResourceDescriptionError",
            ),
        ];
        for (resource, code) in refused {
            assert_eq!(
                parse_resource(resource).unwrap_err().code,
                code,
                "{resource}"
            );
        }
    }
}
