//! The values a template computes with, shaped after the Java objects Velocity sees.
//!
//! Velocity works on Java objects: `Integer`/`Long`, `Double`, `String`, `ArrayList`,
//! `LinkedHashMap`, `Boolean`, and `null`. Lists and maps are shared and mutable, as Java
//! references are: `#set($b = $a)` then `$b.put(...)` changes `$a` too, so both are
//! `Rc<RefCell<..>>`. Values live for one render on one shard, never in the snapshot.
//!
//! Printing follows Java's `toString()` (Velocity renders a reference with it):
//! `AbstractCollection.toString` gives `[a, b]`, `AbstractMap.toString` gives `{k=v, k2=v2}`,
//! `Double.toString` gives `2.5`, `5.0`, `1.0E10`. Lists made by JSONPath are json-smart's
//! `JSONArray`, whose `toString()` is JSON text instead (see `template::gateway`).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use std::cell::Cell;
use std::sync::Arc;

use super::ast::Node;

/// A Java object as Velocity sees it.
#[derive(Clone, Debug)]
pub enum Value {
    /// `null`: an undefined reference, a missing key, a method that returned nothing.
    Null,
    /// `java.lang.Boolean`.
    Bool(bool),
    /// `java.lang.Integer`, `Long` or `BigInteger` (Velocity widens on overflow; all print
    /// the same).
    Int(Int),
    /// `java.lang.Double`.
    Float(f64),
    /// `java.lang.String`.
    Str(Rc<str>),
    /// `java.util.ArrayList` (or json-smart's `JSONArray`).
    List(Rc<List>),
    /// `java.util.LinkedHashMap`.
    Map(Rc<Map>),
    /// One of API Gateway's objects (`$input`, `$util`, `$context`...) or a loop's `$foreach`.
    Host(Host),
}

/// String equality for the short names templates look up (variables, keys): bytes compared
/// in place, where `==` calls `memcmp`, which costs more than the compare for a few bytes.
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// A Java integer of any width (`Integer`, `Long`, `BigInteger` up to 128 bits), stored at
/// 8-byte alignment: an `i128` field would align every [`Value`] to 16 bytes and make it 48
/// bytes instead of 24, and values are moved on every step of a render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(8))]
pub struct Int(i128);

impl Int {
    /// The integer.
    pub fn get(self) -> i128 {
        self.0
    }
}

/// A class as `$v.class` reports it.
#[derive(Debug)]
pub struct JavaClass {
    /// `getName()`.
    pub name: &'static str,
    /// `getSimpleName()`.
    pub simple: &'static str,
}

/// An object that is not plain data: API Gateway's variables, a loop's `$foreach`, a
/// `#define` block, a map entry.
#[derive(Clone, Debug)]
pub enum Host {
    /// `$input`.
    Input,
    /// `$util`.
    Util,
    /// `$context`, or one of its groups (`identity`, `authorizer`...) by dotted prefix.
    Context(Rc<str>),
    /// `$stageVariables`.
    StageVariables,
    /// `$foreach` of the loop running.
    Loop(Rc<Loop>),
    /// A `#define` block: rendered where it is referenced.
    Block(Arc<[Node]>),
    /// An element of `$map.entrySet()`: `$e.key`, `$e.value`.
    Entry(Rc<(Rc<str>, Value)>),
    /// `$v.class`: its name and simple name.
    Class(&'static JavaClass),
}

impl Host {
    fn write_to(&self, out: &mut String) {
        match self {
            Host::Entry(e) => {
                out.push_str(&e.0);
                out.push('=');
                e.1.write_to(out);
            }
            Host::Loop(_) => out.push_str("org.apache.velocity.runtime.directive.ForeachScope"),
            Host::Input => out.push_str("com.amazonaws.apigateway.Input"),
            Host::Util => out.push_str("com.amazonaws.apigateway.Util"),
            Host::Context(_) | Host::StageVariables => out.push_str("{}"),
            Host::Block(_) => {}
            Host::Class(class) => {
                out.push_str("class ");
                out.push_str(class.name);
            }
        }
    }
}

/// The state of a `#foreach` as `$foreach` shows it.
#[derive(Debug, Default)]
pub struct Loop {
    /// 0-based index of the current element.
    pub index: Cell<usize>,
    /// Whether another element follows.
    pub has_next: Cell<bool>,
    /// The enclosing loop's state (`$foreach.parent`).
    pub parent: Option<Rc<Loop>>,
}

/// A shared, mutable list.
#[derive(Debug, Default)]
pub struct List {
    /// The elements.
    pub items: RefCell<Vec<Value>>,
    /// Printed as JSON (json-smart's `JSONArray.toString`) rather than Java's `[a, b]`.
    pub json: bool,
    /// A Java array (`split`, `getBytes`): the class Velocity reports differs.
    pub array: bool,
}

/// A shared, mutable map in insertion order (`LinkedHashMap`).
#[derive(Debug, Default)]
pub struct Map {
    /// Entries in insertion order; keys are compared as strings.
    pub entries: RefCell<Vec<(Rc<str>, Value)>>,
}

impl Map {
    /// The value under `key`, `Null` when absent.
    pub fn get(&self, key: &str) -> Value {
        self.entries
            .borrow()
            .iter()
            .find(|(k, _)| same(k, key))
            .map_or(Value::Null, |(_, v)| v.clone())
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.borrow().iter().any(|(k, _)| same(k, key))
    }

