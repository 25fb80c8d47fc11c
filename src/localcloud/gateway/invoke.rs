//! The seam between the gateway and whatever runs functions.
//!
//! The gateway never depends on the function runtime directly: it calls the [`Invoker`] it
//! was built with. The local cloud plugs its function runtime in (an adapter in
//! `localcloud/mod.rs`, which maps the runtime's errors onto [`FailureKind`]); [`Unavailable`]
//! answers every call with [`FailureKind::NotActive`], so a gateway without a runtime refuses
//! WebSocket handshakes cleanly instead of hanging; tests plug closures in with [`from_fn`].

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

/// The function an API binds (`ServiceWebsocket{Register,Transport,Cleanup}Function*`), in the
/// API's region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionTarget {
    /// Region of the API (and so of the function).
    pub region: String,
    /// Namespace, `default` unless the API said otherwise.
    pub namespace: String,
    /// Function name.
    pub name: String,
    /// Qualifier (`$LATEST`, `$DEFAULT`).
    pub qualifier: String,
}

/// Why an invocation produced no return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The function ran past its timeout.
    Timeout,
    /// The worker process died.
    Crash,
    /// The handler raised, or the runtime failed otherwise.
    Error,
    /// No such function.
    NotFound,
    /// The function exists but is not `Active` (or no runtime is plugged in).
    NotActive,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Crash => "crash",
            FailureKind::Error => "error",
            FailureKind::NotFound => "function not found",
            FailureKind::NotActive => "function not active",
        })
    }
}

/// A failed invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct InvokeFailure {
    /// What went wrong.
    pub kind: FailureKind,
    /// Details for logs and refusal bodies.
    pub message: String,
}

impl InvokeFailure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        InvokeFailure {
            kind,
            message: message.into(),
        }
    }
}

/// The handler's return value, or why there is none.
pub type InvokeResult = Result<Value, InvokeFailure>;

/// Runs a function synchronously (`InvocationType: RequestResponse`) with an event.
///
/// The returned future must not borrow `self` (clone what it needs): the gateway awaits it
/// from connection tasks.
pub trait Invoker: Send + Sync + 'static {
    /// Invokes `target` with `event`; resolves to the handler's return value.
    fn invoke(&self, target: FunctionTarget, event: Value) -> BoxFuture<'static, InvokeResult>;
}

/// The default invoker: no runtime is plugged in, every call fails with `NotActive`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unavailable;

impl Invoker for Unavailable {
    fn invoke(&self, _target: FunctionTarget, _event: Value) -> BoxFuture<'static, InvokeResult> {
        Box::pin(async {
            Err(InvokeFailure::new(
                FailureKind::NotActive,
                "function runtime not available",
            ))
        })
    }
}

/// An invoker made of a closure (see [`from_fn`]).
pub struct FnInvoker<F>(F);

impl<F> std::fmt::Debug for FnInvoker<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnInvoker")
    }
}

impl<F, Fut> Invoker for FnInvoker<F>
where
    F: Fn(FunctionTarget, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = InvokeResult> + Send + 'static,
{
    fn invoke(&self, target: FunctionTarget, event: Value) -> BoxFuture<'static, InvokeResult> {
        Box::pin((self.0)(target, event))
    }
}

/// An invoker that calls `f(target, event)` (fakes in tests).
pub fn from_fn<F, Fut>(f: F) -> Arc<dyn Invoker>
where
    F: Fn(FunctionTarget, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = InvokeResult> + Send + 'static,
{
    Arc::new(FnInvoker(f))
}
