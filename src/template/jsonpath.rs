//! JSONPath as Jayway JsonPath evaluates it, for `$input.path` and `$input.json` (API
//! Gateway's documentation: "JSONPath expression", implemented by Jayway).
//!
//! Supported: `$`, `.name`, `['name']` / `["name"]` (several, comma-separated), `[n]` and
//! `[-n]`, `[a,b]`, slices `[a:b]`, `[*]` / `.*`, deep scan `..name` / `..*` / `..[n]`, and
//! filters `[?(@.x == 'y')]` with `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||` and bare
//! existence `[?(@.x)]`. As in Jayway, a path is *definite* when it has no wildcard, deep scan,
//! filter, slice or multi-select: a definite path gives one value or none, any other path gives
//! the list of what it found.

use serde_json::Value as J;

#[derive(Debug, Clone)]
enum Seg {
    Names(Vec<String>),
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>),
    Wildcard,
    Deep(Box<Seg>),
    Filter(Filter),
}

#[derive(Debug, Clone)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Exists(Vec<Seg>),
    Cmp(Operand, &'static str, Operand),
}

#[derive(Debug, Clone)]
enum Operand {
    Path(Vec<Seg>),
    Lit(J),
}

/// What a path found.
#[derive(Debug)]
pub enum Found<'a> {
    /// A definite path's value (or nothing).
    One(Option<&'a J>),
    /// An indefinite path's matches, in document order.
    Many(Vec<&'a J>),
}

/// Evaluates `path` on `doc`; `Err` when the path does not parse.
pub fn select<'a>(doc: &'a J, path: &str) -> Result<Found<'a>, String> {
    let segs = parse(path)?;
    let definite = segs.iter().all(|s| {
        matches!(s, Seg::Names(n) if n.len() == 1) || matches!(s, Seg::Indexes(i) if i.len() == 1)
    });
    let found = apply(&segs, vec![doc]);
    Ok(if definite {
        Found::One(found.into_iter().next())
    } else {
        Found::Many(found)
    })
}

/// One step of a definite path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` / `['name']`.
    Name(String),
    /// `[n]` (negative: from the end).
    Index(i64),
}

/// The steps of `path` when it is definite (names and single indexes only), so it can be
/// walked on the template's own values without a JSONPath engine; `None` otherwise.
pub fn definite(path: &str) -> Option<Vec<Step>> {
    parse(path)
        .ok()?
        .into_iter()
        .map(|s| match s {
            Seg::Names(mut n) if n.len() == 1 => n.pop().map(Step::Name),
            Seg::Indexes(i) if i.len() == 1 => Some(Step::Index(i[0])),
            _ => None,
        })
        .collect()
}

fn apply<'a>(segs: &[Seg], mut cur: Vec<&'a J>) -> Vec<&'a J> {
    for seg in segs {
        let mut next = Vec::new();
        for v in cur {
            step(seg, v, &mut next);
        }
        cur = next;
    }
    cur
}

fn step<'a>(seg: &Seg, v: &'a J, out: &mut Vec<&'a J>) {
    match seg {
        Seg::Names(names) => {
            if let J::Object(m) = v {
                out.extend(names.iter().filter_map(|n| m.get(n)));
            }
        }
        Seg::Indexes(ix) => {
            if let J::Array(a) = v {
                for &i in ix {
                    let i = if i < 0 { a.len() as i64 + i } else { i };
                    if let Some(x) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                        out.push(x);
                    }
                }
            }
        }
        Seg::Slice(from, to) => {
            if let J::Array(a) = v {
                let n = a.len() as i64;
                let norm = |i: i64| if i < 0 { (n + i).max(0) } else { i.min(n) };
                let a0 = from.map_or(0, norm);
                let b0 = to.map_or(n, norm);
                if a0 < b0 {
                    out.extend(&a[a0 as usize..b0 as usize]);
                }
            }
        }
        Seg::Wildcard => match v {
            J::Object(m) => out.extend(m.values()),
            J::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Seg::Deep(inner) => {
            step(inner, v, out);
            match v {
                J::Object(m) => m.values().for_each(|c| step(seg, c, out)),
                J::Array(a) => a.iter().for_each(|c| step(seg, c, out)),
                _ => {}
            }
        }
        Seg::Filter(f) => {
            let items: Vec<&J> = match v {
                J::Array(a) => a.iter().collect(),
                J::Object(_) => vec![v],
                _ => vec![],
            };
            out.extend(items.into_iter().filter(|i| test(f, i)));
        }
    }
}

