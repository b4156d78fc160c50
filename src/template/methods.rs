//! The Java methods templates call on strings, lists, maps and numbers, with Java's
//! semantics: string indexes count UTF-16 units, `replace` is literal and `replaceAll` /
//! `replaceFirst` / `matches` / `split` take Java regexes (`template::regex`), a method that
//! throws in Java (`substring` out of range) fails the render as Velocity's
//! `MethodInvocationException` does, and a method that does not exist gives `null` (the
//! reference then renders as written).
//!
//! Properties follow Velocity 1.7's `UberspectImpl.getPropertyGet` order: `getName()`, then
//! `Map.get("name")` for maps, then `isName()`.

use std::rc::Rc;

use super::eval::{equals, int_of, Eval};
use super::gateway;
use super::regex as jregex;
use super::value::{Host, List, Loop, Value};
use super::RenderError;

/// `$v.name`.
pub(super) fn property(ev: &mut Eval, v: &Value, name: &str) -> Result<Value, RenderError> {
    // `getClass()` comes first for every object, maps included.
    if name == "class" {
        return Ok(v
            .java_class()
            .map_or(Value::Null, |c| Value::Host(Host::Class(c))));
    }
    Ok(match v {
        Value::Map(m) => m.get(name),
        Value::Host(Host::Loop(l)) => loop_property(l, name),
        Value::Host(Host::Entry(e)) => match name {
            "key" => Value::Str(e.0.clone()),
            "value" => e.1.clone(),
            _ => Value::Null,
        },
        Value::Host(Host::Class(class)) => match name {
            "name" => Value::str(class.name),
            "simpleName" => Value::str(class.simple),
            _ => Value::Null,
        },
        Value::Host(h) => gateway::property(ev, h, name)?,
        Value::Str(s) => match name {
            "empty" => Value::Bool(s.is_empty()),
            "bytes" => bytes(s),
            _ => Value::Null,
        },
        Value::List(l) => match name {
            "empty" => Value::Bool(l.items.borrow().is_empty()),
            _ => Value::Null,
        },
        _ => Value::Null,
    })
}

/// `$foreach.index`, `.count`, `.hasNext`, `.first`, `.last`, `.parent`; `null` for any
/// other name.
pub(super) fn loop_property(l: &Loop, name: &str) -> Value {
    match name {
        "index" => Value::int(l.index.get() as i128),
        "count" => Value::int(l.index.get() as i128 + 1),
        "hasNext" => Value::Bool(l.has_next.get()),
        "first" => Value::Bool(l.index.get() == 0),
        "last" => Value::Bool(!l.has_next.get()),
        "parent" => l
            .parent
            .clone()
            .map_or(Value::Null, |p| Value::Host(Host::Loop(p))),
        _ => Value::Null,
    }
}

/// `$v[i]`: a list element (a negative index counts from the end, corpus 043; out of range
/// fails, 042) or a map value (`null` when absent).
pub(super) fn index(v: &Value, i: &Value) -> Result<Value, RenderError> {
    Ok(match (v, i) {
        (Value::List(l), Value::Int(i)) => {
            let i = i.get();
            let items = l.items.borrow();
            let len = items.len() as i128;
            let at = if i < 0 { len + i } else { i };
            match usize::try_from(at).ok().and_then(|a| items.get(a)) {
                Some(x) => x.clone(),
                None => {
                    return Err(fault(format!(
                    "Error invoking method 'get({i})' in java.util.ArrayList: index out of range"
                )))
                }
            }
        }
        (Value::Map(m), k) => m.get(&k.to_rc_str()),
        _ => Value::Null,
    })
}

/// `#set($v[i] = x)`.
pub(super) fn set_index(v: &Value, i: &Value, x: Value) -> Result<(), RenderError> {
    match (v, i) {
        (Value::List(l), Value::Int(i)) => {
            let i = i.get();
            let mut items = l.items.borrow_mut();
            let len = items.len() as i128;
            let at = if i < 0 { len + i } else { i };
            match usize::try_from(at).ok().and_then(|a| items.get_mut(a)) {
                Some(slot) => *slot = x,
                None => return Err(fault("index out of range in #set")),
            }
        }
        (Value::Map(m), k) => {
            m.put(k.to_rc_str(), x);
        }
        _ => {}
    }
    Ok(())
}

fn fault(msg: impl Into<String>) -> RenderError {
    RenderError::Method(msg.into())
}

