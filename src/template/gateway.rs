//! API Gateway's template variables: `$input`, `$util`, `$context`, `$stageVariables`.
//!
//! The request side comes through [`Bindings`], which the pipeline implements over the
//! request (a test implements it over fixed data). Rules where API Gateway's behaviour is not
//! stock Velocity's are listed here with their sources:
//! - `$util.escapeJavaScript` is Apache Commons Lang's `StringEscapeUtils.escapeJavaScript`:
//!   `'` becomes `\'` (AWS's reference notes it is then not valid JSON), `/` becomes `\/`,
//!   control characters and everything above U+007F become `\uXXXX` (upper-case hex, UTF-16
//!   units). Source: "API Gateway mapping template and access logging variable reference",
//!   `$util` table.
//! - `$util.urlEncode` / `urlDecode` are `java.net.URLEncoder` / `URLDecoder` with UTF-8:
//!   a space is `+`, `*-._` and alphanumerics stay, everything else is `%XX`.
//! - `$input.json(x)` is the JSONPath result as JSON text; `$input.path(x)` is the result as an
//!   object (a JSON object is a map, printing `{a=1}`; an array is json-smart's `JSONArray`,
//!   printing as JSON).

use std::rc::Rc;

use super::eval::Eval;
use super::json;
use super::jsonpath::{self, Found};
use super::value::{Host, Value};
use super::RenderError;

/// The three kinds of request parameters, as `$input.params()` groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Path parameters.
    Path,
    /// Query string parameters.
    Querystring,
    /// Headers.
    Header,
}

impl ParamKind {
    /// The kind a mapping expression names: `header`, `querystring` or `path`.
    pub fn parse(part: &str) -> Option<ParamKind> {
        match part {
            "header" => Some(ParamKind::Header),
            "querystring" => Some(ParamKind::Querystring),
            "path" => Some(ParamKind::Path),
            _ => None,
        }
    }
}

/// A `$context` lookup's answer.
#[derive(Debug, Clone)]
pub enum ContextValue {
    /// A variable's value.
    Value(Value),
    /// A group of variables (`$context.identity`): its members are looked up by name.
    Group,
    /// No such variable.
    Missing,
}

/// What a template can see of the request it is rendered for.
pub trait Bindings {
    /// Whether API Gateway's variables exist (false for plain Velocity, as in the
    /// differential tests).
    fn gateway(&self) -> bool {
        true
    }
    /// The raw body (`$input.body`).
    fn body(&self) -> &[u8] {
        &[]
    }
    /// One parameter of a kind.
    fn param(&self, _kind: ParamKind, _name: &str) -> Option<Rc<str>> {
        None
    }
    /// Every parameter of a kind, in request order.
    fn params(&self, _kind: ParamKind) -> Vec<(Rc<str>, Rc<str>)> {
        Vec::new()
    }
    /// `$context.<path>` (`path` is dotted: `identity.sourceIp`).
    fn context(&self, _path: &str) -> ContextValue {
        ContextValue::Missing
    }
    /// `#set($context.<path> = v)`: `requestOverride.*` and `responseOverride.*`.
    fn set_context(&mut self, _path: &str, _v: &Value) {}
    /// `$stageVariables.<name>`.
    fn stage_variable(&self, _name: &str) -> Option<Rc<str>> {
        None
    }
}

/// Plain Velocity: no API Gateway variables.
pub struct Plain;

impl Bindings for Plain {
    fn gateway(&self) -> bool {
        false
    }
}

fn fault(msg: impl Into<String>) -> RenderError {
    RenderError::Method(msg.into())
}

/// `$host.name`.
pub(super) fn property(ev: &mut Eval, h: &Host, name: &str) -> Result<Value, RenderError> {
    Ok(match h {
        Host::Input => match name {
            "body" => body(ev),
            _ => Value::Null,
        },
        Host::Context(prefix) => {
            let path = if prefix.is_empty() {
                Rc::from(name)
            } else {
                Rc::from(format!("{prefix}.{name}"))
            };
            match ev.env.context(&path) {
                ContextValue::Value(v) => v,
                ContextValue::Group => Value::Host(Host::Context(path)),
                ContextValue::Missing => Value::Null,
            }
        }
        Host::StageVariables => ev.env.stage_variable(name).map_or(Value::Null, Value::Str),
        _ => Value::Null,
    })
}

