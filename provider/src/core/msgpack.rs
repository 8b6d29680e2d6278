//! msgpack `DynamicValue` encoding, guided by the schema type.
//!
//! The wire form is typeless (a msgpack array can be a list, set or tuple), so decoding needs
//! the cty type. Unknown is any msgpack extension; we write the plain form, ext type 0.

use std::collections::BTreeMap;

use rmpv::Value as Mp;

use super::types::Type;
use super::value::{Number, Value};
use super::CoreError;

/// Decodes msgpack bytes as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CoreError> {
    let mut rd = bytes;
    let mp = rmpv::decode::read_value(&mut rd).map_err(|e| CoreError::Msgpack(e.to_string()))?;
    if !rd.is_empty() {
        return Err(CoreError::Msgpack(format!("{} trailing bytes after the value", rd.len())));
    }
    from_mp(&mp, ty)
}

/// Encodes a value of type `ty` as msgpack bytes.
pub fn encode(v: &Value, ty: &Type) -> Result<Vec<u8>, CoreError> {
    let mp = to_mp(v, ty)?;
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &mp).map_err(|e| CoreError::Msgpack(e.to_string()))?;
    Ok(out)
}

fn mismatch(ty: &Type, mp: &Mp) -> CoreError {
    CoreError::Msgpack(format!("expected {}, found {mp}", serde_json::to_string(&ty.to_json()).unwrap_or_default()))
}

fn from_mp(mp: &Mp, ty: &Type) -> Result<Value, CoreError> {
    match mp {
        // Plain unknown (ext 0) and refined unknown (ext 12) alike: the refinements only narrow
        // what the value may become, and nothing here depends on them.
        Mp::Ext(_, _) => return Ok(Value::Unknown),
        Mp::Nil => return Ok(Value::Null),
        _ => {}
    }
    Ok(match ty {
        Type::String => match mp {
            Mp::String(s) => Value::String(s.as_str().ok_or_else(|| CoreError::Msgpack("string is not UTF-8".into()))?.to_owned()),
            _ => return Err(mismatch(ty, mp)),
        },
        Type::Number => Value::Number(number(mp).ok_or_else(|| mismatch(ty, mp))?),
        Type::Bool => match mp {
            Mp::Boolean(b) => Value::Bool(*b),
            _ => return Err(mismatch(ty, mp)),
        },
        Type::List(t) | Type::Set(t) => {
            let items = match mp {
                Mp::Array(a) => a,
                _ => return Err(mismatch(ty, mp)),
            };
            let vals = items.iter().map(|i| from_mp(i, t)).collect::<Result<Vec<_>, _>>()?;
            if matches!(ty, Type::Set(_)) {
                Value::Set(vals)
            } else {
                Value::List(vals)
            }
        }
        Type::Tuple(ts) => match mp {
            Mp::Array(a) if a.len() == ts.len() => Value::Tuple(a.iter().zip(ts).map(|(i, t)| from_mp(i, t)).collect::<Result<_, _>>()?),
            _ => return Err(mismatch(ty, mp)),
        },
        Type::Map(t) => {
            Value::Map(map_entries(mp, ty)?.into_iter().map(|(k, v)| Ok((k, from_mp(v, t)?))).collect::<Result<_, CoreError>>()?)
        }
        Type::Object { attrs, .. } => {
            let entries = map_entries(mp, ty)?;
            let mut out: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
            for (k, v) in entries {
                let t = attrs.get(&k).ok_or_else(|| CoreError::Msgpack(format!("unexpected attribute {k:?}")))?;
                out.insert(k, from_mp(v, t)?);
            }
            Value::Object(out)
        }
        Type::Dynamic => {
            // A dynamic value travels as [type JSON, value].
            match mp {
                Mp::Array(a) if a.len() == 2 => {
                    let tbytes = match &a[0] {
                        Mp::Binary(b) => b.as_slice(),
                        Mp::String(s) => s.as_bytes(),
                        _ => return Err(mismatch(ty, mp)),
                    };
                    let inner = Type::from_json_bytes(tbytes)?;
                    from_mp(&a[1], &inner)?
                }
                _ => return Err(mismatch(ty, mp)),
            }
        }
    })
}

