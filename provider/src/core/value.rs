//! The tri-state value model: every value is known, null or unknown, at any depth.
//!
//! Terraform sends configuration with unknown parts (values computed by resources not yet
//! created) and null parts (omitted optional attributes). Resource code reads these through
//! [`Value`] and never touches raw msgpack.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::types::Type;
use super::CoreError;

/// A number as Terraform sends it: an integer when it is one, otherwise a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integral value that fits in i64.
    Int(i64),
    /// Any other value.
    Float(f64),
}

impl Number {
    /// The value as f64.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The value as i64 when it is integral.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(f as i64),
            Number::Float(_) => None,
        }
    }

    /// Parses a decimal string, as Terraform sends numbers that do not fit a float exactly.
    pub fn parse(s: &str) -> Option<Number> {
        if let Ok(i) = s.parse::<i64>() {
            return Some(Number::Int(i));
        }
        s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Number::Float)
    }
}

/// A cty value: known (of some shape), null or unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Not known until apply.
    Unknown,
    /// Absent.
    Null,
    /// A known boolean.
    Bool(bool),
    /// A known number.
    Number(Number),
    /// A known string.
    String(String),
    /// A known list; elements may be null or unknown.
    List(Vec<Value>),
    /// A known set; elements may be unknown.
    Set(Vec<Value>),
    /// A known map.
    Map(BTreeMap<String, Value>),
    /// A known object.
    Object(BTreeMap<String, Value>),
    /// A known tuple.
    Tuple(Vec<Value>),
}