/// `$host.name(args)`.
pub(super) fn method(
    ev: &mut Eval,
    h: &Host,
    name: &str,
    args: &[Value],
) -> Result<Value, RenderError> {
    match h {
        Host::Input => input_method(ev, name, args),
        Host::Util => util_method(ev, name, args),
        Host::Context(_) | Host::StageVariables => Ok(match (name, args) {
            ("get", [k]) => property(ev, h, &k.to_rc_str())?,
            _ => Value::Null,
        }),
        _ => Ok(Value::Null),
    }
}

/// `$input.body`: an empty body reads as `{}` whatever its type (LocalStack PR #12413,
/// checked against AWS: "API Gateway will replace an empty body with `{}`").
fn body(ev: &Eval) -> Value {
    let raw = ev.env.body();
    if raw.is_empty() {
        return Value::str("{}");
    }
    Value::str(&String::from_utf8_lossy(raw))
}

/// The body as JSON, parsed once per render, as json-smart's permissive mode reads it for
/// Jayway: an empty body is `{}`; a body that is not JSON and does not start with `{` or `[`
/// is one string (`a=b` gives `"a=b"`); one that starts with them and does not parse fails the
/// request with a 400 (ToQoz/api-gateway-mapping-template `test/_.md`, generated on AWS).
fn body_json(ev: &mut Eval) -> Rc<Result<serde_json::Value, String>> {
    if let Some(j) = &ev.body_json {
        return j.clone();
    }
    let j = Rc::new(read_body(
        ev.env.body(),
        |b| serde_json::from_slice::<serde_json::Value>(b),
        |s| serde_json::Value::String(s.to_string()),
        || serde_json::Value::Object(Default::default()),
    ));
    ev.body_json = Some(j.clone());
    j
}

/// The body as the template's own values (the same rules as [`body_json`]), parsed once.
fn body_doc(ev: &mut Eval) -> Rc<Result<Value, String>> {
    if let Some(d) = &ev.body_doc {
        return d.clone();
    }
    let d = Rc::new(read_body(ev.env.body(), json::parse, Value::str, || {
        Value::map(Vec::new())
    }));
    ev.body_doc = Some(d.clone());
    d
}

/// json-smart's permissive reading of a body: `empty()` for no body, `text(s)` for a body
/// that is not JSON and does not start with `{` or `[`, an error for one that does.
fn read_body<T, E: std::fmt::Display>(
    raw: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
    text: impl FnOnce(&str) -> T,
    empty: impl FnOnce() -> T,
) -> Result<T, String> {
    let trimmed = raw.trim_ascii();
    if trimmed.is_empty() {
        return Ok(empty());
    }
    match parse(trimmed) {
        Ok(v) => Ok(v),
        Err(e) if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") => Err(format!(
            "Could not process payloadnet.minidev.json.parser.ParseException: {e}"
        )),
        Err(_) => Ok(text(String::from_utf8_lossy(trimmed).trim())),
    }
}

/// Runs JSONPath `path` over the body (`$input.json`, `$input.path`): a definite path is
/// walked on the body's values, any other goes through the JSONPath engine.
fn select(ev: &mut Eval, path: &Value) -> Result<Selected, RenderError> {
    let path = path.to_rc_str();
    if let Some(steps) = jsonpath::definite(&path) {
        let doc = body_doc(ev);
        let doc = doc
            .as_ref()
            .as_ref()
            .map_err(|e| RenderError::Payload(e.clone()))?;
        return Ok(Selected::One(walk(doc, &steps)));
    }
    let doc = body_json(ev);
    let doc = doc
        .as_ref()
        .as_ref()
        .map_err(|e| RenderError::Payload(e.clone()))?;
    Ok(match jsonpath::select(doc, &path).map_err(fault)? {
        Found::One(v) => Selected::One(v.map(json::to_value)),
        Found::Many(vs) => Selected::Many(json::to_value(&serde_json::Value::Array(
            vs.into_iter().cloned().collect(),
        ))),
    })
}

/// What a JSONPath found: a definite path's value (or nothing), or an indefinite path's list.
enum Selected {
    One(Option<Value>),
    Many(Value),
}

