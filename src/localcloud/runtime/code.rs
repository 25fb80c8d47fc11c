//! A function's code on disk, as workers import it: the zip blob unpacked once into
//! `{data dir}/code/{blob stem}/` (blobs are content-addressed and never change), unpacked code
//! of deleted blobs swept at the first use after a start, and the embedded worker bootstrap
//! written once per content.

use std::path::{Path, PathBuf};

use super::protocol;
use super::types::InvokeError;
use crate::localcloud::model::function::FunctionRecord;
use crate::localcloud::store::Store;

/// The embedded worker bootstrap.
pub const BOOTSTRAP_PY: &str = include_str!("../../../functions/_runtime/bootstrap.py");

/// Removes unpacked code whose blob no longer exists (functions deleted or updated before
/// this start; directories of this run's old versions stay until the next start, as their
/// draining workers may still import from them).
pub(super) fn sweep(data_dir: &Path, store: &Store) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("code")) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let orphan = name.starts_with('.') || !store.blob_path(&format!("{name}.zip")).exists();
        if orphan {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `{data dir}/code/{blob stem}/`, unpacked once (blobs are immutable).
pub(super) async fn unpack(
    data_dir: &Path,
    store: &Store,
    record: &FunctionRecord,
) -> Result<PathBuf, InvokeError> {
    let stem = record.code_blob.trim_end_matches(".zip").to_owned();
    let dir = data_dir.join("code").join(&stem);
    if dir.is_dir() {
        return Ok(dir);
    }
    let zip_path = store.blob_path(&record.code_blob);
    let name = record.name.clone();
    let target = dir.clone();
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        let tmp = target.with_file_name(format!(".{stem}.tmp-{}", uuid::Uuid::new_v4().simple()));
        let file =
            std::fs::File::open(&zip_path).map_err(|e| format!("{}: {e}", zip_path.display()))?;
        let mut archive =
            zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
        archive.extract(&tmp).map_err(|e| e.to_string())?;
        if let Err(e) = std::fs::rename(&tmp, &target) {
            let _ = std::fs::remove_dir_all(&tmp);
            if !target.is_dir() {
                return Err(format!("{}: {e}", target.display()));
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| InvokeError::Internal(e.to_string()))?
    .map_err(|reason| InvokeError::CodeUnreadable { name, reason })?;
    Ok(dir)
}

/// Writes the embedded bootstrap under `{data dir}/runtime/` (once per content) and returns
/// its path.
pub(super) fn bootstrap_file(data_dir: &Path) -> Result<PathBuf, InvokeError> {
    let digest = crate::providers::tencent::tc3::sha256_hex(BOOTSTRAP_PY.as_bytes());
    let dir = data_dir.join("runtime");
    let path = dir.join(format!(
        "bootstrap-v{}-{}.py",
        protocol::PROTOCOL_VERSION,
        &digest[..12]
    ));
    if path.is_file() {
        return Ok(path);
    }
    let io = |e: std::io::Error| InvokeError::Internal(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, BOOTSTRAP_PY).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

/// Makes the socket directory private to us.
pub(super) fn restrict(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