    /// Java's `put`: replaces in place (keeping the key's position), returns the previous value.
    pub fn put(&self, key: Rc<str>, value: Value) -> Value {
        let mut entries = self.entries.borrow_mut();
        if let Some(slot) = entries.iter_mut().find(|(k, _)| same(k, &key)) {
            return std::mem::replace(&mut slot.1, value);
        }
        entries.push((key, value));
        Value::Null
    }

    /// Java's `remove`: the removed value.
    pub fn remove(&self, key: &str) -> Value {
        let mut entries = self.entries.borrow_mut();
        match entries.iter().position(|(k, _)| same(k, key)) {
            Some(i) => entries.remove(i).1,
            None => Value::Null,
        }
    }
}

impl Value {
    /// An integer value.
    pub fn int(i: impl Into<i128>) -> Value {
        Value::Int(Int(i.into()))
    }

    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    /// A new list.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(List {
            items: RefCell::new(items),
            json: false,
            array: false,
        }))
    }

    /// A new map.
    pub fn map(entries: Vec<(Rc<str>, Value)>) -> Value {
        Value::Map(Rc::new(Map {
            entries: RefCell::new(entries),
        }))
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Velocity 1.7's `#if` truth: `null` and `false` are false, everything else is true
    /// (an empty string too; only Velocity 2 made empty strings false).
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false))
    }

    /// The value as a number, when it is one.
    pub fn number(&self) -> Option<Num> {
        match self {
            Value::Int(i) => Some(Num::Int(i.get())),
            Value::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }

    /// Java's `toString()`, appended to `out`.
    pub fn write_to(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let mut buf = itoa::Buffer::new();
                // 64-bit formatting is the quicker one, and nearly every integer fits.
                out.push_str(match i64::try_from(i.get()) {
                    Ok(n) => buf.format(n),
                    Err(_) => buf.format(i.get()),
                });
            }
            Value::Float(f) => write_double(*f, out),
            Value::Str(s) => out.push_str(s),
            Value::List(l) if l.json => super::json::write(self, out),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.items.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write_to(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.entries.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.write_to(out);
                }
                out.push('}');
            }
            Value::Host(h) => h.write_to(out),
        }
    }

    /// Java's `toString()` as a new string.
    pub fn to_java_string(&self) -> String {
        let mut s = String::new();
        self.write_to(&mut s);
        s
    }

    /// The Java class Velocity would report for `$v.class` (name, simple name).
    pub fn java_class(&self) -> Option<&'static JavaClass> {
        const fn class(name: &'static str, simple: &'static str) -> JavaClass {
            JavaClass { name, simple }
        }
        Some(match self {
            Value::Null | Value::Host(_) => return None,
            Value::Bool(_) => &const { class("java.lang.Boolean", "Boolean") },
            Value::Int(i) if i32::try_from(i.get()).is_ok() => {
                &const { class("java.lang.Integer", "Integer") }
            }
            Value::Int(i) if i64::try_from(i.get()).is_ok() => {
                &const { class("java.lang.Long", "Long") }
            }
            Value::Int(_) => &const { class("java.math.BigInteger", "BigInteger") },
            Value::Float(_) => &const { class("java.lang.Double", "Double") },
            Value::Str(_) => &const { class("java.lang.String", "String") },
            Value::List(l) if l.json => &const { class("net.minidev.json.JSONArray", "JSONArray") },
            Value::List(l) if l.array => &const { class("[Ljava.lang.String;", "String[]") },
            Value::List(_) => &const { class("java.util.ArrayList", "ArrayList") },
            Value::Map(_) => &const { class("java.util.LinkedHashMap", "LinkedHashMap") },
        })
    }

    /// The string form as a shared string (no copy for strings).
    pub fn to_rc_str(&self) -> Rc<str> {
        match self {
            Value::Str(s) => s.clone(),
            other => Rc::from(other.to_java_string()),
        }
    }
}