/// `$v.name(args)`.
pub(super) fn call(
    ev: &mut Eval,
    v: &Value,
    name: &str,
    args: &[Value],
) -> Result<Value, RenderError> {
    match v {
        Value::Str(s) => string_method(ev, s, name, args),
        Value::List(l) => list_method(v, l, name, args),
        Value::Map(m) => Ok(map_method(m, name, args)),
        Value::Int(_) | Value::Float(_) => Ok(number_method(v, name, args)),
        Value::Bool(b) => Ok(match (name, args) {
            ("toString", []) => Value::str(if *b { "true" } else { "false" }),
            ("booleanValue", []) => Value::Bool(*b),
            ("equals", [o]) => Value::Bool(equals(v, o)),
            _ => Value::Null,
        }),
        Value::Host(Host::Entry(e)) => Ok(match (name, args) {
            ("getKey", []) => Value::Str(e.0.clone()),
            ("getValue", []) => e.1.clone(),
            ("toString", []) => Value::str(&v.to_java_string()),
            _ => Value::Null,
        }),
        Value::Host(Host::Loop(_)) => {
            let prop = match name {
                "getIndex" => "index",
                "getCount" => "count",
                "hasNext" => "hasNext",
                "isFirst" => "first",
                "isLast" => "last",
                _ => return Ok(Value::Null),
            };
            property(ev, v, prop)
        }
        Value::Host(h) => gateway::method(ev, h, name, args),
        Value::Null => Ok(Value::Null),
    }
}

/// The string's length in UTF-16 units, as Java counts.
pub(super) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// The byte offset of UTF-16 index `i`, when `i` is within `0..=len` and on a character.
fn byte_at(s: &str, i: usize) -> Option<usize> {
    if s.is_ascii() {
        return (i <= s.len()).then_some(i);
    }
    let mut units = 0;
    for (b, c) in s.char_indices() {
        if units == i {
            return Some(b);
        }
        units += c.len_utf16();
        if units > i {
            return None;
        }
    }
    (units == i).then_some(s.len())
}

/// The UTF-16 index of byte offset `b`.
fn units_before(s: &str, b: usize) -> usize {
    utf16_len(&s[..b])
}

fn arg_str(v: &Value) -> Option<Rc<str>> {
    match v {
        Value::Null | Value::List(_) | Value::Map(_) | Value::Host(_) => None,
        other => Some(other.to_rc_str()),
    }
}

fn arg_int(v: &Value) -> Option<usize> {
    int_of(v).and_then(|i| usize::try_from(i).ok())
}

fn substring(s: &str, from: usize, to: usize) -> Result<Value, RenderError> {
    let len = utf16_len(s);
    if from > to || to > len {
        return Err(fault(format!(
            "String index out of range: begin {from}, end {to}, length {len}"
        )));
    }
    match (byte_at(s, from), byte_at(s, to)) {
        (Some(a), Some(b)) => Ok(Value::str(&s[a..b])),
        // Splitting a surrogate pair: Java would give half a character; give the whole.
        _ => Ok(Value::str(&String::from_utf16_lossy(
            &s.encode_utf16().collect::<Vec<_>>()[from..to],
        ))),
    }
}

/// `getBytes()`: the UTF-8 bytes as Java's signed bytes.
fn bytes(s: &str) -> Value {
    Value::List(Rc::new(List {
        items: std::cell::RefCell::new(s.bytes().map(|b| Value::int(b as i8 as i128)).collect()),
        json: false,
        array: true,
    }))
}

