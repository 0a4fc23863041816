//! JSON wire values to D-Bus `a{sv}` dictionaries.
//!
//! Results on D-Bus are built from the same serde wire types as on the socket, so a field
//! added to a type appears on both surfaces. `null` fields are left out of the dictionary
//! (D-Bus has no null); integers become `x` (int64), other numbers `d`, strings `s`,
//! booleans `b`, arrays `av`, objects nested `a{sv}`.

use serde_json::Value as Json;
use std::collections::HashMap;
use zbus::{OwnedVariant as OwnedValue, Variant as Value};

/// A JSON object as an `a{sv}` dictionary. Non-object values yield `{"value": v}`.
pub fn to_dict(json: &Json) -> HashMap<String, OwnedValue> {
    match json {
        Json::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .filter_map(|(k, v)| Some((k.clone(), OwnedValue::try_from(to_value(v)).ok()?)))
            .collect(),
        other => to_dict(&serde_json::json!({ "value": other })),
    }
}

fn to_value(json: &Json) -> Value<'static> {
    match json {
        Json::Null => Value::from(""),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::from(s.clone()),
        Json::Array(items) => {
            let items: Vec<Value<'static>> = items
                .iter()
                .map(|v| Value::Variant(Box::new(to_value(v))))
                .collect();
            Value::from(items)
        }
        Json::Object(_) => {
            let dict: HashMap<String, Value<'static>> = to_dict(json)
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            Value::from(dict)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn object_fields_keep_their_types_and_nulls_are_omitted() {
        let d = to_dict(&serde_json::json!({"a": "x", "b": 5, "c": true, "d": null}));
        assert_eq!(d.len(), 3);
        assert_eq!(String::try_from(d["a"].try_clone().unwrap()).unwrap(), "x");
        assert_eq!(i64::try_from(d["b"].try_clone().unwrap()).unwrap(), 5);
        assert!(bool::try_from(d["c"].try_clone().unwrap()).unwrap());
    }
}
