//! JSON in and out of templates: bodies parsed for `$input.path` / `$util.parseJson` become
//! Java-shaped values (objects as `LinkedHashMap`, arrays as json-smart's `JSONArray`, the
//! types Jayway JsonPath's default provider builds), and `$input.json` writes JSON text.

use std::rc::Rc;

use super::value::{List, Value};

/// A parsed JSON value as the objects a template sees.
pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i.into()),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(items) => Value::List(Rc::new(List {
            items: std::cell::RefCell::new(items.iter().map(to_value).collect()),
            json: true,
            array: false,
        })),
        serde_json::Value::Object(m) => Value::map(
            m.iter()
                .map(|(k, v)| (Rc::from(k.as_str()), to_value(v)))
                .collect(),
        ),
    }
}

/// Parses JSON text straight into the values a template sees (what [`to_value`] of a
/// `serde_json::Value` gives, without building one): objects keep their keys' order, a
/// repeated key keeps its first position and last value (`LinkedHashMap.put`).
pub fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let v = serde::de::DeserializeSeed::deserialize(Seed, &mut de)?;
    de.end()?;
    Ok(v)
}

struct Seed;

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Seed)
    }
}

impl<'de> serde::de::Visitor<'de> for Seed {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        // `to_value` reads a u64 above i64 as a double, as serde_json's `as_i64` fails.
        Ok(match i64::try_from(n) {
            Ok(i) => Value::Int(i.into()),
            Err(_) => Value::Float(n as f64),
        })
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::str(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(Seed)? {
            items.push(v);
        }
        Ok(Value::List(Rc::new(List {
            items: std::cell::RefCell::new(items),
            json: true,
            array: false,
        })))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(Rc<str>, Value)> = Vec::new();
        // Repeated keys are looked for by a scan while the object is small and through an
        // index past that, so a body with a huge object costs linear time, not quadratic.
        let mut index: Option<ahash::AHashMap<Rc<str>, usize>> = None;
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(Seed)?;
            if index.is_none() && entries.len() >= SCAN_KEYS {
                let built = entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i));
                index = Some(built.collect());
            }
            let found = match &index {
                Some(ix) => ix.get(&k).copied(),
                None => entries.iter().position(|(e, _)| *e == k),
            };
            match found {
                Some(i) => entries[i].1 = v,
                None => {
                    if let Some(ix) = &mut index {
                        ix.insert(k.clone(), entries.len());
                    }
                    entries.push((k, v));
                }
            }
        }
        Ok(Value::map(entries))
    }
}

/// Objects up to this many keys find repeated keys by scanning.
const SCAN_KEYS: usize = 16;

/// An object key, straight into an `Rc<str>` (no intermediate `String`).
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Rc<str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Rc<str>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl serde::de::Visitor<'_> for KeySeed {
    type Value = Rc<str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, s: &str) -> Result<Rc<str>, E> {
        Ok(Rc::from(s))
    }
}

/// Writes `v` as compact JSON text (json-smart's `toJSONString`).
pub fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(_) | Value::Int(_) | Value::Float(_) => v.write_to(out),
        Value::Str(s) => write_str(s, out),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.items.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.entries.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
        Value::Host(_) => write_str(&v.to_java_string(), out),
    }
}

/// A JSON string literal.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a parsed JSON value as compact JSON text.
pub fn write_serde(v: &serde_json::Value, out: &mut String) {
    match serde_json::to_string(v) {
        Ok(s) => out.push_str(&s),
        Err(_) => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_straight_to_values_matches_converting_a_serde_document() {
        let text =
            br#"{"b": 1, "a": [1.5, "x", null, true, {"z": 2}], "big": 18446744073709551615}"#;
        let direct = parse(text).unwrap().to_java_string();
        let via = to_value(&serde_json::from_slice(text).unwrap()).to_java_string();
        assert_eq!(direct, via);
        assert_eq!(
            direct,
            r#"{b=1, a=[1.5,"x",null,true,{"z":2}], big=1.8446744073709552E19}"#
        );
        // A repeated key keeps its first place and its last value, as LinkedHashMap.put.
        assert_eq!(
            parse(br#"{"a":1,"b":2,"a":3}"#).unwrap().to_java_string(),
            "{a=3, b=2}"
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 30)).collect();
        let text = format!("{{{}}}", many.join(","));
        let parsed = parse(text.as_bytes()).unwrap().to_java_string();
        assert!(parsed.starts_with("{k0=30, k1=31, "), "{parsed}");
        assert!(parsed.ends_with("k29=29}"), "{parsed}");
        assert!(parse(b"{").is_err());
        assert!(parse(b"[1] x").is_err());
    }
}
