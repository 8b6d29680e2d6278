//! The protocol-free core: values, types, schemas and diagnostics.
//!
//! Nothing here knows about gRPC or protobuf; the `grpc` module translates at the edge.

pub mod diag;
pub mod msgpack;
pub mod schema;
pub mod types;
pub mod validators;
pub mod value;

pub use diag::{AttrPath, Diagnostic, Diagnostics, PathStep, Severity};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema, Validator};
pub use types::Type;
pub use value::{Number, Value};

/// Errors of the core codec and model layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A cty type could not be parsed.
    #[error("invalid type: {0}")]
    Type(String),
    /// msgpack bytes did not decode as the schema's type, or a value did not encode.
    #[error("invalid msgpack value: {0}")]
    Msgpack(String),
    /// A value did not fit a model or JSON form.
    #[error("invalid value: {0}")]
    Value(String),
}
