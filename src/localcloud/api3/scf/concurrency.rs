//! Reserved concurrency: PutReservedConcurrencyConfig, GetReservedConcurrencyConfig and
//! DeleteReservedConcurrencyConfig.
//!
//! The cloud's unit is memory: `ReservedConcurrencyMem` (MB) is what the function's instances
//! may hold at once, so the number of requests it runs at once is that memory over its
//! `MemorySize` [SDK]. The record stores that number (`reserved_concurrency`, what the data
//! plane enforces); the memory must therefore be a multiple of `MemorySize`, and
//! GetReservedConcurrencyConfig answers `ReservedMem` = count × the current `MemorySize` (a
//! later MemorySize change keeps the count, not the memory: assumed). The account's total is
//! taken as 128000 MB, of which at most total − 12800 may be reserved [SDK model text; the
//! 128000 default is assumed].

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::context::{Ctx, obj, required};
use super::super::error::ApiError;
use super::common::{namespace, not_found};
use crate::localcloud::model::function::{FunctionRecord, TABLE, key};

/// The account's concurrency memory (MB), and what may be reserved of it.
const TOTAL_MEM_MB: u64 = 128_000;
const RESERVABLE_MEM_MB: u64 = TOTAL_MEM_MB - 12_800;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ReservedReq {
    function_name: Option<String>,
    namespace: Option<String>,
    reserved_concurrency_mem: Option<i64>,
}

/// Applies `change` to the live function record (any status but Deleting).
fn update(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    change: impl FnOnce(&mut FunctionRecord, u64) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let k = key(&ctx.region, ns, name);
    ctx.store().write(|tx| {
        let others: u64 = tx
            .scan::<FunctionRecord>(TABLE)?
            .into_iter()
            .filter_map(|r| r.at(ctx.now_ms))
            .filter(|r| key(&r.region, &r.namespace, &r.name) != k)
            .map(|r| u64::from(r.reserved_concurrency.unwrap_or(0)) * u64::from(r.memory_size))
            .sum();
        let mut r = tx
            .get::<FunctionRecord>(TABLE, &k)?
            .and_then(|r| r.at(ctx.now_ms))
            .ok_or_else(|| not_found(name, ns))?;
        change(&mut r, others)?;
        tx.put(TABLE, &k, &r)?;
        Ok(())
    })
}

pub(super) fn put_reserved(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ReservedReq = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let ns = namespace(req.namespace)?;
    let mem = required(req.reserved_concurrency_mem, "ReservedConcurrencyMem")?;
    let mem = u64::try_from(mem)
        .map_err(|_| ApiError::invalid(format!("ReservedConcurrencyMem {mem} must be >= 0.")))?;
    update(ctx, &ns, &name, |r, others| {
        let per = u64::from(r.memory_size);
        if mem % per != 0 {
            return Err(ApiError::invalid(format!(
                "ReservedConcurrencyMem {mem} must be a multiple of the function's MemorySize \
                 ({per} MB): the local cloud reserves whole instances."
            )));
        }
        if mem > RESERVABLE_MEM_MB {
            return Err(ApiError::new(
                "LimitExceeded.FunctionReservedConcurrencyMemory",
                format!("ReservedConcurrencyMem {mem} is over {RESERVABLE_MEM_MB} MB."),
            ));
        }
        if others + mem > RESERVABLE_MEM_MB {
            return Err(ApiError::new(
                "FailedOperation.ReservedExceedTotal",
                format!(
                    "Other functions reserve {others} MB: with {mem} MB more the account would \
                     reserve over {RESERVABLE_MEM_MB} MB."
                ),
            ));
        }
        r.reserved_concurrency = Some(u32::try_from(mem / per).unwrap_or(u32::MAX));
        Ok(())
    })?;
    Ok(Map::new())
}

pub(super) fn get_reserved(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ReservedReq = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let ns = namespace(req.namespace)?;
    let r = crate::localcloud::model::function::lookup(
        ctx.store(),
        &ctx.region,
        &ns,
        &name,
        ctx.now_ms,
    )?
    .ok_or_else(|| not_found(&name, &ns))?;
    let mem = r
        .reserved_concurrency
        .map(|n| u64::from(n) * u64::from(r.memory_size));
    Ok(obj(json!({ "ReservedMem": mem })))
}

pub(super) fn delete_reserved(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ReservedReq = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let ns = namespace(req.namespace)?;
    update(ctx, &ns, &name, |r, _| {
        r.reserved_concurrency = None;
        Ok(())
    })?;
    Ok(Map::new())
}
