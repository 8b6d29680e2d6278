//! cty types: the type system Terraform uses for attribute values, and its JSON form.
//!
//! Schemas carry attribute types as cty JSON bytes (`"string"`, `["list","string"]`, ...), and
//! a `dynamic` value on the wire carries its concrete type in the same form.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::CoreError;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// A UTF-8 string.
    String,
    /// An arbitrary-precision number (we carry i64 or f64).
    Number,
    /// A boolean.
    Bool,
    /// Any type, decided by the value (`DynamicPseudoType`).
    Dynamic,
    /// An ordered list of one element type.
    List(Box<Type>),
    /// An unordered set of one element type.
    Set(Box<Type>),
    /// A map from string keys to one element type.
    Map(Box<Type>),
    /// An object with named attributes; `optional` lists the attributes that may be omitted.
    Object {
        /// Attribute types by name.
        attrs: BTreeMap<String, Type>,
        /// Attributes marked optional (only meaningful in type constraints).
        optional: BTreeSet<String>,
    },
    /// A fixed-length sequence of element types.
    Tuple(Vec<Type>),
}

impl Type {
    /// `list(T)`.
    pub fn list(t: Type) -> Self {
        Type::List(Box::new(t))
    }
    /// `set(T)`.
    pub fn set(t: Type) -> Self {
        Type::Set(Box::new(t))
    }
    /// `map(T)`.
    pub fn map(t: Type) -> Self {
        Type::Map(Box::new(t))
    }
    /// An object type with no optional attributes.
    pub fn object(attrs: BTreeMap<String, Type>) -> Self {
        Type::Object { attrs, optional: BTreeSet::new() }
    }

    /// The cty JSON form of this type.
    pub fn to_json(&self) -> Json {
        match self {
            Type::String => Json::from("string"),
            Type::Number => Json::from("number"),
            Type::Bool => Json::from("bool"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(t) => Json::Array(vec!["list".into(), t.to_json()]),
            Type::Set(t) => Json::Array(vec!["set".into(), t.to_json()]),
            Type::Map(t) => Json::Array(vec!["map".into(), t.to_json()]),
            Type::Object { attrs, optional } => {
                let map: serde_json::Map<String, Json> = attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                let mut out = vec![Json::from("object"), Json::Object(map)];
                if !optional.is_empty() {
                    out.push(Json::Array(optional.iter().map(|s| Json::from(s.as_str())).collect()));
                }
                Json::Array(out)
            }
            Type::Tuple(ts) => Json::Array(vec!["tuple".into(), Json::Array(ts.iter().map(Type::to_json).collect())]),
        }
    }

    /// The cty JSON bytes of this type, as schemas carry them.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising a serde_json::Value cannot fail.
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }

    /// Parses the cty JSON form of a type.
    pub fn from_json(j: &Json) -> Result<Type, CoreError> {
        let bad = || CoreError::Type(format!("not a cty type: {j}"));
        match j {
            Json::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(bad()),
            },
            Json::Array(items) => {
                let kind = items.first().and_then(Json::as_str).ok_or_else(bad)?;
                let arg = items.get(1).ok_or_else(bad)?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(arg)?)),
                    "set" => Ok(Type::set(Type::from_json(arg)?)),
                    "map" => Ok(Type::map(Type::from_json(arg)?)),
                    "tuple" => {
                        let ts = arg.as_array().ok_or_else(bad)?;
                        Ok(Type::Tuple(ts.iter().map(Type::from_json).collect::<Result<_, _>>()?))
                    }
                    "object" => {
                        let obj = arg.as_object().ok_or_else(bad)?;
                        let attrs =
                            obj.iter().map(|(k, v)| Ok((k.clone(), Type::from_json(v)?))).collect::<Result<BTreeMap<_, _>, CoreError>>()?;
                        let optional = match items.get(2) {
                            Some(Json::Array(names)) => names.iter().filter_map(Json::as_str).map(str::to_owned).collect(),
                            _ => BTreeSet::new(),
                        };
                        Ok(Type::Object { attrs, optional })
                    }
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }

    /// Parses cty JSON bytes.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Type, CoreError> {
        let j: Json = serde_json::from_slice(bytes).map_err(|e| CoreError::Type(format!("type is not JSON: {e}")))?;
        Type::from_json(&j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_of_nested_types() {
        let mut attrs = BTreeMap::new();
        attrs.insert("a".to_string(), Type::list(Type::String));
        attrs.insert("b".to_string(), Type::map(Type::set(Type::Number)));
        let t = Type::Object { attrs, optional: ["b".to_string()].into_iter().collect() };
        let bytes = t.to_json_bytes();
        assert_eq!(String::from_utf8_lossy(&bytes), r#"["object",{"a":["list","string"],"b":["map",["set","number"]]},["b"]]"#);
        assert_eq!(Type::from_json_bytes(&bytes).expect("parses"), t);
    }

    #[test]
    fn rejects_unknown_type_names() {
        assert!(Type::from_json_bytes(br#""strang""#).is_err());
        assert!(Type::from_json_bytes(br#"["lisp","string"]"#).is_err());
    }
}
