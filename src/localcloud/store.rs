//! Persistence for the local cloud: one embedded transactional database (redb) in the data dir.
//!
//! Every acknowledged change is committed (fsync'd) before the response goes out, so a `kill -9`
//! at any moment loses nothing that was acknowledged. Values are JSON documents in named
//! tables, keyed by strings; each surface (api3, cos, …) owns its tables. Large blobs (COS
//! object bodies, code zips) live as files beside the database and are written, fsync'd and
//! renamed into place *before* the transaction that references them commits.
//!
//! Each table has a [`Revision`]: a counter bumped after every committed transaction that
//! wrote to it. A reader that caches what it derived from a table (the function runtime its
//! workers, per function record) checks the counter, one atomic load, instead of reading the
//! table again: the control plane writes records, the data plane only reads them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Store failures; surfaced to clients as the cloud's `InternalError`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("local cloud database: {0}")]
    Db(String),
    /// A stored document did not decode.
    #[error("local cloud database: corrupt record {table}/{key}: {source}")]
    Decode {
        /// Table.
        table: String,
        /// Key.
        key: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A blob file failed.
    #[error("local cloud data file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A cheap-clone handle on the database and the blob directory.
#[derive(Clone, Debug)]
pub struct Store {
    db: Arc<Database>,
    dir: PathBuf,
    /// Table name → its revision counter (made on first use).
    revisions: Arc<Mutex<HashMap<String, Revision>>>,
}

/// How many committed transactions wrote to one table since the store was opened: cheap to
/// clone and to read ([`Revision::get`] is one atomic load). A reader that sees the same value
/// before two reads of the table knows nothing was committed to it in between; one that reads
/// the value *before* reading the table and keeps both never holds data older than the value.
#[derive(Debug, Clone, Default)]
pub struct Revision(Arc<AtomicU64>);

impl Revision {
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_owned(),
            source,
        };
        crate::secret::create_private_dir(dir).map_err(io)?;
        crate::secret::create_private_dir(&dir.join("blobs")).map_err(io)?;
        let db = Database::create(dir.join("localcloud.redb"))?;
        crate::secret::make_private(&dir.join("localcloud.redb")).map_err(io)?;
        Ok(Store {
            db: Arc::new(db),
            dir: dir.to_owned(),
            revisions: Arc::default(),
        })
    }

    /// The revision counter of `table_name` (see [`Revision`]).
    pub fn revision(&self, table_name: &str) -> Revision {
        self.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(table_name.to_owned())
            .or_default()
            .clone()
    }

    /// Reads one document.
    pub fn get<T: DeserializeOwned>(
        &self,
        table_name: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = match tx.open_table(table(table_name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match t.get(key)? {
            Some(v) => decode(table_name, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Documents whose key starts with `prefix`, in key order, strictly after `after`, at most
    /// `limit` of them.
    pub fn scan<T: DeserializeOwned>(
        &self,
        table_name: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = match tx.open_table(table(table_name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let start = match after {
            Some(a) if a >= prefix => a,
            _ => prefix,
        };
        let mut out = Vec::new();
        for item in t.range(start..)? {
            let (k, v) = item?;
            let key = k.value();
            if Some(key) == after {
                continue;
            }
            if !key.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((key.to_owned(), decode(table_name, key, v.value())?));
        }
        Ok(out)
    }

    /// Runs `f` in one write transaction and commits it durably; nothing is written if `f` fails.
    pub fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let tx = self.db.begin_write().map_err(StoreError::from)?;
        let (result, written) = {
            let mut txn = Txn {
                tx: &tx,
                written: Vec::new(),
            };
            let result = f(&mut txn)?;
            (result, txn.written)
        };
        tx.commit().map_err(StoreError::from)?;
        // After the commit: a reader that sees the new value reads the new data.
        for table_name in written {
            self.revision(&table_name).bump();
        }
        Ok(result)
    }

    /// Where blob `name` lives (a file under `blobs/`).
    pub fn blob_path(&self, name: &str) -> PathBuf {
        self.dir.join("blobs").join(name)
    }

    /// Writes a blob durably (temp file, fsync, rename) and returns its path. Call before the
    /// transaction that references it.
    pub fn put_blob(&self, name: &str, data: &[u8]) -> Result<PathBuf, StoreError> {
        use std::io::Write;
        let path = self.blob_path(name);
        let tmp = path.with_extension("tmp");
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut f = crate::secret::private_file().open(&tmp).map_err(io)?;
        f.write_all(data).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        // The rename itself is durable only once the directory is.
        #[cfg(unix)]
        std::fs::File::open(self.dir.join("blobs"))
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(path)
    }

    /// Makes the (already fsync'd) file `from`, in the blob directory, blob `name` by renaming
    /// it, durably. Call before the transaction that references it.
    pub fn put_blob_file(&self, name: &str, from: &Path) -> Result<PathBuf, StoreError> {
        let path = self.blob_path(name);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::rename(from, &path).map_err(io)?;
        #[cfg(unix)]
        std::fs::File::open(self.dir.join("blobs"))
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(path)
    }

    /// Removes a blob; a missing one is fine.
    pub fn delete_blob(&self, name: &str) {
        let _ = std::fs::remove_file(self.blob_path(name));
    }
}

/// A write transaction in progress.
pub struct Txn<'a> {
    tx: &'a redb::WriteTransaction,
    /// Tables written to, for their revisions.
    written: Vec<String>,
}

impl std::fmt::Debug for Txn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Txn")
    }
}

impl Txn<'_> {
    fn writes(&mut self, table_name: &str) {
        if !self.written.iter().any(|t| t == table_name) {
            self.written.push(table_name.to_owned());
        }
    }

    /// Reads a document inside the transaction (sees its own writes).
    pub fn get<T: DeserializeOwned>(
        &mut self,
        table_name: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let t = self.tx.open_table(table(table_name))?;
        let v = t.get(key)?;
        match v {
            Some(v) => decode(table_name, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every document of a table, in key order (inside the transaction).
    pub fn scan<T: DeserializeOwned>(&mut self, table_name: &str) -> Result<Vec<T>, StoreError> {
        let t = self.tx.open_table(table(table_name))?;
        let mut out = Vec::new();
        for item in t.range::<&str>(..)? {
            let (k, v) = item?;
            out.push(decode(table_name, k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Inserts or replaces a document.
    pub fn put<T: Serialize>(
        &mut self,
        table_name: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Decode {
            table: table_name.to_owned(),
            key: key.to_owned(),
            source,
        })?;
        self.writes(table_name);
        let mut t = self.tx.open_table(table(table_name))?;
        t.insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Deletes a document; returns whether it existed.
    pub fn delete(&mut self, table_name: &str, key: &str) -> Result<bool, StoreError> {
        self.writes(table_name);
        let mut t = self.tx.open_table(table(table_name))?;
        let existed = t.remove(key)?.is_some();
        Ok(existed)
    }

    /// Removes every document whose key starts with `prefix` and returns them in key order.
    pub fn take_prefix<T: DeserializeOwned>(
        &mut self,
        table_name: &str,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.writes(table_name);
        let mut t = self.tx.open_table(table(table_name))?;
        let mut taken = Vec::new();
        for item in t.range(prefix..)? {
            let (k, v) = item?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            taken.push((key.to_owned(), decode(table_name, key, v.value())?));
        }
        for (key, _) in &taken {
            t.remove(key.as_str())?;
        }
        Ok(taken)
    }

    /// Whether any key starts with `prefix`.
    pub fn any_with_prefix(&mut self, table_name: &str, prefix: &str) -> Result<bool, StoreError> {
        let t = self.tx.open_table(table(table_name))?;
        let mut range = t.range(prefix..)?;
        Ok(match range.next() {
            Some(item) => item?.0.value().starts_with(prefix),
            None => false,
        })
    }
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        table: table.to_owned(),
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tables_revision_moves_with_each_commit_that_wrote_to_it_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (store.revision("a"), store.revision("b"));
        assert_eq!((a.get(), b.get()), (0, 0));
        store
            .write(|t| -> Result<(), StoreError> {
                t.put("a", "k", &1)?;
                t.put("a", "l", &2)
            })
            .unwrap();
        assert_eq!((a.get(), b.get()), (1, 0), "one commit, however many puts");
        store
            .write(|t| -> Result<bool, StoreError> { t.delete("b", "nothing") })
            .unwrap();
        assert_eq!((a.get(), b.get()), (1, 1));
        let failed = store.write(|t| -> Result<(), StoreError> {
            t.put("a", "k", &3)?;
            Err(StoreError::Db("refused".into()))
        });
        assert!(failed.is_err());
        assert_eq!(a.get(), 1, "a transaction that failed committed nothing");
        store
            .write(|t| -> Result<Option<u32>, StoreError> { t.get("a", "k") })
            .unwrap();
        assert_eq!(a.get(), 1, "reads are no writes");
        assert_eq!(
            store.clone().revision("a").get(),
            1,
            "clones share counters"
        );
    }

    #[test]
    fn writes_survive_reopen_and_scans_page_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .write(|tx| -> Result<(), StoreError> {
                    for k in ["b/2", "a/1", "b/1", "c"] {
                        tx.put("t", k, &k.to_owned())?;
                    }
                    Ok(())
                })
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let page: Vec<(String, String)> = store.scan("t", "b/", None, 10).unwrap();
        assert_eq!(
            page.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["b/1", "b/2"]
        );
        let after: Vec<(String, String)> = store.scan("t", "", Some("b/1"), 10).unwrap();
        assert_eq!(
            after.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["b/2", "c"]
        );
        assert_eq!(
            store.get::<String>("t", "a/1").unwrap().as_deref(),
            Some("a/1")
        );
        assert_eq!(store.get::<String>("missing", "x").unwrap(), None);
    }

    #[test]
    fn take_prefix_removes_and_returns_only_that_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let taken: Vec<(String, i32)> = store
            .write(|tx| -> Result<_, StoreError> {
                for (i, k) in ["a", "b\0x", "b\0y", "c"].iter().enumerate() {
                    tx.put("t", k, &(i as i32))?;
                }
                tx.take_prefix("t", "b\0")
            })
            .unwrap();
        assert_eq!(taken, [("b\0x".to_owned(), 1), ("b\0y".to_owned(), 2)]);
        let left: Vec<(String, i32)> = store.scan("t", "", None, 10).unwrap();
        assert_eq!(left.len(), 2);
    }

    #[test]
    fn a_failed_transaction_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.put("t", "k", &1)?;
            Err(StoreError::Db("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(store.get::<i32>("t", "k").unwrap(), None);
    }
}
