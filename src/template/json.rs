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
            Some(i) => Value::int(i),
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
///
/// A body is read by [`Reader`], a byte loop made for this one job: two thirds of the
/// instructions of serde_json's visitor path (194,000 against 297,000 for the 5.5 KB body of
/// `loadtest/templates/items100.json`, most of the saving from the keys it does not read
/// twice). Whatever it refuses goes to serde_json, which reads it or refuses it with the
/// message the 400 carries; so the reader only has to be right about what it accepts, and
/// `tests::the_reader_reads_what_serde_reads` holds it to serde_json's results.
pub fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    match std::str::from_utf8(text)
        .ok()
        .and_then(|t| Reader::new(t).document())
    {
        Some(v) => Ok(v),
        None => parse_serde(text),
    }
}

/// [`parse`] through serde_json: the reference, and the error messages.
fn parse_serde(text: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let v = serde::de::DeserializeSeed::deserialize(Seed, &mut de)?;
    de.end()?;
    Ok(v)
}

/// An object's entries as [`Value::map`] takes them.
type Entries = Vec<(Rc<str>, Value)>;

/// serde_json's nesting limit (its recursion limit of 128 refuses the 128th array or object
/// inside another): deeper documents are left to it, and it refuses them.
const MAX_DEPTH: usize = 127;