fn test(f: &Filter, item: &J) -> bool {
    match f {
        Filter::Or(a, b) => test(a, item) || test(b, item),
        Filter::And(a, b) => test(a, item) && test(b, item),
        Filter::Exists(p) => !apply(p, vec![item]).is_empty(),
        Filter::Cmp(a, op, b) => {
            let (Some(x), Some(y)) = (operand(a, item), operand(b, item)) else {
                return false;
            };
            let ord = match (&x, &y) {
                (J::Number(p), J::Number(q)) => p.as_f64().partial_cmp(&q.as_f64()),
                (J::String(p), J::String(q)) => Some(p.cmp(q)),
                _ => {
                    return match *op {
                        "==" => x == y,
                        "!=" => x != y,
                        _ => false,
                    }
                }
            };
            let Some(ord) = ord else { return false };
            match *op {
                "==" => ord.is_eq(),
                "!=" => !ord.is_eq(),
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    }
}

fn operand(o: &Operand, item: &J) -> Option<J> {
    match o {
        Operand::Lit(j) => Some(j.clone()),
        Operand::Path(p) => apply(p, vec![item]).into_iter().next().cloned(),
    }
}

struct P<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

fn parse(path: &str) -> Result<Vec<Seg>, String> {
    let mut p = P {
        s: path,
        b: path.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.b.first() == Some(&b'$') {
        p.i = 1;
    }
    let segs = p.segments(false)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(format!("unexpected `{}` in JSONPath {path}", &p.s[p.i..]));
    }
    Ok(segs)
}

impl P<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn name(&mut self) -> String {
        let start = self.i;
        while self.b.get(self.i).is_some_and(|&c| {
            !matches!(
                c,
                b'.' | b'[' | b']' | b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|'
            )
        }) {
            self.i += 1;
        }
        self.s[start..self.i].to_string()
    }

    /// Segments until the end, or (inside a filter) until an operator.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Seg>, String> {
        let mut segs = Vec::new();
        loop {
            match self.b.get(self.i) {
                Some(b'.') if self.b.get(self.i + 1) == Some(&b'.') => {
                    self.i += 2;
                    let inner = match self.b.get(self.i) {
                        Some(b'[') => self.bracket()?,
                        Some(b'*') => {
                            self.i += 1;
                            Seg::Wildcard
                        }
                        _ => Seg::Names(vec![self.name()]),
                    };
                    segs.push(Seg::Deep(Box::new(inner)));
                }
                Some(b'.') => {
                    self.i += 1;
                    if self.b.get(self.i) == Some(&b'*') {
                        self.i += 1;
                        segs.push(Seg::Wildcard);
                    } else {
                        let n = self.name();
                        if n.is_empty() {
                            return Err("empty property name in JSONPath".into());
                        }
                        segs.push(Seg::Names(vec![n]));
                    }
                }
                Some(b'[') => segs.push(self.bracket()?),
                _ if !in_filter && self.i == 0 && !self.b.is_empty() => {
                    // A path without `$`: Jayway reads `a.b` as `$.a.b`.
                    segs.push(Seg::Names(vec![self.name()]));
                }
                _ => return Ok(segs),
            }
        }
    }

    fn bracket(&mut self) -> Result<Seg, String> {
        self.i += 1;
        self.ws();
        let seg = match self.b.get(self.i) {
            Some(b'*') => {
                self.i += 1;
                Seg::Wildcard
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b',') {
                        break;
                    }
                    self.i += 1;
                    self.ws();
                    names.push(self.quoted()?);
                }
                Seg::Names(names)
            }
            Some(b'?') => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) != Some(&b'(') {
                    return Err("expected `(` after `?` in a JSONPath filter".into());
                }
                self.i += 1;
                let f = self.filter_or()?;
                self.ws();
                if self.b.get(self.i) != Some(&b')') {
                    return Err("expected `)` to close a JSONPath filter".into());
                }
                self.i += 1;
                Seg::Filter(f)
            }
            _ => self.indexes()?,
        };
        self.ws();
        if self.b.get(self.i) != Some(&b']') {
            return Err("expected `]` in JSONPath".into());
        }
        self.i += 1;
        Ok(seg)
    }

    fn quoted(&mut self) -> Result<String, String> {
        let q = self.b[self.i];
        self.i += 1;
        let start = self.i;
        while self.b.get(self.i).is_some_and(|&c| c != q) {
            self.i += 1;
        }
        if self.i >= self.b.len() {
            return Err("unterminated quote in JSONPath".into());
        }
        let s = self.s[start..self.i].to_string();
        self.i += 1;
        Ok(s)
    }

    fn int(&mut self) -> Option<i64> {
        self.ws();
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        let n = self.s[start..self.i].parse().ok();
        self.ws();
        n
    }

    fn indexes(&mut self) -> Result<Seg, String> {
        let first = self.int();
        if self.b.get(self.i) == Some(&b':') {
            self.i += 1;
            let to = self.int();
            return Ok(Seg::Slice(first, to));
        }
        let mut ix = vec![first.ok_or("expected an index in JSONPath")?];
        while self.b.get(self.i) == Some(&b',') {
            self.i += 1;
            ix.push(self.int().ok_or("expected an index in JSONPath")?);
        }
        Ok(Seg::Indexes(ix))
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        self.filter_chain("||", Self::filter_and, Filter::Or)
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        self.filter_chain("&&", Self::filter_cmp, Filter::And)
    }

    /// `operand (op operand)*`, folded to the left.
    fn filter_chain(
        &mut self,
        op: &str,
        operand: fn(&mut Self) -> Result<Filter, String>,
        join: fn(Box<Filter>, Box<Filter>) -> Filter,
    ) -> Result<Filter, String> {
        let mut f = operand(self)?;
        loop {
            self.ws();
            if !self.s[self.i..].starts_with(op) {
                return Ok(f);
            }
            self.i += op.len();
            f = join(Box::new(f), Box::new(operand(self)?));
        }
    }

    fn filter_cmp(&mut self) -> Result<Filter, String> {
        self.ws();
        if self.b.get(self.i) == Some(&b'(') {
            self.i += 1;
            let f = self.filter_or()?;
            self.ws();
            if self.b.get(self.i) != Some(&b')') {
                return Err("expected `)` in a JSONPath filter".into());
            }
            self.i += 1;
            return Ok(f);
        }
        let left = self.operand()?;
        self.ws();
        let rest = &self.s[self.i..];
        let op = ["==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| rest.starts_with(op));
        match op {
            Some(op) => {
                self.i += op.len();
                let right = self.operand()?;
                Ok(Filter::Cmp(left, op, right))
            }
            None => match left {
                Operand::Path(p) => Ok(Filter::Exists(p)),
                Operand::Lit(_) => Err("a JSONPath filter needs a comparison".into()),
            },
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.ws();
        match self.b.get(self.i) {
            Some(b'@') => {
                self.i += 1;
                Ok(Operand::Path(self.segments(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Lit(J::String(self.quoted()?))),
            _ => {
                let start = self.i;
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'+'))
                {
                    self.i += 1;
                }
                serde_json::from_str(&self.s[start..self.i])
                    .map(Operand::Lit)
                    .map_err(|_| format!("not a JSONPath filter value: {}", &self.s[start..self.i]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> J {
        serde_json::json!({
            "store": {"book": [
                {"title": "A", "price": 8, "isbn": "1"},
                {"title": "B", "price": 12},
                {"title": "C", "price": 9.5, "isbn": "3"}
            ], "name": "s"},
            "a.b": 1
        })
    }

    fn many(path: &str) -> Vec<J> {
        let d = doc();
        match select(&d, path).unwrap() {
            Found::Many(v) => v.into_iter().cloned().collect(),
            Found::One(v) => panic!("{path} was definite: {v:?}"),
        }
    }

    fn one(path: &str) -> Option<J> {
        let d = doc();
        match select(&d, path).unwrap() {
            Found::One(v) => v.cloned(),
            Found::Many(v) => panic!("{path} was indefinite: {v:?}"),
        }
    }

    #[test]
    fn definite_paths_give_one_value() {
        assert_eq!(one("$.store.name"), Some(J::from("s")));
        assert_eq!(one("$['store']['book'][1].title"), Some(J::from("B")));
        assert_eq!(one("$.store.book[-1].title"), Some(J::from("C")));
        assert_eq!(one("$['a.b']"), Some(J::from(1)));
        assert_eq!(one("$.store.missing"), None);
        assert_eq!(one("$"), Some(doc()));
    }

    #[test]
    fn indefinite_paths_give_lists() {
        assert_eq!(many("$.store.book[*].title"), ["A", "B", "C"]);
        assert_eq!(many("$..title"), ["A", "B", "C"]);
        assert_eq!(many("$.store.book[0:2].price"), [J::from(8), J::from(12)]);
        assert_eq!(many("$.store.book[?(@.price < 10)].title"), ["A", "C"]);
        assert_eq!(many("$.store.book[?(@.isbn)].title"), ["A", "C"]);
        assert_eq!(
            many("$.store.book[?(@.price > 8 && @.title != 'B')].title"),
            ["C"]
        );
        assert_eq!(many("$.store.book[0,2].title"), ["A", "C"]);
    }

    #[test]
    fn bad_paths_are_errors() {
        assert!(select(&doc(), "$.store[").is_err());
        assert!(select(&doc(), "$.store.book[?(@.price <)]").is_err());
    }
}