fn string_method(
    ev: &mut Eval,
    s: &Rc<str>,
    name: &str,
    args: &[Value],
) -> Result<Value, RenderError> {
    // A null argument reaches Java, whose String methods throw (corpus 529); `equals` and
    // `equalsIgnoreCase` answer false.
    if args.iter().any(Value::is_null)
        && !matches!(name, "equals" | "equalsIgnoreCase")
        && !matches!(
            (name, args.len()),
            ("substring", _) | ("charAt", 1) | ("split", 2) | ("format", _)
        )
    {
        {
            return Err(fault(format!(
                "Invocation of method '{name}' in class java.lang.String threw exception java.lang.NullPointerException"
            )));
        }
    }
    let strs: Vec<Option<Rc<str>>> = args.iter().map(arg_str).collect();
    let str_arg = |i: usize| strs.get(i).cloned().flatten();
    Ok(match (name, args.len()) {
        ("length", 0) => Value::int(utf16_len(s) as i128),
        ("isEmpty", 0) => Value::Bool(s.is_empty()),
        ("toString", 0) | ("intern", 0) => Value::Str(s.clone()),
        ("toLowerCase", 0) => Value::str(&s.to_lowercase()),
        ("toUpperCase", 0) => Value::str(&s.to_uppercase()),
        // Java's trim() removes every char <= U+0020 at both ends.
        ("trim", 0) => Value::str(s.trim_matches(|c: char| c <= ' ')),
        ("substring", 1) => match arg_int(&args[0]) {
            Some(from) => substring(s, from, utf16_len(s))?,
            None => Value::Null,
        },
        ("substring", 2) => match (arg_int(&args[0]), arg_int(&args[1])) {
            (Some(a), Some(b)) => substring(s, a, b)?,
            _ => Value::Null,
        },
        ("charAt", 1) => match arg_int(&args[0]).and_then(|i| s.encode_utf16().nth(i)) {
            Some(u) => Value::str(&String::from_utf16_lossy(&[u])),
            None => {
                return Err(fault("String index out of range in charAt"));
            }
        },
        ("indexOf", 1) => match str_arg(0) {
            Some(n) => Value::int(s.find(&*n).map_or(-1, |b| units_before(s, b) as i128)),
            None => Value::Null,
        },
        ("indexOf", 2) => match (str_arg(0), int_of(&args[1])) {
            (Some(n), Some(from)) => {
                let from = from.max(0) as usize;
                match byte_at(s, from.min(utf16_len(s))) {
                    Some(b) => Value::int(
                        s[b..]
                            .find(&*n)
                            .map_or(-1, |i| units_before(s, b + i) as i128),
                    ),
                    None => Value::int(-1),
                }
            }
            _ => Value::Null,
        },
        ("lastIndexOf", 1) => match str_arg(0) {
            Some(n) => Value::int(s.rfind(&*n).map_or(-1, |b| units_before(s, b) as i128)),
            None => Value::Null,
        },
        ("contains", 1) => match str_arg(0) {
            Some(n) => Value::Bool(s.contains(&*n)),
            None => Value::Null,
        },
        ("startsWith", 1) => match str_arg(0) {
            Some(n) => Value::Bool(s.starts_with(&*n)),
            None => Value::Null,
        },
        ("endsWith", 1) => match str_arg(0) {
            Some(n) => Value::Bool(s.ends_with(&*n)),
            None => Value::Null,
        },
        ("equals", 1) => Value::Bool(matches!(&args[0], Value::Str(o) if o == s)),
        ("equalsIgnoreCase", 1) => match &args[0] {
            Value::Str(o) => Value::Bool(o.to_lowercase() == s.to_lowercase()),
            _ => Value::Bool(false),
        },
        ("compareTo", 1) => match str_arg(0) {
            Some(o) => Value::int(java_compare(s, &o)),
            None => Value::Null,
        },
        ("concat", 1) => match &args[0] {
            Value::Str(o) => {
                ev.spend(s.len() + o.len())?;
                Value::str(&format!("{s}{o}"))
            }
            _ => Value::Null,
        },
        ("replace", 2) => match (str_arg(0), str_arg(1)) {
            (Some(a), Some(b)) => {
                let r = java_replace(s, &a, &b);
                ev.spend(r.len())?;
                Value::str(&r)
            }
            _ => Value::Null,
        },
        ("replaceAll", 2) | ("replaceFirst", 2) => match (str_arg(0), str_arg(1)) {
            (Some(re), Some(with)) => {
                let r = jregex::replace(s, &re, &with, name == "replaceAll").map_err(fault)?;
                ev.spend(r.len())?;
                Value::str(&r)
            }
            _ => Value::Null,
        },
        ("matches", 1) => match str_arg(0) {
            Some(re) => Value::Bool(jregex::matches(s, &re).map_err(fault)?),
            None => Value::Null,
        },
        ("split", 1) | ("split", 2) => match str_arg(0) {
            Some(re) => {
                let limit = match args.get(1) {
                    Some(v) => match int_of(v) {
                        Some(l) => l,
                        None => return Ok(Value::Null),
                    },
                    None => 0,
                };
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let parts = jregex::split(s, &re, limit).map_err(fault)?;
                let parts = parts.into_iter().map(|p| Value::str(&p)).collect();
                return Ok(Value::List(Rc::new(List {
                    items: std::cell::RefCell::new(parts),
                    json: false,
                    array: true,
                })));
            }
            None => Value::Null,
        },
        ("hashCode", 0) => Value::int(java_hash(s)),
        ("getBytes", 0) => bytes(s),
        // The static `String.format`, called through an instance as Velocity allows.
        ("format", n) if n >= 1 => match &args[0] {
            Value::Str(f) => Value::str(&java_format(f, &args[1..]).map_err(fault)?),
            _ => Value::Null,
        },
        _ => Value::Null,
    })
}

