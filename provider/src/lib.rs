//! terraform-provider-sparkoss: a Terraform provider, written in Rust, that speaks the plugin
//! protocol (tfplugin6 over go-plugin) itself.
//!
//! Layers, from the wire inwards:
//! - [`plugin`]: the go-plugin handshake, AutoMTLS and the side services Terraform expects;
//! - [`grpc`]: the thin tfplugin6 adapter (decode, call the core, encode);
//! - [`provider`]: what each RPC means, on core types;
//! - [`resources`]: one module per resource type (schema, validation, plan, CRUD);
//! - [`core`]: values, types, schemas, msgpack, diagnostics.

pub mod config;
pub mod core;
pub mod docs;
pub mod grpc;
pub mod kube_conn;
pub mod plugin;
pub mod provider;
pub mod resource;
pub mod resources;

/// The provider's source address, as Terraform names it.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/sparkoss/sparkoss";