/// A JSON reader over text already checked to be UTF-8 (RFC 8259's grammar, serde_json's
/// number rules). `None` means "not sure": the caller asks serde_json.
struct Reader<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
    keys: Keys,
    /// The keys of the last object closed at each depth: the objects of an array mostly have
    /// the same keys in the same order, so each key is first checked against its sibling's
    /// (one compare, no string read, no cache lookup, no repeated-key scan). Only keys whose
    /// raw text is their value (no `"`, `\\` or control characters) are kept here.
    shapes: Vec<Vec<Rc<str>>>,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            text,
            at: 0,
            depth: 0,
            keys: Keys::default(),
            shapes: Vec::new(),
        }
    }

    fn document(mut self) -> Option<Value> {
        let v = self.value()?;
        self.space();
        (self.at == self.text.len()).then_some(v)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Skips space, then expects `b`.
    fn expect(&mut self, b: u8) -> Option<()> {
        self.space();
        (self.peek()? == b).then(|| self.at += 1)
    }

    fn value(&mut self) -> Option<Value> {
        self.space();
        match self.peek()? {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'"' => Some(Value::Str(Rc::from(self.string()?))),
            b't' => self.word("true", Value::Bool(true)),
            b'f' => self.word("false", Value::Bool(false)),
            b'n' => self.word("null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// At `{` or `[`: reads the object or array one level deeper. The depth is restored on
    /// every way out, so the levels above index their sibling shapes by it.
    fn nested(&mut self, f: fn(&mut Self) -> Option<Value>) -> Option<Value> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        self.at += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn word(&mut self, word: &str, v: Value) -> Option<Value> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            v
        })
    }

    /// After `{`.
    fn object(&mut self) -> Option<Value> {
        if self.shapes.len() <= self.depth {
            self.shapes.resize_with(self.depth + 1, Vec::new);
        }
        let mut shape = std::mem::take(&mut self.shapes[self.depth]);
        let read = self.members(&shape);
        if let Some((entries, false)) = &read {
            shape.clear();
            if entries.iter().all(|(k, _)| raw_is_text(k)) {
                shape.extend(entries.iter().map(|(k, _)| k.clone()));
            }
        }
        self.shapes[self.depth] = shape;
        read.map(|(entries, _)| Value::map(entries))
    }

    /// An object's members up to and past its `}`, and whether they were `shape`'s keys in
    /// `shape`'s order.
    fn members(&mut self, shape: &[Rc<str>]) -> Option<(Entries, bool)> {
        let mut entries: Entries = Vec::with_capacity(shape.len());
        self.space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some((entries, shape.is_empty()));
        }
        // Whether every key so far was the sibling's key in its place: then no key repeats
        // (the sibling's keys are distinct), so there is nothing to look for.
        let mut predicted = true;
        let mut index = None;
        loop {
            self.space();
            let key = match shape.get(entries.len()) {
                Some(k) if predicted && self.skip_key(k) => k.clone(),
                _ => {
                    predicted = false;
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.string()?;
                    self.keys.get(&key)
                }
            };
            self.expect(b':')?;
            let v = self.value()?;
            if predicted {
                entries.push((key, v));
            } else {
                put(&mut entries, &mut index, key, v);
            }
            self.space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    let same = predicted && entries.len() == shape.len();
                    return Some((entries, same));
                }
                _ => return None,
            }
        }
    }

    /// Steps over `"key"` when the text here is exactly that.
    fn skip_key(&mut self, key: &str) -> bool {
        let rest = &self.text.as_bytes()[self.at..];
        let n = key.len();
        let here = rest.len() > n + 1
            && rest[0] == b'"'
            && rest[n + 1] == b'"'
            && &rest[1..=n] == key.as_bytes();
        if here {
            self.at += n + 2;
        }
        here
    }

    /// After `[`.
    fn array(&mut self) -> Option<Value> {
        let mut items = Vec::new();
        self.space();
        if self.peek()? != b']' {
            loop {
                items.push(self.value()?);
                self.space();
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.at += 1;
        Some(Value::List(Rc::new(List {
            items: std::cell::RefCell::new(items),
            json: true,
            array: false,
        })))
    }

    /// At `"`: the string's text, borrowed when it has no escapes.
    fn string(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        let bytes = self.text.as_bytes();
        self.at += 1;
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut chunk = start;
        loop {
            match *bytes.get(self.at)? {
                b'"' => {
                    let tail = &self.text[chunk..self.at];
                    self.at += 1;
                    return Some(match owned {
                        None => std::borrow::Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            std::borrow::Cow::Owned(s)
                        }
                    });
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[chunk..self.at]);
                    self.at += 1;
                    let c = self.escape()?;
                    s.push(c);
                    chunk = self.at;
                }
                // Control characters must be escaped (serde_json refuses them raw).
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    /// After a backslash: the character it stands for. Lone surrogates are refused, as
    /// serde_json refuses them.
    fn escape(&mut self) -> Option<char> {
        let b = self.peek()?;
        self.at += 1;
        Some(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                match hi {
                    0xD800..=0xDBFF => {
                        if !self.text[self.at..].starts_with("\\u") {
                            return None;
                        }
                        self.at += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return None;
                        }
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                    }
                    _ => char::from_u32(hi)?,
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A number as serde_json gives it: an integer that fits `i64` ([`integer`]), `-0` and
    /// larger integers as doubles, everything with a fraction or exponent a double.
    fn number(&mut self) -> Option<Value> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let negative = bytes[self.at] == b'-';
        if negative {
            self.at += 1;
        }
        // The digits as one integer, fraction included (`None` past 64 bits).
        let mut mantissa = Some(0u64);
        match bytes.get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits(&mut mantissa);
            }
            _ => return None,
        }
        let mut scale: i32 = 0;
        let mut float = false;
        if bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            let n = self.digits(&mut mantissa);
            if n == 0 {
                return None;
            }
            scale = -(n.min(1000) as i32);
            float = true;
        }
        if let Some(b'e' | b'E') = bytes.get(self.at) {
            self.at += 1;
            let sign = match bytes.get(self.at) {
                Some(b'-') => {
                    self.at += 1;
                    -1
                }
                Some(b'+') => {
                    self.at += 1;
                    1
                }
                _ => 1,
            };
            let mut exp = Some(0u64);
            if self.digits(&mut exp) == 0 {
                return None;
            }
            // An exponent past i32 is past every double either way (`str::parse` decides).
            let exp = exp.and_then(|e| i32::try_from(e).ok()).unwrap_or(i32::MAX);
            scale = scale.saturating_add(sign * exp);
            float = true;
        }
        if !float {
            if let Some(n) = mantissa {
                return Some(integer(negative, n));
            }
        }
        let f = match mantissa.and_then(|m| exact(m, scale)) {
            Some(f) if negative => -f,
            Some(f) => f,
            None => self.text[start..self.at].parse::<f64>().ok()?,
        };
        // Past f64's range serde_json refuses the number ("number out of range").
        f.is_finite().then_some(Value::Float(f))
    }

    /// Reads digits into `n` (`None` once it passes 64 bits); how many there were.
    fn digits(&mut self, n: &mut Option<u64>) -> usize {
        let bytes = self.text.as_bytes();
        let first = self.at;
        while let Some(&d @ b'0'..=b'9') = bytes.get(self.at) {
            *n = n.and_then(|m| m.checked_mul(10)?.checked_add(u64::from(d - b'0')));
            self.at += 1;
        }
        self.at - first
    }
}

