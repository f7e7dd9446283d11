//! Canonical JSON: the one byte string a record commits to.
//!
//! Two implementations must produce the same bytes for the same record, so the form is fixed:
//! - objects have their keys sorted by their UTF-8 bytes; no insignificant white space;
//! - strings are escaped as serde_json escapes them (`"`, `\`, control characters; nothing else);
//! - integers are written in decimal; other numbers as the shortest decimal that reads back to the
//!   same IEEE-754 double, never with an exponent, with no trailing `.0` (so 148.0 is `148`), and
//!   -0 as `0`.

use serde::Serialize;
use serde_json::{Number, Value};

/// The canonical bytes of a JSON value.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    out
}

/// The canonical bytes of anything serializable to JSON.
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(canonical_json(&serde_json::to_value(value)?))
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is fixed and minimal; writing a &str cannot fail.
    serde_json::to_writer(&mut *out, s).expect("writing a string to memory");
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else {
        let f = n.as_f64().expect("a JSON number is an integer or a finite double");
        out.extend_from_slice(format_double(f).as_bytes());
    }
}

/// Rust's `Display` for f64 is the shortest round-trip decimal and never uses an exponent.
fn format_double(f: f64) -> String {
    if f == 0.0 {
        return "0".to_string();
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn text(value: &Value) -> String {
        String::from_utf8(canonical_json(value)).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_white_space() {
        let value = json!({ "b": 1, "a": { "z": [1, 2], "y": "é\"\n" }, "A": null });
        assert_eq!(text(&value), r#"{"A":null,"a":{"y":"é\"\n","z":[1,2]},"b":1}"#);
    }

    #[test]
    fn writes_numbers_in_one_form() {
        assert_eq!(text(&json!(148.0)), "148");
        assert_eq!(text(&json!(33.6)), "33.6");
        assert_eq!(text(&json!(0.627)), "0.627");
        assert_eq!(text(&json!(-0.0)), "0");
        assert_eq!(text(&json!(1e21)), "1000000000000000000000");
        assert_eq!(text(&json!(1.5e-7)), "0.00000015");
        assert_eq!(text(&json!(-12)), "-12");
        assert_eq!(text(&json!(u64::MAX)), u64::MAX.to_string());
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(|f| Value::from((f * 1000.0).round() / 1000.0)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn serialize_parse_serialize_is_stable(value in arbitrary_json()) {
            let first = canonical_json(&value);
            let parsed: Value = serde_json::from_slice(&first).unwrap();
            prop_assert_eq!(canonical_json(&parsed), first);
        }
    }
}