fn number(mp: &Mp) -> Option<Number> {
    match mp {
        Mp::Integer(i) => i.as_i64().map(Number::Int).or_else(|| i.as_u64().map(|u| Number::Float(u as f64))),
        Mp::F32(f) => Some(Number::Float(f64::from(*f))),
        Mp::F64(f) => Some(Number::Float(*f)),
        Mp::String(s) => s.as_str().and_then(Number::parse),
        _ => None,
    }
}

fn map_entries<'a>(mp: &'a Mp, ty: &Type) -> Result<Vec<(String, &'a Mp)>, CoreError> {
    match mp {
        Mp::Map(entries) => entries
            .iter()
            .map(|(k, v)| match k {
                Mp::String(s) => Ok((s.as_str().unwrap_or_default().to_owned(), v)),
                _ => Err(CoreError::Msgpack(format!("map key {k} is not a string"))),
            })
            .collect(),
        _ => Err(mismatch(ty, mp)),
    }
}

fn to_mp(v: &Value, ty: &Type) -> Result<Mp, CoreError> {
    let wrong =
        || CoreError::Msgpack(format!("value {v:?} does not fit type {}", serde_json::to_string(&ty.to_json()).unwrap_or_default()));
    match v {
        Value::Unknown => return Ok(Mp::Ext(0, vec![0])),
        Value::Null => return Ok(Mp::Nil),
        _ => {}
    }
    Ok(match (ty, v) {
        (Type::String, Value::String(s)) => Mp::from(s.as_str()),
        (Type::Number, Value::Number(Number::Int(i))) => Mp::from(*i),
        (Type::Number, Value::Number(Number::Float(f))) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                Mp::from(*f as i64)
            } else {
                Mp::F64(*f)
            }
        }
        (Type::Bool, Value::Bool(b)) => Mp::Boolean(*b),
        (Type::List(t), Value::List(items))
        | (Type::Set(t), Value::Set(items))
        | (Type::List(t), Value::Set(items))
        | (Type::Set(t), Value::List(items)) => Mp::Array(items.iter().map(|i| to_mp(i, t)).collect::<Result<_, _>>()?),
        (Type::Tuple(ts), Value::Tuple(items)) if ts.len() == items.len() => {
            Mp::Array(items.iter().zip(ts).map(|(i, t)| to_mp(i, t)).collect::<Result<_, _>>()?)
        }
        (Type::Map(t), Value::Map(m)) | (Type::Map(t), Value::Object(m)) => {
            Mp::Map(m.iter().map(|(k, v)| Ok((Mp::from(k.as_str()), to_mp(v, t)?))).collect::<Result<_, CoreError>>()?)
        }
        (Type::Object { attrs, .. }, Value::Object(m)) => {
            // Every attribute of the type is written, absent ones as null: Terraform checks
            // that the object conforms to the schema.
            let mut out = Vec::with_capacity(attrs.len());
            for (name, t) in attrs {
                let av = m.get(name).unwrap_or(&Value::Null);
                out.push((Mp::from(name.as_str()), to_mp(av, t)?));
            }
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CoreError::Msgpack(format!("attribute {extra:?} is not in the schema")));
            }
            Mp::Map(out)
        }
        (Type::Dynamic, v) => {
            let inner = infer_type(v);
            Mp::Array(vec![Mp::Binary(inner.to_json_bytes()), to_mp(v, &inner)?])
        }
        _ => return Err(wrong()),
    })
}