/// A number operand of Velocity's arithmetic (`MathUtils`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// Integer, Long or BigInteger.
    Int(i128),
    /// Double.
    Float(f64),
}

impl Num {
    /// As a double.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// As a value.
    pub fn value(self) -> Value {
        match self {
            Num::Int(i) => Value::int(i),
            Num::Float(f) => Value::Float(f),
        }
    }
}

/// Java's `Double.toString`: plain digits with at least one decimal for 10^-3 <= |d| < 10^7,
/// computerized scientific notation (`1.0E10`, `1.5E-5`) otherwise, `NaN`, `Infinity`.
pub fn write_double(d: f64, out: &mut String) {
    if d.is_nan() {
        out.push_str("NaN");
        return;
    }
    if d.is_infinite() {
        out.push_str(if d > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if d == 0.0 {
        out.push_str(if d.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        let start = out.len();
        let _ = write!(out, "{d}");
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
        return;
    }
    // Rust's `{:e}` gives the shortest digits as `1.5e-5` / `1e10`.
    let s = format!("{d:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    out.push_str(mantissa);
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    out.push('E');
    out.push_str(exp);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &Value) -> String {
        v.to_java_string()
    }

    /// Values are moved on every step of a render: they stay three words (see [`Int`]), and
    /// integers past 64 bits still print whole.
    #[test]
    fn a_value_is_three_words_and_keeps_128_bit_integers() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        let big = i128::from(i64::MAX) * 1000 + 7;
        assert_eq!(show(&Value::int(big)), big.to_string());
        assert_eq!(show(&Value::int(-5)), "-5");
    }

    #[test]
    fn doubles_print_as_java_does() {
        for (d, s) in [
            (2.5, "2.5"),
            (5.0, "5.0"),
            (-0.5, "-0.5"),
            (1e7, "1.0E7"),
            (1.5e-5, "1.5E-5"),
            (0.001, "0.001"),
            (1234567.0, "1234567.0"),
            (0.0, "0.0"),
        ] {
            assert_eq!(show(&Value::Float(d)), s);
        }
    }

    #[test]
    fn collections_print_as_java_does() {
        let l = Value::list(vec![Value::str("a"), Value::int(1), Value::Null]);
        assert_eq!(show(&l), "[a, 1, null]");
        let m = Value::map(vec![("k".into(), Value::str("v")), ("n".into(), l)]);
        assert_eq!(show(&m), "{k=v, n=[a, 1, null]}");
    }

    #[test]
    fn put_keeps_position_and_returns_the_old_value() {
        let m = Map::default();
        assert!(m.put("a".into(), Value::int(1)).is_null());
        m.put("b".into(), Value::int(2));
        assert_eq!(show(&m.put("a".into(), Value::int(3))), "1");
        assert_eq!(show(&Value::Map(Rc::new(m))), "{a=3, b=2}");
    }

    #[test]
    fn only_null_and_false_are_false() {
        assert!(!Value::Null.truthy());
        assert!(!Value::Bool(false).truthy());
        assert!(Value::str("").truthy());
        assert!(Value::int(0).truthy());
    }
}
