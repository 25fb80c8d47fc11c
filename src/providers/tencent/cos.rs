//! COS client (in progress).

use std::sync::Arc;

use super::http::Shared;

/// The COS client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Cos {
    #[allow(dead_code, reason = "COS operations land in the next commit")]
    shared: Arc<Shared>,
}

impl Cos {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Cos { shared }
    }
}