/// The most specific type of a known value (used for `dynamic` attributes).
pub fn infer_type(v: &Value) -> Type {
    match v {
        Value::Unknown | Value::Null => Type::Dynamic,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::List(items) => Type::list(items.first().map(infer_type).unwrap_or(Type::Dynamic)),
        Value::Set(items) => Type::set(items.first().map(infer_type).unwrap_or(Type::Dynamic)),
        Value::Map(m) => Type::map(m.values().next().map(infer_type).unwrap_or(Type::Dynamic)),
        Value::Object(m) => Type::object(m.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect()),
        Value::Tuple(items) => Type::Tuple(items.iter().map(infer_type).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty() -> Type {
        let mut inner = BTreeMap::new();
        inner.insert("cores".to_string(), Type::Number);
        inner.insert("memory".to_string(), Type::String);
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), Type::String);
        attrs.insert("args".to_string(), Type::list(Type::String));
        attrs.insert("conf".to_string(), Type::map(Type::String));
        attrs.insert("driver".to_string(), Type::object(inner));
        attrs.insert("ok".to_string(), Type::Bool);
        Type::object(attrs)
    }

    #[test]
    fn unknown_is_written_as_ext_zero() {
        assert_eq!(encode(&Value::Unknown, &Type::String).expect("encodes"), vec![0xd4, 0x00, 0x00]);
    }

    #[test]
    fn refined_unknown_ext_12_decodes_as_unknown() {
        // ext 12 carrying {1: false} (known not-null), as Terraform 1.6+ may send.
        let mut bytes = Vec::new();
        let payload = {
            let mut p = Vec::new();
            rmpv::encode::write_value(&mut p, &Mp::Map(vec![(Mp::from(1), Mp::Boolean(false))])).expect("write");
            p
        };
        rmpv::encode::write_value(&mut bytes, &Mp::Ext(12, payload)).expect("write");
        assert_eq!(decode(&bytes, &Type::String).expect("decodes"), Value::Unknown);
    }

    #[test]
    fn nested_unknown_and_null_round_trip() {
        let mut driver = BTreeMap::new();
        driver.insert("cores".to_string(), Value::Number(Number::Int(2)));
        driver.insert("memory".to_string(), Value::Unknown);
        let mut m = BTreeMap::new();
        m.insert("name".to_string(), Value::string("etl"));
        m.insert("args".to_string(), Value::List(vec![Value::string("--x"), Value::Unknown]));
        m.insert("conf".to_string(), Value::Null);
        m.insert("driver".to_string(), Value::Object(driver));
        m.insert("ok".to_string(), Value::Bool(true));
        let v = Value::Object(m);
        let bytes = encode(&v, &ty()).expect("encodes");
        assert_eq!(decode(&bytes, &ty()).expect("decodes"), v);
    }

    #[test]
    fn numbers_accept_int_float_and_decimal_string() {
        for (mp, want) in [
            (Mp::from(7), Number::Int(7)),
            (Mp::F64(1.5), Number::Float(1.5)),
            (Mp::F32(0.5), Number::Float(0.5)),
            (Mp::from("12345678901234"), Number::Int(12_345_678_901_234)),
        ] {
            let mut b = Vec::new();
            rmpv::encode::write_value(&mut b, &mp).expect("write");
            assert_eq!(decode(&b, &Type::Number).expect("decodes"), Value::Number(want));
        }
    }

    #[test]
    fn type_mismatch_and_unknown_attributes_are_errors() {
        let b = encode(&Value::string("x"), &Type::String).expect("encodes");
        assert!(decode(&b, &Type::Bool).is_err());
        let mut m = BTreeMap::new();
        m.insert("nope".to_string(), Value::Bool(true));
        assert!(encode(&Value::Object(m), &ty()).is_err());
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        let v = Value::List(vec![Value::string("a")]);
        let bytes = encode(&v, &Type::Dynamic).expect("encodes");
        assert_eq!(decode(&bytes, &Type::Dynamic).expect("decodes"), v);
    }
}