/// A definite path on the body's values.
fn walk(doc: &Value, steps: &[jsonpath::Step]) -> Option<Value> {
    let mut cur = doc.clone();
    for step in steps {
        cur = match (step, &cur) {
            (jsonpath::Step::Name(n), Value::Map(m)) if m.contains(n) => m.get(n),
            (jsonpath::Step::Index(i), Value::List(l)) => {
                let items = l.items.borrow();
                let i = if *i < 0 { items.len() as i64 + i } else { *i };
                usize::try_from(i)
                    .ok()
                    .and_then(|i| items.get(i).cloned())?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn input_method(ev: &mut Eval, name: &str, args: &[Value]) -> Result<Value, RenderError> {
    Ok(match (name, args) {
        ("getBody", []) => body(ev),
        ("json", [path]) => {
            let mut out = String::new();
            match select(ev, path)? {
                Selected::One(Some(v)) | Selected::Many(v) => json::write(&v, &mut out),
                Selected::One(None) => {}
            }
            ev.spend(out.len())?;
            Value::Str(Rc::from(out))
        }
        ("path", [path]) => match select(ev, path)? {
            Selected::One(v) => v.unwrap_or(Value::Null),
            Selected::Many(v) => v,
        },
        ("params", []) => {
            let group = |kind| {
                Value::map(
                    ev.env
                        .params(kind)
                        .into_iter()
                        .map(|(k, v)| (k, Value::Str(v)))
                        .collect(),
                )
            };
            Value::map(vec![
                (Rc::from("path"), group(ParamKind::Path)),
                (Rc::from("querystring"), group(ParamKind::Querystring)),
                (Rc::from("header"), group(ParamKind::Header)),
            ])
        }
        // Path first, then the query string, then headers (AWS's `$input.params(x)`).
        ("params", [name]) => {
            let name = name.to_rc_str();
            [ParamKind::Path, ParamKind::Querystring, ParamKind::Header]
                .into_iter()
                .find_map(|k| ev.env.param(k, &name))
                .map_or(Value::str(""), Value::Str)
        }
        _ => Value::Null,
    })
}

fn util_method(ev: &mut Eval, name: &str, args: &[Value]) -> Result<Value, RenderError> {
    let [arg] = args else {
        return Ok(Value::Null);
    };
    let s = arg.to_rc_str();
    let out = match name {
        "escapeJavaScript" => escape_javascript(&s),
        "urlEncode" => url_encode(&s),
        "urlDecode" => url_decode(&s).map_err(fault)?,
        "base64Encode" => data_encoding::BASE64.encode(s.as_bytes()),
        "base64Decode" => {
            let bytes = data_encoding::BASE64
                .decode(s.trim_end().as_bytes())
                .map_err(|e| fault(format!("base64Decode: {e}")))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        "parseJson" => {
            return json::parse(s.as_bytes()).map_err(|e| fault(format!("parseJson: {e}")));
        }
        _ => return Ok(Value::Null),
    };
    ev.spend(out.len())?;
    Ok(Value::Str(Rc::from(out)))
}

/// Commons Lang 2's `StringEscapeUtils.escapeJavaScript`.
pub fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for u in s.encode_utf16() {
        match u {
            0x27 => out.push_str("\\'"),
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x2f => out.push_str("\\/"),
            0x08 => out.push_str("\\b"),
            0x0a => out.push_str("\\n"),
            0x09 => out.push_str("\\t"),
            0x0c => out.push_str("\\f"),
            0x0d => out.push_str("\\r"),
            0x20..=0x7e => out.push(u as u8 as char),
            _ => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{u:04X}"));
            }
        }
    }
    out
}

/// `URLEncoder.encode(s, "UTF-8")`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("%{b:02X}"));
            }
        }
    }
    out
}

/// `URLDecoder.decode(s, "UTF-8")`: `+` is a space; a bad `%` escape is an error.
pub fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                bytes.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("URLDecoder: Illegal hex characters in escape (%) pattern")?;
                bytes.push(hex);
                i += 3;
            }
            c => {
                bytes.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_javascript_is_commons_lang() {
        assert_eq!(
            escape_javascript("it's \"a\"/b\\c\n\u{1}é€😀"),
            "it\\'s \\\"a\\\"\\/b\\\\c\\n\\u0001\\u00E9\\u20AC\\uD83D\\uDE00"
        );
    }

    #[test]
    fn url_coding_is_java_net() {
        assert_eq!(url_encode("a b&c=d/é*~"), "a+b%26c%3Dd%2F%C3%A9*%7E");
        assert_eq!(url_decode("a+b%26c%3Dd%2F%C3%A9").unwrap(), "a b&c=d/é");
        assert!(url_decode("%zz").is_err());
    }
}

#[cfg(test)]
mod render_tests {
    use super::super::{Budget, Template};
    use super::*;

