//! Generated gRPC bindings: the Terraform plugin protocol version 6 (`tfplugin6`) and
//! HashiCorp go-plugin's controller, stdio and broker services (`plugin`).
//!
//! The `.proto` files beside this crate are written here to be wire-compatible with the
//! published protocol: same packages, message and field names, numbers and types.
#![allow(missing_docs, clippy::all, clippy::unwrap_used)]

/// Terraform plugin protocol 6.
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin's side services.
pub mod plugin {
    tonic::include_proto!("plugin");
}
