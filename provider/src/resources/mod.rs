//! The managed resource types, one module each.

pub mod cluster;
pub mod common;
pub mod driver_log;
pub mod job;
pub mod namespace;
pub mod python_traceback;

use std::sync::Arc;

use crate::resource::Resource;

/// Every resource type this provider serves.
pub fn all() -> Vec<Arc<dyn Resource>> {
    vec![Arc::new(cluster::Cluster::new()), Arc::new(namespace::Namespace::new()), Arc::new(job::Job::new())]
}