/// `String.format` for `%s`, `%d`, `%n` and `%%` (what templates use); other conversions
/// fail as an unknown format would in Java.
fn java_format(f: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::with_capacity(f.len());
    let mut next = args.iter();
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('n') => out.push('\n'),
            Some('s') => match next.next() {
                Some(v) => v.write_to(&mut out),
                None => return Err("java.util.MissingFormatArgumentException: '%s'".into()),
            },
            Some('d') => match next.next() {
                Some(Value::Int(i)) => out.push_str(&i.get().to_string()),
                Some(_) => {
                    return Err("java.util.IllegalFormatConversionException: d".into());
                }
                None => return Err("java.util.MissingFormatArgumentException: '%d'".into()),
            },
            other => {
                return Err(format!(
                    "java.util.UnknownFormatConversionException: '{}'",
                    other.unwrap_or(' ')
                ))
            }
        }
    }
    Ok(out)
}

/// `String.compareTo`: the difference of the first differing UTF-16 units, else of lengths.
fn java_compare(a: &str, b: &str) -> i128 {
    let (mut x, mut y) = (a.encode_utf16(), b.encode_utf16());
    loop {
        match (x.next(), y.next()) {
            (Some(p), Some(q)) if p != q => return p as i128 - q as i128,
            (Some(_), Some(_)) => {}
            (None, None) => return 0,
            _ => return utf16_len(a) as i128 - utf16_len(b) as i128,
        }
    }
}

fn java_hash(s: &str) -> i128 {
    let mut h: i32 = 0;
    for u in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(u as i32);
    }
    h as i128
}

/// `String.replace(CharSequence, CharSequence)`: literal, every occurrence; an empty target
/// inserts the replacement between every character and at both ends.
fn java_replace(s: &str, a: &str, b: &str) -> String {
    if a.is_empty() {
        let mut out = String::with_capacity(s.len() + b.len() * (s.len() + 1));
        out.push_str(b);
        for c in s.chars() {
            out.push(c);
            out.push_str(b);
        }
        return out;
    }
    s.replace(a, b)
}

fn list_method(v: &Value, l: &Rc<List>, name: &str, args: &[Value]) -> Result<Value, RenderError> {
    let len = l.items.borrow().len();
    Ok(match (name, args) {
        ("size", []) => Value::int(len as i128),
        ("isEmpty", []) => Value::Bool(len == 0),
        ("get", [i]) => match arg_int(i) {
            Some(i) if i < len => l.items.borrow()[i].clone(),
            Some(i) => {
                return Err(fault(format!("Index {i} out of bounds for length {len}")));
            }
            None => Value::Null,
        },
        ("contains", [x]) => Value::Bool(l.items.borrow().iter().any(|i| java_equals(i, x))),
        ("indexOf", [x]) => Value::int(
            l.items
                .borrow()
                .iter()
                .position(|i| java_equals(i, x))
                .map_or(-1, |p| p as i128),
        ),
        ("add", [x]) => {
            l.items.borrow_mut().push(x.clone());
            Value::Bool(true)
        }
        ("add", [i, x]) => match arg_int(i) {
            Some(i) if i <= len => {
                l.items.borrow_mut().insert(i, x.clone());
                // `void add(int, E)`: Velocity renders a void method as an empty string.
                Value::str("")
            }
            _ => return Err(fault("Index out of bounds in add")),
        },
        ("set", [i, x]) => match arg_int(i) {
            Some(i) if i < len => std::mem::replace(&mut l.items.borrow_mut()[i], x.clone()),
            _ => return Err(fault("Index out of bounds in set")),
        },
        ("remove", [Value::Int(i)]) => match usize::try_from(i.get()) {
            Ok(i) if i < len => l.items.borrow_mut().remove(i),
            _ => return Err(fault("Index out of bounds in remove")),
        },
        ("remove", [x]) => {
            let mut items = l.items.borrow_mut();
            match items.iter().position(|i| java_equals(i, x)) {
                Some(p) => {
                    items.remove(p);
                    Value::Bool(true)
                }
                None => Value::Bool(false),
            }
        }
        ("addAll", [Value::List(o)]) => {
            let more = o.items.borrow().clone();
            l.items.borrow_mut().extend(more);
            Value::Bool(true)
        }
        ("clear", []) => {
            l.items.borrow_mut().clear();
            Value::str("")
        }
        ("subList", [a, b]) => match (arg_int(a), arg_int(b)) {
            (Some(a), Some(b)) if a <= b && b <= len => {
                Value::list(l.items.borrow()[a..b].to_vec())
            }
            _ => return Err(fault("Index out of bounds in subList")),
        },
        ("toString", []) => Value::str(&v.to_java_string()),
        ("equals", [o]) => Value::Bool(java_equals(v, o)),
        _ => Value::Null,
    })
}

