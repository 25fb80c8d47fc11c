//! The local record of a deployment, and the lock that keeps two runs apart.
//!
//! The cloud is the source of truth (resources are found by name and tags), so a fresh checkout
//! with no `.chatstack/` still finds everything. The journal is a cache of ids that lets a rerun
//! resume without searching, written the moment each resource exists, atomically (write a temp
//! file, fsync, rename) so a crash never leaves it torn.
//!
//! The lock is an OS file lock (`File::try_lock`) on `.chatstack/{stack}.{stage}.lock`: the
//! kernel releases it when the holder exits for any reason, `kill -9` included, so a stale lock
//! cannot outlive its process. The file also records who holds it, for the error message.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Journal and lock failures.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum JournalError {
    /// Another deploy or remove of the same stack and stage is running.
    #[error("another chatstack run holds the lock for stack {stack}, stage {stage}: {holder}")]
    #[diagnostic(
        code(chatstack::locked),
        help(
            "wait for it to finish and run the command again; the lock is released as soon as that process exits"
        )
    )]
    Locked {
        /// Stack name.
        stack: String,
        /// Stage name.
        stage: String,
        /// Who holds it (pid, command, since).
        holder: String,
    },
    /// The state directory could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Ids of what exists, as last seen by this machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", from = "Stored")]
pub struct Record {
    /// Full bucket id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The WebSocket entry point's ids and outputs, as its backend names them (API Gateway:
    /// `serviceId`, `apiId`, `pushbackUrl`). The engine only keeps them; the backend reads
    /// them back as hints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entry: BTreeMap<String, String>,
    /// Functions that exist, by name, with their code hash.
    #[serde(default)]
    pub functions: BTreeMap<String, String>,
    /// The files of each function's last deployed package and their SHA-256, so that `plan`
    /// can say which file of a shared `codeUri` changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub code_files: BTreeMap<String, BTreeMap<String, String>>,
    /// What each function's last deployed package installed from `requirements.txt`, so that
    /// `plan` can name the pins that change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, crate::package::Dependencies>,
}

/// A record as read from disk: today's shape, or the one written before the entry point's
/// ids moved under `entry` (top-level `serviceId`, `apiId`, `pushbackUrl`), so an existing
/// `.chatstack/` keeps working.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    entry: BTreeMap<String, String>,
    #[serde(default)]
    service_id: Option<String>,
    #[serde(default)]
    api_id: Option<String>,
    #[serde(default)]
    pushback_url: Option<String>,
    #[serde(default)]
    functions: BTreeMap<String, String>,
    #[serde(default)]
    code_files: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    dependencies: BTreeMap<String, crate::package::Dependencies>,
}

impl From<Stored> for Record {
    fn from(s: Stored) -> Self {
        let mut entry = s.entry;
        for (key, old) in [
            ("serviceId", s.service_id),
            ("apiId", s.api_id),
            ("pushbackUrl", s.pushback_url),
        ] {
            if let Some(v) = old {
                entry.entry(key.to_owned()).or_insert(v);
            }
        }
        Record {
            bucket: s.bucket,
            entry,
            functions: s.functions,
            code_files: s.code_files,
            dependencies: s.dependencies,
        }
    }
}

impl Record {
    /// Records that function `name` now runs `package`.
    pub fn code_deployed(&mut self, name: &str, package: &crate::package::Package) {
        self.functions
            .insert(name.to_owned(), package.sha256.clone());
        self.code_files
            .insert(name.to_owned(), package.file_hashes.clone());
        match &package.dependencies {
            Some(d) => {
                self.dependencies.insert(name.to_owned(), d.clone());
            }
            None => {
                self.dependencies.remove(name);
            }
        }
    }

    /// The dependencies this record says function `name` runs, when it runs code
    /// `deployed_sha256` as far as the record knows.
    pub fn deployed_dependencies(
        &self,
        name: &str,
        deployed_sha256: Option<&str>,
    ) -> Option<&crate::package::Dependencies> {
        let deployed = deployed_sha256?;
        if self.functions.get(name).map(String::as_str) != Some(deployed) {
            return None;
        }
        self.dependencies.get(name)
    }

    /// The files of `package` that differ from what was last deployed as function `name`
    /// with code `deployed_sha256` (added, changed or removed), or nothing when this record
    /// does not know that version.
    pub fn changed_files(
        &self,
        name: &str,
        deployed_sha256: Option<&str>,
        package: &crate::package::Package,
    ) -> Vec<String> {
        let (Some(known), Some(deployed)) = (self.code_files.get(name), deployed_sha256) else {
            return Vec::new();
        };
        if self.functions.get(name).map(String::as_str) != Some(deployed) {
            return Vec::new();
        }
        let mut changed: Vec<String> = package
            .file_hashes
            .iter()
            .filter(|(path, sha)| known.get(*path) != Some(*sha))
            .map(|(path, _)| path.clone())
            .collect();
        changed.extend(
            known
                .keys()
                .filter(|p| !package.file_hashes.contains_key(*p))
                .map(|p| format!("{p} (removed)")),
        );
        changed.sort();
        changed
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        *self == Record::default()
    }
}

