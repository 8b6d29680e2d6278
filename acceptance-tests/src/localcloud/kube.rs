//! Kubernetes API emulator (and a kubelet running pods as Docker containers).
//!
//! Not built yet: every request is answered 501 so a client sees clearly what is missing.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;

use super::Shared;

/// The emulator's routes.
pub fn router(_shared: Arc<Shared>) -> Router {
    Router::new().fallback(|| async { (StatusCode::NOT_IMPLEMENTED, "not emulated yet") })
}