/// `m × 10^scale` when both are exact in a double, so one multiplication or division rounds
/// it correctly (Clinger's fast path: below 2^53 and within 10^±22); `None` otherwise, for
/// the full algorithm of `str::parse`.
fn exact(m: u64, scale: i32) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    if m >= 1 << 53 {
        return None;
    }
    let p = *POW10.get(scale.unsigned_abs() as usize)?;
    Some(if scale < 0 {
        m as f64 / p
    } else {
        m as f64 * p
    })
}

/// Whether a key's JSON text, between its quotes, is the key itself (nothing escaped).
fn raw_is_text(key: &str) -> bool {
    key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// serde_json's integers (`parse_integer`) as the template sees them: a negative whose
/// negation is not a negative `i64` becomes a double (so `-0` is `-0.0`), and so does a
/// positive past `i64` (which `to_value` reads as a double, `as_i64` failing).
fn integer(negative: bool, n: u64) -> Value {
    if negative {
        let neg = (n as i64).wrapping_neg();
        if neg >= 0 {
            Value::Float(-(n as f64))
        } else {
            Value::int(neg)
        }
    } else {
        match i64::try_from(n) {
            Ok(i) => Value::int(i),
            Err(_) => Value::Float(n as f64),
        }
    }
}

/// The object keys met so far in one body, so the objects of an array (which mostly share
/// their keys) share one `Rc<str>` per key instead of allocating each: a direct-mapped cache,
/// so a body of many distinct keys costs one hash and one compare per key, never a search.
struct Keys {
    slots: [Option<Rc<str>>; KEY_SLOTS],
}

/// Slots of the key cache (a power of two).
const KEY_SLOTS: usize = 64;

/// Keys longer than this are not worth caching.
const KEY_MAX: usize = 64;

impl Default for Keys {
    fn default() -> Self {
        Keys {
            slots: std::array::from_fn(|_| None),
        }
    }
}

impl Keys {
    fn get(&mut self, key: &str) -> Rc<str> {
        if key.len() > KEY_MAX {
            return Rc::from(key);
        }
        // FNV-1a over the bytes: short keys, no need for anything stronger.
        let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        let slot = &mut self.slots[hash as usize & (KEY_SLOTS - 1)];
        match slot {
            Some(k) if super::value::same(k, key) => k.clone(),
            _ => {
                let k: Rc<str> = Rc::from(key);
                *slot = Some(k.clone());
                k
            }
        }
    }
}

struct Seed;

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
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
        Ok(Value::int(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        // `to_value` reads a u64 above i64 as a double, as serde_json's `as_i64` fails.
        Ok(integer(false, n))
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
        let mut index = None;
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(Seed)?;
            put(&mut entries, &mut index, k, v);
        }
        Ok(Value::map(entries))
    }
}

/// `LinkedHashMap.put` while an object is read: a repeated key keeps its first place and takes
/// the new value. Repeated keys are looked for by a scan while the object is small and
/// through an index (built here once it passes [`SCAN_KEYS`]) past that, so a body with a
/// huge object costs linear time, not quadratic.
fn put(
    entries: &mut Vec<(Rc<str>, Value)>,
    index: &mut Option<ahash::AHashMap<Rc<str>, usize>>,
    key: Rc<str>,
    v: Value,
) {
    if index.is_none() && entries.len() >= SCAN_KEYS {
        let built = entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i));
        *index = Some(built.collect());
    }
    let found = match index {
        Some(ix) => ix.get(&key).copied(),
        None => entries.iter().position(|(e, _)| *e == key),
    };
    match found {
        Some(i) => entries[i].1 = v,
        None => {
            if let Some(ix) = index {
                ix.insert(key.clone(), entries.len());
            }
            entries.push((key, v));
        }
    }
}

/// Objects up to this many keys find repeated keys by scanning.
const SCAN_KEYS: usize = 16;

/// An object key, straight into an `Rc<str>` (no intermediate `String`).
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Rc<str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Rc<str>, D::Error> {
        d.deserialize_str(self)
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
    let bytes = s.as_bytes();
    let mut at = 0;
    // Runs that need no escape are copied whole; every escaped character is ASCII, so the
    // runs end on character boundaries.
    while at < bytes.len() {
        let end = at + bytes[at..].iter().take_while(|&&b| !special(b)).count();
        out.push_str(&s[at..end]);
        let Some(&b) = bytes.get(end) else { break };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04X}", b));
            }
        }
        at = end + 1;
    }
    out.push('"');
}