impl Value {
    /// A known string.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// True for null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True for a (top-level) unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True when neither this value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// An object's attribute (null when absent or when this is not a known object).
    pub fn attr(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Mutable access to an object's attribute map.
    pub fn attrs_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The known string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The known number, if this is one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The known bool, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Elements of a known list, set or tuple.
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a known map or object.
    pub fn entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The JSON form of a wholly known value (null stays null).
    pub fn to_json(&self) -> Result<Json, CoreError> {
        Ok(match self {
            Value::Unknown => return Err(CoreError::Value("value is not known yet".into())),
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(Number::Int(i)) => Json::from(*i),
            Value::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .ok_or_else(|| CoreError::Value(format!("number {f} has no JSON form")))?,
            Value::String(s) => Json::String(s.clone()),
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Json::Array(v.iter().map(Value::to_json).collect::<Result<_, _>>()?),
            Value::Map(m) | Value::Object(m) => {
                Json::Object(m.iter().map(|(k, v)| Ok((k.clone(), v.to_json()?))).collect::<Result<_, CoreError>>()?)
            }
        })
    }

    /// Reads a JSON value as a value of type `ty`: the JSON state layout Terraform stores
    /// (objects carry every attribute; absent attributes become null).
    pub fn from_json(j: &Json, ty: &Type) -> Result<Value, CoreError> {
        let mismatch = |what: &str| CoreError::Value(format!("expected {what}, found {j}"));
        if j.is_null() {
            return Ok(Value::Null);
        }
        Ok(match ty {
            Type::String => match j {
                Json::String(s) => Value::String(s.clone()),
                // cty converts primitives to string where a string is wanted.
                Json::Bool(b) => Value::String(b.to_string()),
                Json::Number(n) => Value::String(n.to_string()),
                _ => return Err(mismatch("a string")),
            },
            Type::Number => match j {
                Json::Number(n) => Value::Number(match n.as_i64() {
                    Some(i) => Number::Int(i),
                    None => Number::Float(n.as_f64().ok_or_else(|| mismatch("a number"))?),
                }),
                Json::String(s) => Value::Number(Number::parse(s).ok_or_else(|| mismatch("a number"))?),
                _ => return Err(mismatch("a number")),
            },
            Type::Bool => match j {
                Json::Bool(b) => Value::Bool(*b),
                Json::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
                _ => return Err(mismatch("a bool")),
            },
            Type::List(t) | Type::Set(t) => {
                let items = j.as_array().ok_or_else(|| mismatch("an array"))?;
                let vals = items.iter().map(|i| Value::from_json(i, t)).collect::<Result<Vec<_>, _>>()?;
                if matches!(ty, Type::Set(_)) {
                    Value::Set(vals)
                } else {
                    Value::List(vals)
                }
            }
            Type::Tuple(ts) => {
                let items = j.as_array().ok_or_else(|| mismatch("an array"))?;
                if items.len() != ts.len() {
                    return Err(mismatch(&format!("a tuple of {}", ts.len())));
                }
                Value::Tuple(items.iter().zip(ts).map(|(i, t)| Value::from_json(i, t)).collect::<Result<_, _>>()?)
            }
            Type::Map(t) => {
                let obj = j.as_object().ok_or_else(|| mismatch("an object"))?;
                Value::Map(obj.iter().map(|(k, v)| Ok((k.clone(), Value::from_json(v, t)?))).collect::<Result<_, CoreError>>()?)
            }
            Type::Object { attrs, .. } => {
                let obj = j.as_object().ok_or_else(|| mismatch("an object"))?;
                // Attributes the state has but the schema dropped are ignored: that is how an
                // attribute removal upgrades without a schema version bump.
                let mut out = BTreeMap::new();
                for (name, t) in attrs {
                    let v = match obj.get(name) {
                        Some(v) => Value::from_json(v, t)?,
                        None => Value::Null,
                    };
                    out.insert(name.clone(), v);
                }
                Value::Object(out)
            }
            Type::Dynamic => Value::from_json_untyped(j),
        })
    }

    /// Reads JSON without a type: arrays become tuples, objects become objects.
    pub fn from_json_untyped(j: &Json) -> Value {
        match j {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(match n.as_i64() {
                Some(i) => Number::Int(i),
                None => Number::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => Value::Tuple(a.iter().map(Value::from_json_untyped).collect()),
            Json::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), Value::from_json_untyped(v))).collect()),
        }
    }

    /// Deserialises a wholly known value into a typed model.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, CoreError> {
        let j = self.to_json()?;
        serde_json::from_value(j).map_err(|e| CoreError::Value(format!("value does not fit the model: {e}")))
    }

    /// Serialises a typed model into a value of type `ty`.
    pub fn encode<T: serde::Serialize>(model: &T, ty: &Type) -> Result<Value, CoreError> {
        let j = serde_json::to_value(model).map_err(|e| CoreError::Value(format!("model does not serialise: {e}")))?;
        Value::from_json(&j, ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj_type() -> Type {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".into(), Type::String);
        attrs.insert("size".into(), Type::Number);
        attrs.insert("tags".into(), Type::map(Type::String));
        Type::object(attrs)
    }

    #[test]
    fn json_state_fills_absent_attributes_with_null() {
        let j: Json = serde_json::json!({"name": "a", "size": 3, "dropped": true});
        let v = Value::from_json(&j, &obj_type()).expect("decodes");
        assert_eq!(v.attr("name"), &Value::string("a"));
        assert_eq!(v.attr("size"), &Value::Number(Number::Int(3)));
        assert_eq!(v.attr("tags"), &Value::Null);
        assert_eq!(v.attr("dropped"), &Value::Null);
    }

    #[test]
    fn unknown_inside_collections_is_not_wholly_known() {
        let v = Value::List(vec![Value::string("a"), Value::Unknown]);
        assert!(!v.is_wholly_known());
        assert!(v.to_json().is_err());
        assert!(Value::List(vec![Value::Null]).is_wholly_known());
    }

    #[test]
    fn typed_models_round_trip() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct M {
            name: String,
            size: i64,
            tags: Option<BTreeMap<String, String>>,
        }
        let m = M { name: "x".into(), size: 5, tags: None };
        let v = Value::encode(&m, &obj_type()).expect("encodes");
        assert_eq!(v.decode::<M>().expect("decodes"), m);
    }

    #[test]
    fn numbers_parse_from_decimal_strings() {
        assert_eq!(Number::parse("42"), Some(Number::Int(42)));
        assert_eq!(Number::parse("1.5"), Some(Number::Float(1.5)));
        assert_eq!(Number::parse("x"), None);
        assert_eq!(Number::Float(3.0).as_i64(), Some(3));
        assert_eq!(Number::Float(3.5).as_i64(), None);
    }
}
