//! What the steps of one apply share: the stack, the cloud, the journal, Ctrl-C and the
//! deadline, and what the steps learn as they go (the entry point's outputs, each function as
//! last seen settled). The function steps ([`super::functions`]) and a backend's steps
//! ([`super::backend`]) both run against it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use super::error::Error;
use super::journal::{Journal, Record};
use super::tags;
use crate::config::{Outputs, Stack};
use crate::providers::tencent::scf::FunctionInfo;
use crate::providers::tencent::{Tag, TencentCloud};

/// Shared by the steps of one apply.
#[derive(Debug)]
pub struct ApplyCx {
    /// The desired stack.
    pub stack: Stack,
    /// The cloud.
    pub cloud: TencentCloud,
    /// Ctrl-C.
    pub cancel: CancellationToken,
    journal: Journal,
    deadline: tokio::time::Instant,
    outputs: Mutex<Outputs>,
    settled: Mutex<BTreeMap<String, FunctionInfo>>,
    owner_uin: OnceCell<String>,
    progress: Mutex<Option<mpsc::UnboundedSender<Progress>>>,
}

/// A step's progress in bytes (a code upload), for the progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The step's name, as the graph knows it.
    pub step: String,
    /// Bytes done.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

impl ApplyCx {
    /// A context whose steps must end within `timeout`, starting from the outputs the plan
    /// already knows.
    pub fn new(
        stack: &Stack,
        cloud: &TencentCloud,
        journal: Journal,
        cancel: CancellationToken,
        timeout: Duration,
        outputs: Outputs,
    ) -> Self {
        ApplyCx {
            stack: stack.clone(),
            cloud: cloud.clone(),
            cancel,
            journal,
            deadline: tokio::time::Instant::now() + timeout,
            outputs: Mutex::new(outputs),
            settled: Mutex::new(BTreeMap::new()),
            owner_uin: OnceCell::new(),
            progress: Mutex::new(None),
        }
    }

    /// Where the steps' byte progress goes (see [`ApplyCx::report_progress`]).
    pub fn progress_to(&self, tx: mpsc::UnboundedSender<Progress>) {
        *self.progress.lock().expect("progress lock") = Some(tx);
    }

    /// Reports that step `step` has done `done` of `total` bytes.
    pub fn report_progress(&self, step: &str, done: u64, total: u64) {
        if let Some(tx) = &*self.progress.lock().expect("progress lock") {
            let _ = tx.send(Progress {
                step: step.to_owned(),
                done,
                total,
            });
        }
    }

    /// The account owner's UIN (CAM GetUserAppId, asked once per apply): resource
    /// descriptions for the tag service name it.
    pub async fn owner_uin(&self) -> Result<&str, Error> {
        let uin = self
            .owner_uin
            .get_or_try_init(|| async {
                let id = self.cloud.cam().get_user_app_id().await?;
                Ok::<_, Error>(if id.owner_uin.is_empty() {
                    id.uin
                } else {
                    id.owner_uin
                })
            })
            .await?;
        Ok(uin)
    }

    /// The entry point's outputs known so far.
    pub fn outputs(&self) -> Outputs {
        self.outputs.lock().expect("outputs lock").clone()
    }

    /// Learns more of the entry point's outputs.
    pub fn set_outputs(&self, f: impl FnOnce(&mut Outputs)) {
        f(&mut self.outputs.lock().expect("outputs lock"));
    }

    /// Function `name` as this apply last saw it settled.
    pub fn settled(&self, name: &str) -> Option<FunctionInfo> {
        self.settled
            .lock()
            .expect("settled lock")
            .get(name)
            .cloned()
    }

    /// Remembers function `name` settled as `info`.
    pub fn remember(&self, name: &str, info: &FunctionInfo) {
        self.settled
            .lock()
            .expect("settled lock")
            .insert(name.to_owned(), info.clone());
    }

    /// Records what now exists in the journal, at once.
    pub fn record(&self, f: impl FnOnce(&mut Record)) -> Result<(), Error> {
        Ok(self.journal.update(f)?)
    }

    /// Time left before the deadline (at least a millisecond).
    pub fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(1))
    }

    /// The stack and stage tags.
    pub fn tags(&self) -> Vec<Tag> {
        vec![
            Tag::new(tags::STACK, &self.stack.name),
            Tag::new(tags::STAGE, &self.stack.stage),
        ]
    }
}
