//! What every SCF action shares: the `FunctionName`/`Namespace`/`Qualifier` triple resolved to a
//! record ([`FunctionRef`]), the errors for a missing or busy function, the namespace rule,
//! and the reaping of records whose `Deleting` is over.

use serde::Deserialize;

use super::super::context::{Ctx, required};
use super::super::error::ApiError;
use crate::localcloud::model::function::{
    DEFAULT_NAMESPACE, FunctionRecord, Status, TABLE, lookup,
};
use crate::localcloud::store::StoreError;

/// Removes records whose `Deleting` is over, and their code blobs.
pub(super) fn reap(ctx: &Ctx) -> Result<(), ApiError> {
    let store = ctx.store();
    let done: Vec<String> = store
        .scan::<FunctionRecord>(TABLE, "", None, usize::MAX)?
        .into_iter()
        .filter(|(_, r)| r.clone().at(ctx.now_ms).is_none())
        .map(|(k, _)| k)
        .collect();
    if done.is_empty() {
        return Ok(());
    }
    let blobs = store.write(|tx| -> Result<Vec<String>, StoreError> {
        let mut blobs = Vec::new();
        for k in &done {
            // Re-read inside the transaction: the name may have been reused meanwhile.
            if let Some(r) = tx.get::<FunctionRecord>(TABLE, k)?
                && r.clone().at(ctx.now_ms).is_none()
            {
                tx.delete(TABLE, k)?;
                blobs.push(r.code_blob);
            }
        }
        Ok(blobs)
    })?;
    for b in blobs {
        store.delete_blob(&b);
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct FunctionRef {
    pub(super) function_name: Option<String>,
    pub(super) namespace: Option<String>,
    pub(super) qualifier: Option<String>,
}

impl FunctionRef {
    pub(super) fn resolve(self, ctx: &Ctx) -> Result<(String, String, FunctionRecord), ApiError> {
        let name = required(self.function_name, "FunctionName")?;
        let namespace = namespace(self.namespace)?;
        if let Some(q) = self.qualifier.as_deref()
            && q != "$LATEST"
            && q != "$DEFAULT"
        {
            return Err(ApiError::new(
                "ResourceNotFound.Version",
                format!("The version `{q}` of function `{name}` does not exist."),
            ));
        }
        let record = lookup(ctx.store(), &ctx.region, &namespace, &name, ctx.now_ms)?
            .ok_or_else(|| not_found(&name, &namespace))?;
        Ok((name, namespace, record))
    }
}

pub(super) fn not_found(name: &str, namespace: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFound.Function",
        format!("The function `{name}` does not exist in namespace `{namespace}`."),
    )
}

pub(super) fn not_active(code: &'static str, name: &str, status: Status) -> ApiError {
    ApiError::new(
        code,
        format!(
            "The function `{name}` is {}; retry when its status is Active.",
            status.as_str()
        ),
    )
}

pub(super) fn namespace(ns: Option<String>) -> Result<String, ApiError> {
    match ns.as_deref() {
        None | Some("") | Some(DEFAULT_NAMESPACE) => Ok(DEFAULT_NAMESPACE.to_owned()),
        Some(other) => Err(ApiError::new(
            "ResourceNotFound.Namespace",
            format!("The namespace `{other}` does not exist."),
        )),
    }
}

pub(super) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// `Offset` (≥ 0, default 0) and `Limit` (0–100, default 20) of a list action, as
/// `(skip, take)`.
pub(super) fn page(offset: Option<i64>, limit: Option<i64>) -> Result<(usize, usize), ApiError> {
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::new(
            "InvalidParameterValue.Offset",
            "Offset must be >= 0.",
        ));
    }
    let limit = limit.unwrap_or(20);
    if !(0..=100).contains(&limit) {
        return Err(ApiError::new(
            "InvalidParameterValue.Limit",
            "Limit must be between 0 and 100.",
        ));
    }
    Ok((
        usize::try_from(offset).unwrap_or(usize::MAX),
        usize::try_from(limit).unwrap_or(0),
    ))
}

/// Whether a list action's `Order` (`ASC`/`DESC`, any case, default and empty `DESC`) is
/// descending.
pub(super) fn descending(order: Option<&str>) -> Result<bool, ApiError> {
    match order.map(str::to_ascii_uppercase).as_deref() {
        None | Some("" | "DESC") => Ok(true),
        Some("ASC") => Ok(false),
        Some(_) => Err(ApiError::new(
            "InvalidParameterValue.Order",
            format!("Order `{}` must be ASC or DESC.", order.unwrap_or_default()),
        )),
    }
}