    /// A request as a test sees it.
    #[derive(Default)]
    struct Req {
        body: Vec<u8>,
        query: Vec<(Rc<str>, Rc<str>)>,
        overrides: Vec<(String, String)>,
    }

    impl Bindings for Req {
        fn body(&self) -> &[u8] {
            &self.body
        }
        fn param(&self, kind: ParamKind, name: &str) -> Option<Rc<str>> {
            (kind == ParamKind::Querystring)
                .then(|| self.query.iter().find(|(k, _)| &**k == name))
                .flatten()
                .map(|(_, v)| v.clone())
        }
        fn params(&self, kind: ParamKind) -> Vec<(Rc<str>, Rc<str>)> {
            if kind == ParamKind::Querystring {
                self.query.clone()
            } else {
                Vec::new()
            }
        }
        fn context(&self, path: &str) -> ContextValue {
            match path {
                "stage" => ContextValue::Value(Value::str("prod")),
                "responseOverride" => ContextValue::Group,
                _ => ContextValue::Missing,
            }
        }
        fn set_context(&mut self, path: &str, v: &Value) {
            self.overrides.push((path.to_string(), v.to_java_string()));
        }
    }

    fn render(src: &str, req: &mut Req) -> String {
        Template::parse(src)
            .unwrap()
            .render(req, Budget::default())
            .unwrap()
    }

    #[test]
    fn input_reads_the_body_as_api_gateway_does() {
        let mut req = Req {
            body: br#"{"a":1,"b":[{"c":5}],"s":"x"}"#.to_vec(),
            ..Req::default()
        };
        assert_eq!(render("$input.json('$.s')", &mut req), "\"x\"");
        assert_eq!(render("$input.json('$.b')", &mut req), r#"[{"c":5}]"#);
        assert_eq!(
            render("$input.path('$')", &mut req),
            r#"{a=1, b=[{"c":5}], s=x}"#
        );
        assert_eq!(render("$input.path('$').b.size()", &mut req), "1");
        assert_eq!(render("[$input.path('$.missing')]", &mut req), "[]");
        assert_eq!(render("$input.json('$.b[*].c')", &mut req), "[5]");
    }

    #[test]
    fn empty_and_plain_bodies() {
        let mut req = Req::default();
        assert_eq!(render("$input.body|$input.json('$')", &mut req), "{}|{}");
        req.body = b"a=b".to_vec();
        assert_eq!(render("$input.json('$')", &mut req), "\"a=b\"");
        req.body = b"{a".to_vec();
        let err = Template::parse("$input.json('$')")
            .unwrap()
            .render(&mut req, Budget::default())
            .unwrap_err();
        assert!(
            matches!(err, RenderError::Payload(m) if m.starts_with("Could not process payload"))
        );
    }

    #[test]
    fn params_context_and_null_references() {
        let mut req = Req {
            query: vec![("q".into(), "1".into())],
            ..Req::default()
        };
        assert_eq!(
            render(
                "$input.params('q')|$input.params('z')|$input.params().querystring",
                &mut req
            ),
            "1||{q=1}"
        );
        assert_eq!(
            render("$context.stage|$context.nope|$nothing", &mut req),
            "prod||"
        );
        render("#set($context.responseOverride.status = 202)", &mut req);
        assert_eq!(
            req.overrides,
            [("responseOverride.status".to_string(), "202".to_string())]
        );
    }

    #[test]
    fn loops_stop_at_a_thousand_and_budgets_fail_the_render() {
        let mut req = Req::default();
        assert_eq!(
            render(
                "#foreach($i in [1..2000])#set($last = $i)#end$last",
                &mut req
            ),
            "1000"
        );
        let tight = Budget {
            output_bytes: 10,
            ..Budget::default()
        };
        let err = Template::parse("#foreach($i in [1..100])xx#end")
            .unwrap()
            .render(&mut req, tight)
            .unwrap_err();
        assert_eq!(err, RenderError::Budget("output bytes"));
    }

    #[test]
    fn util_functions() {
        let mut req = Req::default();
        assert_eq!(
            render("$util.urlEncode('a b')|$util.base64Encode('hi')|$util.base64Decode('aGk=')|$util.parseJson('{\"k\":[1]}').k[0]", &mut req),
            "a+b|aGk=|hi|1"
        );
    }

    #[test]
    fn parse_errors_name_line_and_column() {
        let e = Template::parse("ok\n  #if($a)\nx").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
    }
}