/// A byte a JSON string cannot hold as it is: `"`, `\\` or a control character.
fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
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

    use crate::testing::XorShift;

    const PIECES: [&str; 33] = [
        "0.1",
        "123.456e-5",
        "1e22",
        "1e23",
        "9007199254740993.0",
        "-0.0",
        "0.30000000000000004",
        "1.7976931348623157e308",
        "5e-324",
        "0",
        "-0",
        "7",
        "-12",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "1.5",
        "-2.25e3",
        "1E-7",
        "6.02e+23",
        "true",
        "false",
        "null",
        r#""""#,
        r#""a b""#,
        r#""\"\\\/\b\f\n\r\t""#,
        r#""\u00e9\u20AC""#,
        r#""\uD83D\uDE00""#,
        r#""é€😀""#,
        r#""\uD83D""#,
        r#""x\u0041y""#,
    ];

    fn generate(rng: &mut XorShift, depth: usize, out: &mut String) {
        let space = [" ", "", "\n", "\t", "\r\n "];
        match rng.below(if depth > 4 { 1 } else { 3 }) {
            0 => out.push_str(PIECES[rng.below(PIECES.len())]),
            1 => {
                out.push('[');
                // Siblings that repeat one another, as the objects of an array do.
                let mut first = String::new();
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(space[rng.below(space.len())]);
                    if i > 0 && rng.below(2) == 0 {
                        out.push_str(&first);
                    } else {
                        let at = out.len();
                        generate(rng, depth + 1, out);
                        first = out[at..].to_string();
                    }
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    // Few key names, so repeated keys come up.
                    out.push_str(["\"a\"", "\"b\"", "\"\\u0061\"", "\"k\""][rng.below(4)]);
                    out.push_str(space[rng.below(space.len())]);
                    out.push(':');
                    generate(rng, depth + 1, out);
                }
                out.push('}');
            }
        }
    }

    /// What a parse gives, as a comparable string.
    fn outcome(r: Result<Value, serde_json::Error>) -> String {
        match r {
            Ok(v) => format!("ok {}", v.to_java_string()),
            Err(e) => format!("error {e}"),
        }
    }

    #[test]
    fn the_reader_reads_what_serde_reads() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let damage = [
            "", ",", "]", "}", "\"", "\\", ":", "x", "\u{1}", "-", ".", "e", "0",
        ];
        for _ in 0..20_000 {
            let mut text = String::new();
            generate(&mut rng, 0, &mut text);
            // Half the documents get a byte inserted or removed somewhere.
            if rng.below(2) == 0 && !text.is_empty() {
                let mut at = rng.below(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match rng.below(2) {
                    0 => text.insert_str(at, damage[rng.below(damage.len())]),
                    _ => {
                        text.remove(at);
                    }
                }
            }
            let fast = outcome(parse(text.as_bytes()));
            let reference = outcome(parse_serde(text.as_bytes()));
            assert_eq!(fast, reference, "for {text:?}");
        }
        // Nesting up to serde_json's limit reads as it does, past it is its error (and never
        // a stack overflow).
        for n in [126, 127, 128, 129, 200] {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let deep = open.repeat(n) + "1" + &close.repeat(n);
                let fast = outcome(parse(deep.as_bytes()));
                assert_eq!(fast, outcome(parse_serde(deep.as_bytes())), "depth {n}");
            }
        }
        assert!(parse(("[".repeat(200) + &"]".repeat(200)).as_bytes()).is_err());
        assert!(parse(&[b'"', 0xff, b'"']).is_err());
    }

    /// `write_str` one character at a time, as json-smart escapes.
    fn write_str_slowly(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_are_escaped_and_read_across_word_boundaries() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let alphabet = [
            "a", "bcdefgh", "\"", "\\", "\n", "\u{1}", "\u{1f}", "é", "€", "😀", " ", "\t",
            "\u{7f}",
        ];
        for _ in 0..5_000 {
            let text: String = (0..rng.below(40))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let mut fast = String::new();
            write_str(&text, &mut fast);
            assert_eq!(fast, write_str_slowly(&text), "writing {text:?}");
            // And read back by the reader, as a member of an object.
            let doc = format!("{{\"k\": {fast}}}");
            let read = Reader::new(&doc).document().map(|v| v.to_java_string());
            assert_eq!(read, Some(format!("{{k={text}}}")), "reading {doc:?}");
        }
    }

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