/// `Object.equals` for collection membership: numbers of the same kind by value, strings by
/// content.
fn java_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::List(x), Value::List(y)) => {
            let (x, y) = (x.items.borrow(), y.items.borrow());
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| java_equals(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            Rc::ptr_eq(x, y) || a.to_java_string() == b.to_java_string()
        }
        _ => false,
    }
}

fn map_method(m: &Rc<super::value::Map>, name: &str, args: &[Value]) -> Value {
    let key = |v: &Value| v.to_rc_str();
    match (name, args) {
        ("get", [k]) => m.get(&key(k)),
        ("put", [k, v]) => m.put(key(k), v.clone()),
        ("containsKey", [k]) => Value::Bool(m.contains(&key(k))),
        ("containsValue", [v]) => {
            Value::Bool(m.entries.borrow().iter().any(|(_, x)| java_equals(x, v)))
        }
        ("remove", [k]) => m.remove(&key(k)),
        ("size", []) => Value::int(m.entries.borrow().len() as i128),
        ("isEmpty", []) => Value::Bool(m.entries.borrow().is_empty()),
        ("keySet", []) => Value::list(
            m.entries
                .borrow()
                .iter()
                .map(|(k, _)| Value::Str(k.clone()))
                .collect(),
        ),
        ("values", []) => Value::list(m.entries.borrow().iter().map(|(_, v)| v.clone()).collect()),
        ("entrySet", []) => Value::list(
            m.entries
                .borrow()
                .iter()
                .map(|(k, v)| Value::Host(Host::Entry(Rc::new((k.clone(), v.clone())))))
                .collect(),
        ),
        ("putAll", [Value::Map(o)]) => {
            let more = o.entries.borrow().clone();
            for (k, v) in more {
                m.put(k, v);
            }
            Value::str("")
        }
        ("clear", []) => {
            m.entries.borrow_mut().clear();
            Value::str("")
        }
        ("toString", []) => Value::str(&Value::Map(m.clone()).to_java_string()),
        _ => Value::Null,
    }
}

fn number_method(v: &Value, name: &str, args: &[Value]) -> Value {
    let n = v.number();
    match (name, args, n) {
        ("toString", [], _) => Value::str(&v.to_java_string()),
        ("intValue", [], Some(n)) | ("longValue", [], Some(n)) => Value::int(match n {
            super::value::Num::Int(i) => i,
            super::value::Num::Float(f) => f as i128,
        }),
        ("doubleValue", [], Some(n)) | ("floatValue", [], Some(n)) => Value::Float(n.as_f64()),
        ("equals", [o], _) => Value::Bool(java_equals(v, o)),
        ("compareTo", [o], Some(n)) => match o.number() {
            Some(m) => Value::int(match n.as_f64().partial_cmp(&m.as_f64()) {
                Some(std::cmp::Ordering::Less) => -1,
                Some(std::cmp::Ordering::Greater) => 1,
                _ => 0,
            }),
            None => Value::Null,
        },
        // Static methods called on an instance, as templates do (`$i.parseInt("3")`).
        ("parseInt", [Value::Str(s)], _) | ("valueOf", [Value::Str(s)], _) => s
            .trim()
            .parse::<i32>()
            .map_or(Value::Null, |i| Value::int(i as i128)),
        _ => Value::Null,
    }
}