/// The journal file of one stack and stage.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Serialises [`Journal::update`]: concurrent steps read, change and write the file whole.
    writing: std::sync::Mutex<()>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Journal {
    /// The journal in `state_dir` (`.chatstack/` beside the stack file).
    pub fn new(state_dir: &Path, stack: &str, stage: &str) -> Self {
        Journal {
            path: state_dir.join(format!("{stack}.{stage}.json")),
            writing: std::sync::Mutex::new(()),
        }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded state; empty when there is no journal yet.
    pub fn load(&self) -> Result<Record, JournalError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(io(&self.path)(e)),
        }
    }

    /// Reads, changes and writes the record as one step, so concurrent updates (the steps of
    /// one apply) never write an older record over a newer one.
    pub fn update(&self, f: impl FnOnce(&mut Record)) -> Result<(), JournalError> {
        let _one_at_a_time = self.writing.lock().expect("journal lock");
        let mut record = self.load()?;
        f(&mut record);
        self.save(&record)
    }

    /// Replaces the recorded state atomically; an empty record removes the file.
    pub fn save(&self, record: &Record) -> Result<(), JournalError> {
        if record.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.path)(e)),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            crate::secret::create_private_dir(dir).map_err(io(dir))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(record).expect("record serializes");
        let mut f = crate::secret::private_file().open(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))
    }
}

/// Held while a deploy or remove runs; released on drop or when the process dies.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Lock {
    /// Takes the lock of `stack`/`stage` in `state_dir`, or says who holds it.
    pub fn acquire(
        state_dir: &Path,
        stack: &str,
        stage: &str,
        command: &str,
    ) -> Result<Lock, JournalError> {
        crate::secret::create_private_dir(state_dir).map_err(io(state_dir))?;
        let path = state_dir.join(format!("{stack}.{stage}.lock"));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(JournalError::Locked {
                    stack: stack.to_owned(),
                    stage: stage.to_owned(),
                    holder: if holder.is_empty() {
                        "unknown process".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let since = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let who = format!(
            "`chatstack {command}` (pid {}) since {since}",
            std::process::id()
        );
        file.set_len(0).map_err(io(&path))?;
        file.rewind().map_err(io(&path))?;
        file.write_all(who.as_bytes()).map_err(io(&path))?;
        Ok(Lock { file })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(sha: &str, files: &[(&str, &str)]) -> crate::package::Package {
        crate::package::Package {
            zip: Vec::new(),
            sha256: sha.to_owned(),
            file_count: files.len(),
            files: files.iter().map(|(p, _)| (*p).to_owned()).collect(),
            file_hashes: files
                .iter()
                .map(|(p, h)| ((*p).to_owned(), (*h).to_owned()))
                .collect(),
            dependencies: None,
        }
    }

    #[test]
    fn changed_files_are_named_only_for_the_version_recorded() {
        let mut r = Record::default();
        r.code_deployed(
            "t",
            &package("v1", &[("a.py", "1"), ("b.py", "1"), ("c.py", "1")]),
        );
        let next = package("v2", &[("a.py", "1"), ("b.py", "2"), ("d.py", "1")]);
        let cases: &[(Option<&str>, &[&str])] = &[
            (Some("v1"), &["b.py", "c.py (removed)", "d.py"]),
            // Deployed from elsewhere since: what changed is unknown here.
            (Some("v0"), &[]),
            (None, &[]),
        ];
        for (deployed, want) in cases {
            assert_eq!(
                r.changed_files("t", *deployed, &next),
                *want,
                "{deployed:?}"
            );
        }
        assert!(r.changed_files("other", Some("v1"), &next).is_empty());
    }

    #[test]
    fn journal_round_trips_and_empties() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path(), "ChatDemo", "dev");
        assert!(j.load().unwrap().is_empty());
        let mut r = Record::default();
        r.entry.insert("serviceId".into(), "service-abc".into());
        r.functions.insert("ChatReg".into(), "ab12".into());
        j.save(&r).unwrap();
        assert_eq!(j.load().unwrap(), r);
        j.update(|r| {
            r.functions.remove("ChatReg");
        })
        .unwrap();
        assert_eq!(
            j.load().unwrap().entry.get("serviceId").map(String::as_str),
            Some("service-abc")
        );
        assert!(j.load().unwrap().functions.is_empty());
        j.save(&Record::default()).unwrap();
        assert!(!j.path().exists());
    }

    #[test]
    fn a_journal_written_before_entry_ids_moved_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path(), "ChatDemo", "dev");
        std::fs::write(
            j.path(),
            r#"{"bucket":"chat-1250000000","serviceId":"service-abc","apiId":"api-1",
                "pushbackUrl":"http://set-abc/api-1","functions":{"ChatReg":"ab12"}}"#,
        )
        .unwrap();
        let r = j.load().unwrap();
        let entry: Vec<(&str, &str)> = r
            .entry
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            entry,
            [
                ("apiId", "api-1"),
                ("pushbackUrl", "http://set-abc/api-1"),
                ("serviceId", "service-abc")
            ]
        );
        assert_eq!(r.bucket.as_deref(), Some("chat-1250000000"));
        assert_eq!(r.functions.get("ChatReg").map(String::as_str), Some("ab12"));
        // Written back in today's shape, and read again the same.
        j.save(&r).unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(
            text.contains("\"entry\"")
                && !text.contains("\"serviceId\": \"service-abc\",\n  \"apiId"),
            "{text}"
        );
        assert_eq!(j.load().unwrap(), r);
    }

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path(), "S", "dev", "deploy").unwrap();
        let err = Lock::acquire(dir.path(), "S", "dev", "remove").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("chatstack deploy") && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
        // Another stage is independent.
        let _other = Lock::acquire(dir.path(), "S", "prod", "deploy").unwrap();
        drop(first);
        Lock::acquire(dir.path(), "S", "dev", "remove").unwrap();
    }
}
