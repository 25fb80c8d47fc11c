//! The local cloud's records, below every part that uses them: the control plane ([`super::api3`])
//! writes them; the function runtime and the WebSocket gateway only read them. Nothing here
//! answers a request or runs a function.

pub mod api;
pub mod cam;
pub mod clock;
pub mod function;
pub mod trigger;
