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
