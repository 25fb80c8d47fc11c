//! The live connection table: for each API, its open connections by `secConnectionID`.
//!
//! Each entry holds the sending half of the connection's bounded outbound queue and its close
//! control; the connection task owns the receiving half and the socket. Pushes only enqueue
//! (`try_send`), so a push never waits for a socket write and a slow client never delays
//! pushes to the others.
//!
//! Locking: one `std::sync::Mutex<HashMap>` per API. Every critical section is a hash-map
//! operation plus at most one non-blocking `try_send`; no lock is ever held across an
//! `.await`, so an async mutex would only add cost, and a sharded map would buy little for
//! critical sections this short.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::extract::ws::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// WebSocket close code for a server-side `closing` push (normal closure).
pub const CLOSE_NORMAL: u16 = 1000;
/// WebSocket close code for an idle connection (going away).
pub const CLOSE_IDLE: u16 = 1001;
/// WebSocket close code for a client breaking the protocol (a reserved opcode, say).
pub const CLOSE_PROTOCOL: u16 = 1002;
/// WebSocket close code for a text message that is not UTF-8 (invalid frame payload data).
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// WebSocket close code for an overflowing outbound queue (policy violation).
pub const CLOSE_OVERFLOW: u16 = 1008;
/// WebSocket close code for an oversize client frame (message too big).
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Something for the connection task to write, in queue order.
#[derive(Debug)]
pub(super) enum Outbound {
    /// A data frame from a push.
    Frame(Message),
    /// A `closing` push: close after the frames queued before it.
    Close,
}

/// How the connection task must end the connection when told to close *now*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseNow {
    /// Send a close frame with this code and reason, then drop the socket.
    Frame(u16, &'static str),
    /// Drop the socket without a close frame (the cloud "sends FIN").
    Fin,
}

/// Tells the connection task to close now, bypassing the queue.
#[derive(Debug, Default)]
pub(super) struct Control {
    token: CancellationToken,
    how: OnceLock<CloseNow>,
}

impl Control {
    /// Asks for an immediate close; the first request wins.
    pub(super) fn close_now(&self, how: CloseNow) {
        let _ = self.how.set(how);
        self.token.cancel();
    }

    /// How to close, if a close was asked for.
    pub(super) fn requested(&self) -> Option<CloseNow> {
        self.token
            .is_cancelled()
            .then(|| self.how.get().copied().unwrap_or(CloseNow::Fin))
    }

    /// Resolves once a close was asked for, with how.
    pub(super) async fn closed(&self) -> CloseNow {
        self.token.cancelled().await;
        self.how.get().copied().unwrap_or(CloseNow::Fin)
    }
}

/// A live connection as the table sees it.
#[derive(Debug, Clone)]
pub(super) struct ConnHandle {
    pub(super) tx: mpsc::Sender<Outbound>,
    pub(super) control: Arc<Control>,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PushOutcome {
    /// Queued for the socket.
    Queued,
    /// No such connection (never was, or already closed).
    NotFound,
    /// The queue was full: the connection is being closed with [`CLOSE_OVERFLOW`].
    Overflow,
}

/// The open connections of one API.
#[derive(Debug, Default)]
pub(super) struct ApiConnections {
    conns: Mutex<HashMap<String, ConnHandle>>,
    /// Connections admitted (reserved at handshake, released when the connection ends); may
    /// run ahead of `conns` while register functions run.
    admitted: AtomicUsize,
}

impl ApiConnections {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, ConnHandle>> {
        // A panic while holding this lock cannot leave the map half-updated (single
        // operations), so a poisoned lock is still usable.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits one more connection unless `max` are already admitted.
    pub(super) fn try_admit(&self, max: usize) -> bool {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Admitted connections (open, opening, or still running their cleanup).
    pub(super) fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Tells every published connection to close now with `how` (they unpublish themselves).
    pub(super) fn close_all(&self, how: CloseNow) {
        for handle in self.lock().values() {
            handle.control.close_now(how);
        }
    }

    /// Gives back an admission.
    pub(super) fn release(&self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }

    /// Publishes a connection so pushes reach it.
    pub(super) fn insert(&self, id: &str, handle: ConnHandle) {
        self.lock().insert(id.to_owned(), handle);
    }

    /// Unpublishes a connection; later pushes get "connection not found".
    pub(super) fn remove(&self, id: &str) -> Option<ConnHandle> {
        self.lock().remove(id)
    }

    /// Number of published connections.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The published connection ids.
    pub(super) fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Queues `msg` for connection `id`. A full queue closes that connection (policy in
    /// [`super`]): it is unpublished at once and told to close with [`CLOSE_OVERFLOW`].
    pub(super) fn push(&self, id: &str, msg: Message) -> PushOutcome {
        let mut conns = self.lock();
        let Some(handle) = conns.get(id) else {
            return PushOutcome::NotFound;
        };
        match handle.tx.try_send(Outbound::Frame(msg)) {
            Ok(()) => PushOutcome::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if let Some(h) = conns.remove(id) {
                    h.control
                        .close_now(CloseNow::Frame(CLOSE_OVERFLOW, "outbound queue full"));
                }
                PushOutcome::Overflow
            }
            // The connection task is gone and its guard has not unpublished it yet.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                conns.remove(id);
                PushOutcome::NotFound
            }
        }
    }

    /// A server-side `closing` push: unpublishes `id` and closes it after what is already
    /// queued (at once if the queue is full). False when there is no such connection.
    pub(super) fn close(&self, id: &str) -> bool {
        let Some(handle) = self.remove(id) else {
            return false;
        };
        if handle.tx.try_send(Outbound::Close).is_err() {
            handle
                .control
                .close_now(CloseNow::Frame(CLOSE_NORMAL, "closed by the server"));
        }
        true
    }
}
