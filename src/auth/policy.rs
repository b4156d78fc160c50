//! IAM policy documents, as API Gateway evaluates them: a REST API's resource policy
//! (compiled when the configuration is) and the policy a Lambda authorizer returns (compiled
//! when the authorizer answers, then cached with its decision).
//!
//! A document is parsed once into matchers; evaluating it walks the compiled statements, never
//! JSON. The rules are IAM's ("Policy evaluation logic", IAM user guide): a statement applies
//! when its principal, action, resource and every condition match; an applicable `Deny` wins
//! over any `Allow`; with no applicable statement the request is implicitly denied.
//! Wildcards follow IAM: `*` is any run of characters (including `/`), `?` any one; actions
//! compare case-insensitively, resources and principals case-sensitively.

use std::net::IpAddr;

use serde_json::Value;

/// Why a policy document is refused; the text names the JSON path of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(message.into()))
}

/// What a policy decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// No statement applies.
    ImplicitDeny,
}

/// The facts of a request that a policy is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    /// `execute-api:Invoke` (or `execute-api:InvalidateCache`).
    pub action: &'a str,
    /// The method ARN: `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`.
    pub resource: &'a str,
    /// The caller's IAM ARN; `None` for an anonymous caller (matched only by `*`).
    pub principal: Option<&'a str>,
    /// `aws:SourceIp`.
    pub source_ip: IpAddr,
    /// `aws:SecureTransport`: the request came over TLS.
    pub secure: bool,
    /// `aws:UserAgent`.
    pub user_agent: Option<&'a str>,
    /// `aws:Referer`.
    pub referer: Option<&'a str>,
}

/// A compiled policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    statements: Box<[Statement]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    /// `None`: the statement has no `Principal` (identity-based and authorizer policies).
    principal: Option<Principal>,
    action: Matcher,
    resource: Matcher,
    conditions: Box<[Condition]>,
}

/// `Principal`: everyone, or a list of ARN patterns (an account id `123456789012` stands for
/// every principal of that account, as IAM reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    Anyone,
    Arns(Box<[Pattern]>),
}

/// `Action`/`Resource` (`negated: false`) or `NotAction`/`NotResource` (`negated: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Matcher {
    negated: bool,
    patterns: Box<[Pattern]>,
}

/// One IAM wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: Box<str>,
    ignore_case: bool,
    /// The common shapes, matched without the general algorithm.
    shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No wildcard.
    Exact,
    /// One `*`, at the end (`arn:...:api/prod/*`, `*`).
    Prefix,
    /// Several `*` and no `?` (`arn:aws:execute-api:*:*:api/*`): literal pieces found in
    /// order, leftmost first, which is exact for `*`-only patterns.
    Stars,
    /// With `?`.
    Glob,
}

impl Pattern {
    fn new(text: &str, ignore_case: bool) -> Pattern {
        let wild = text.bytes().filter(|&b| b == b'*' || b == b'?').count();
        let shape = match (wild, text.ends_with('*'), text.contains('?')) {
            (0, _, _) => Shape::Exact,
            (1, true, _) => Shape::Prefix,
            (_, _, false) => Shape::Stars,
            _ => Shape::Glob,
        };
        Pattern {
            text: text.into(),
            ignore_case,
            shape,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    op: Op,
    /// `...IfExists`: a missing key satisfies the condition.
    if_exists: bool,
    key: Key,
    values: Box<[CondValue]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    IpAddress,
    NotIpAddress,
    Bool,
}

impl Op {
    fn parse(name: &str) -> Option<(Op, bool)> {
        let (base, if_exists) = match name.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let op = match base {
            "StringEquals" => Op::StringEquals,
            "StringNotEquals" => Op::StringNotEquals,
            "StringEqualsIgnoreCase" => Op::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Op::StringNotEqualsIgnoreCase,
            "StringLike" => Op::StringLike,
            "StringNotLike" => Op::StringNotLike,
            "IpAddress" => Op::IpAddress,
            "NotIpAddress" => Op::NotIpAddress,
            "Bool" => Op::Bool,
            _ => return None,
        };
        Some((op, if_exists))
    }

    /// Negated operators hold when the key is missing (IAM user guide, "Condition operators":
    /// a negated operator matches a request without the key unless `...IfExists` is not
    /// wanted; positive operators do not).
    fn is_negated(self) -> bool {
        matches!(
            self,
            Op::StringNotEquals
                | Op::StringNotEqualsIgnoreCase
                | Op::StringNotLike
                | Op::NotIpAddress
        )
    }
}

/// The condition keys a self-hosted node knows. Others (`aws:SourceVpc`, `aws:SourceVpce`,
/// `aws:PrincipalOrgID` ...) are accepted and are never present in a request, as for a
/// request that did not come through a VPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    SourceIp,
    SecureTransport,
    UserAgent,
    Referer,
    PrincipalArn,
    Absent(Box<str>),
}

impl Key {
    /// Keys compare case-insensitively (IAM user guide, "Condition element").
    fn parse(name: &str) -> Key {
        match name.to_ascii_lowercase().as_str() {
            "aws:sourceip" => Key::SourceIp,
            "aws:securetransport" => Key::SecureTransport,
            "aws:useragent" => Key::UserAgent,
            "aws:referer" => Key::Referer,
            "aws:principalarn" => Key::PrincipalArn,
            _ => Key::Absent(name.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CondValue {
    Text(Box<str>),
    Cidr(Cidr),
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or one address (`/32`, `/128`).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    /// Whether `ip` is inside; an IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// How a document's resources are written out before matching.
pub trait ResourceForm {
    /// The full ARN of a resource as written in the document.
    fn expand(&self, resource: &str) -> String;
}

/// Resources taken as written (authorizer policies).
pub struct AsWritten;

impl ResourceForm for AsWritten {
    fn expand(&self, resource: &str) -> String {
        resource.to_string()
    }
}

impl Policy {
    /// Parses a policy document (JSON text).
    pub fn parse(json: &str, form: &dyn ResourceForm) -> Result<Policy, PolicyError> {
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| PolicyError(format!("the policy is not JSON: {e}")))?;
        Policy::from_value(&doc, form)
    }

    /// Compiles a parsed policy document.
    pub fn from_value(doc: &Value, form: &dyn ResourceForm) -> Result<Policy, PolicyError> {
        let Some(doc) = doc.as_object() else {
            return err("the policy must be a JSON object");
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return err(format!("unknown policy element `{key}`"));
            }
        }
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(v) => return err(format!("Version {v} is not 2012-10-17 or 2008-10-17")),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return err("Statement must be an object or a list of objects"),
            None => return err("the policy has no Statement"),
        };
        let statements = statements
            .iter()
            .enumerate()
            .map(|(i, s)| {
                statement(s, form).map_err(|e| PolicyError(format!("Statement[{i}]: {}", e.0)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            statements: statements.into(),
        })
    }

    /// Evaluates the policy for one request.
    pub fn evaluate(&self, req: &PolicyRequest<'_>) -> Decision {
        let mut allowed = false;
        for s in self.statements.iter().filter(|s| s.applies(req)) {
            if !s.allow {
                return Decision::ExplicitDeny;
            }
            allowed = true;
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    /// Whether a condition tests `aws:UserAgent` or `aws:Referer` (the request's headers are
    /// then looked up for it).
    pub fn reads_headers(&self) -> bool {
        self.statements.iter().any(|s| {
            s.conditions
                .iter()
                .any(|c| matches!(c.key, Key::UserAgent | Key::Referer))
        })
    }

    /// Number of statements (for sizing cache entries).
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }
}

fn statement(s: &Value, form: &dyn ResourceForm) -> Result<Statement, PolicyError> {
    let Some(s) = s.as_object() else {
        return err("a statement must be a JSON object");
    };
    for key in s.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Principal" | "Action" | "NotAction" | "Resource"
            | "NotResource" | "Condition" => {}
            "NotPrincipal" => {
                return err("NotPrincipal is not supported; use Principal with a Deny")
            }
            _ => return err(format!("unknown statement element `{key}`")),
        }
    }
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return err("Effect must be \"Allow\" or \"Deny\""),
    };
    let principal = s.get("Principal").map(principal).transpose()?;
    let action = matcher(s, "Action", "NotAction", true, &|a: &str| a.to_string())?;
    let resource = matcher(s, "Resource", "NotResource", false, &|r: &str| {
        form.expand(r)
    })?;
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(c) => conditions(c)?,
    };
    Ok(Statement {
        allow,
        principal,
        action,
        resource,
        conditions: conditions.into(),
    })
}

/// A string or a list of strings.
fn strings<'v>(v: &'v Value, what: &str) -> Result<Vec<&'v str>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(list) => list
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| PolicyError(format!("{what} must hold strings")))
            })
            .collect(),
        _ => err(format!("{what} must be a string or a list of strings")),
    }
}

fn principal(v: &Value) -> Result<Principal, PolicyError> {
    if v.as_str() == Some("*") {
        return Ok(Principal::Anyone);
    }
    let Some(map) = v.as_object() else {
        return err("Principal must be \"*\" or {\"AWS\": ...}");
    };
    let mut arns = Vec::new();
    for (kind, values) in map {
        if kind != "AWS" {
            return err(format!(
                "Principal type `{kind}` is not supported (only \"AWS\")"
            ));
        }
        for arn in strings(values, "Principal.AWS")? {
            if arn == "*" {
                return Ok(Principal::Anyone);
            }
            // An account id names every principal of the account (its root ARN).
            let text = if arn.len() == 12 && arn.bytes().all(|b| b.is_ascii_digit()) {
                format!("arn:aws:iam::{arn}:*")
            } else if let Some(account) = arn
                .strip_prefix("arn:aws:iam::")
                .and_then(|r| r.strip_suffix(":root"))
            {
                format!("arn:aws:iam::{account}:*")
            } else {
                arn.to_string()
            };
            arns.push(Pattern::new(&text, false));
        }
    }
    Ok(Principal::Arns(arns.into()))
}

fn matcher(
    s: &serde_json::Map<String, Value>,
    name: &str,
    not_name: &str,
    ignore_case: bool,
    expand: &dyn Fn(&str) -> String,
) -> Result<Matcher, PolicyError> {
    let (value, negated) = match (s.get(name), s.get(not_name)) {
        (Some(v), None) => (v, false),
        (None, Some(v)) => (v, true),
        (Some(_), Some(_)) => {
            return err(format!("a statement has {name} or {not_name}, not both"))
        }
        (None, None) => return err(format!("a statement needs {name} or {not_name}")),
    };
    let patterns = strings(value, name)?
        .into_iter()
        .map(|p| Pattern::new(&expand(p), ignore_case))
        .collect::<Vec<_>>();
    Ok(Matcher {
        negated,
        patterns: patterns.into(),
    })
}

fn conditions(v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Some(ops) = v.as_object() else {
        return err("Condition must be an object");
    };
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let Some((op, if_exists)) = Op::parse(op_name) else {
            return err(format!("condition operator `{op_name}` is not supported"));
        };
        let Some(keys) = keys.as_object() else {
            return err(format!("Condition.{op_name} must be an object"));
        };
        for (key, values) in keys {
            let what = format!("Condition.{op_name}.{key}");
            let values = match values {
                Value::Bool(b) => vec![if *b { "true" } else { "false" }],
                v => strings(v, &what)?,
            };
            let values = values
                .into_iter()
                .map(|text| match op {
                    Op::IpAddress | Op::NotIpAddress => {
                        Cidr::parse(text).map(CondValue::Cidr).ok_or_else(|| {
                            PolicyError(format!(
                                "{what}: `{text}` is not an IP address or CIDR block"
                            ))
                        })
                    }
                    _ => Ok(CondValue::Text(text.into())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Condition {
                op,
                if_exists,
                key: Key::parse(key),
                values: values.into(),
            });
        }
    }
    Ok(out)
}

impl Statement {
    fn applies(&self, req: &PolicyRequest<'_>) -> bool {
        let principal = match &self.principal {
            None | Some(Principal::Anyone) => true,
            Some(Principal::Arns(arns)) => req
                .principal
                .is_some_and(|p| arns.iter().any(|a| a.matches(p))),
        };
        principal
            && self.action.matches(req.action)
            && self.resource.matches(req.resource)
            && self.conditions.iter().all(|c| c.holds(req))
    }
}

impl Matcher {
    fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(text)) != self.negated
    }
}

impl Pattern {
    fn matches(&self, text: &str) -> bool {
        let (p, t) = (self.text.as_bytes(), text.as_bytes());
        let eq = |a: &[u8], b: &[u8]| match self.ignore_case {
            true => a.eq_ignore_ascii_case(b),
            false => a == b,
        };
        match self.shape {
            Shape::Exact => eq(p, t),
            Shape::Prefix => {
                let prefix = &p[..p.len() - 1];
                t.len() >= prefix.len() && eq(prefix, &t[..prefix.len()])
            }
            Shape::Stars => stars(p, t, self.ignore_case),
            Shape::Glob => wildcard(p, t, self.ignore_case),
        }
    }
}

/// A pattern of literal pieces between `*`s: the first piece is a prefix, the last a suffix
/// (unless the pattern ends with `*`), the others found in order, each at its leftmost place.
fn stars(pattern: &[u8], text: &[u8], ignore_case: bool) -> bool {
    let eq = |a: &[u8], b: &[u8]| match ignore_case {
        true => a.eq_ignore_ascii_case(b),
        false => a == b,
    };
    let mut pieces = pattern.split(|&b| b == b'*');
    let first = pieces.next().unwrap_or(b"");
    if text.len() < first.len() || !eq(first, &text[..first.len()]) {
        return false;
    }
    let mut rest = &text[first.len()..];
    let mut pieces: Vec<&[u8]> = pieces.collect();
    let last = match pieces.pop() {
        Some(last) => last,
        None => return rest.is_empty(),
    };
    for piece in pieces.iter().filter(|p| !p.is_empty()) {
        // Pieces are short: a plain scan beats building a substring searcher per call.
        let found = rest.windows(piece.len()).position(|w| eq(w, piece));
        match found {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && eq(last, &rest[rest.len() - last.len()..])
}

/// IAM's wildcard match: `*` any run of bytes, `?` any one byte. Linear backtracking on the
/// last `*` (the classic greedy algorithm), so a pattern never costs more than
/// `pattern × text` steps.
pub fn wildcard(pattern: &[u8], text: &[u8], ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len()
            && (pattern[p] == b'?' || (pattern[p] != b'*' && eq(pattern[p], text[t])))
        {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

impl Condition {
    fn holds(&self, req: &PolicyRequest<'_>) -> bool {
        let value: Option<KeyValue<'_>> = match &self.key {
            Key::SourceIp => Some(KeyValue::Ip(req.source_ip)),
            Key::SecureTransport => Some(KeyValue::Text(if req.secure { "true" } else { "false" })),
            Key::UserAgent => req.user_agent.map(KeyValue::Text),
            Key::Referer => req.referer.map(KeyValue::Text),
            Key::PrincipalArn => req.principal.map(KeyValue::Text),
            Key::Absent(_) => None,
        };
        let Some(value) = value else {
            return self.if_exists || self.op.is_negated();
        };
        let any = self.values.iter().any(|v| self.matches(v, value));
        any != self.op.is_negated()
    }

    /// Whether one listed value matches (before negation).
    fn matches(&self, listed: &CondValue, value: KeyValue<'_>) -> bool {
        let text = match value {
            KeyValue::Ip(ip) => {
                return match listed {
                    CondValue::Cidr(c) => c.contains(ip),
                    // A string operator on aws:SourceIp compares its text.
                    CondValue::Text(t) => self.text_matches(t, &ip.to_canonical().to_string()),
                };
            }
            KeyValue::Text(t) => t,
        };
        match listed {
            CondValue::Text(t) => self.text_matches(t, text),
            // An IP operator on a key that is not an address never matches.
            CondValue::Cidr(_) => false,
        }
    }

    fn text_matches(&self, listed: &str, text: &str) -> bool {
        match self.op {
            Op::StringEquals | Op::StringNotEquals => listed == text,
            Op::StringEqualsIgnoreCase | Op::StringNotEqualsIgnoreCase => {
                listed.eq_ignore_ascii_case(text)
            }
            Op::StringLike | Op::StringNotLike => {
                wildcard(listed.as_bytes(), text.as_bytes(), false)
            }
            Op::Bool => listed.eq_ignore_ascii_case(text),
            Op::IpAddress | Op::NotIpAddress => false,
        }
    }
}

#[derive(Clone, Copy)]
enum KeyValue<'a> {
    Ip(IpAddr),
    Text(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:petstore/prod/GET/pets/1";

    fn req(ip: &str) -> PolicyRequest<'static> {
        PolicyRequest {
            action: "execute-api:Invoke",
            resource: ARN,
            principal: None,
            source_ip: ip.parse().unwrap(),
            secure: false,
            user_agent: Some("curl/8"),
            referer: None,
        }
    }

    fn policy(json: &str) -> Policy {
        Policy::parse(json, &AsWritten).unwrap()
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard(b"*", b"", false));
        assert!(wildcard(b"a*c", b"abbbc", false));
        assert!(wildcard(b"a*/GET/*", b"a/x/GET/pets/1", false));
        assert!(!wildcard(b"a*/POST/*", b"a/x/GET/pets/1", false));
        assert!(wildcard(b"a?c", b"abc", false));
        assert!(!wildcard(b"a?c", b"ac", false));
        assert!(wildcard(b"execute-api:*", b"EXECUTE-API:Invoke", true));
        assert!(!wildcard(b"Execute-api:*", b"execute-api:Invoke", false));
        assert!(wildcard(b"*a*a*a*", b"xaxaxax", false));
        assert!(!wildcard(b"*a*a*a*b", b"xaxaxax", false));
    }

    #[test]
    fn pattern_shapes_match_as_the_general_algorithm_does() {
        let cases = [
            (
                "arn:aws:execute-api:r:1:api/prod/*",
                "arn:aws:execute-api:r:1:api/prod/GET/x",
            ),
            (
                "arn:aws:execute-api:r:1:api/prod/*",
                "arn:aws:execute-api:r:1:api/dev/GET/x",
            ),
            (
                "arn:aws:execute-api:r:1:api/prod/*",
                "arn:aws:execute-api:r:1:api/prod/",
            ),
            (
                "arn:aws:execute-api:r:1:api/prod/*",
                "arn:aws:execute-api:r:1:api/prod",
            ),
            ("execute-api:Invoke", "execute-api:invoke"),
            ("execute-api:Invoke", "execute-api:Invoked"),
            ("*", ""),
            ("a*b*", "axxbyy"),
            ("a?", "ab"),
            (
                "arn:aws:execute-api:*:*:api/*",
                "arn:aws:execute-api:us-east-1:1:api/prod/GET/",
            ),
            (
                "arn:aws:execute-api:*:*:api/*",
                "arn:aws:execute-api:us-east-1:1:other/prod/GET/",
            ),
            ("*/GET/*", "a/GET/b"),
            ("*/GET/*", "a/POST/b"),
            ("*a*a*a*", "xaxaxax"),
            ("*a*a*a*b", "xaxaxax"),
            ("a*b", "ab"),
            ("a*b", "a"),
            ("a*bc*c", "abcc"),
            ("*x", "yx"),
            ("**", ""),
        ];
        for ignore_case in [false, true] {
            for (p, t) in cases {
                let fast = Pattern::new(p, ignore_case).matches(t);
                assert_eq!(
                    fast,
                    wildcard(p.as_bytes(), t.as_bytes(), ignore_case),
                    "{p} {t}"
                );
            }
        }
    }

    #[test]
    fn cidrs_hold_their_addresses_and_no_others() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.255.255".parse().unwrap()));
        assert!(!c.contains("10.2.0.0".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.7".parse().unwrap()));
        let six = Cidr::parse("2001:db8::/32").unwrap();
        assert!(six.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!six.contains("2001:db9::1".parse().unwrap()));
        assert!(!six.contains("10.1.0.1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("ten/8"), None);
    }

    #[test]
    fn explicit_deny_wins_and_silence_is_implicit_deny() {
        let p = policy(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*"},
                {"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"*",
                 "Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24"]}}}]}"#,
        );
        assert_eq!(p.evaluate(&req("198.51.100.1")), Decision::Allow);
        assert_eq!(p.evaluate(&req("192.0.2.9")), Decision::ExplicitDeny);
        let only_post = policy(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke",
                "Resource":"arn:aws:execute-api:*:*:petstore/*/POST/*"}}"#,
        );
        assert_eq!(only_post.evaluate(&req("1.1.1.1")), Decision::ImplicitDeny);
    }

    #[test]
    fn negated_operators_and_elements() {
        let p = policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"NotAction":"execute-api:InvalidateCache",
                "NotResource":"arn:aws:execute-api:*:*:petstore/prod/DELETE/*",
                "Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"},
                             "StringNotLike":{"aws:SourceVpce":"vpce-*"}}}]}"#,
        );
        assert_eq!(p.evaluate(&req("192.0.2.1")), Decision::Allow);
        assert_eq!(p.evaluate(&req("10.9.9.9")), Decision::ImplicitDeny);
        let mut invalidate = req("192.0.2.1");
        invalidate.action = "execute-api:InvalidateCache";
        assert_eq!(p.evaluate(&invalidate), Decision::ImplicitDeny);
    }

    #[test]
    fn a_missing_key_fails_positive_operators_unless_if_exists() {
        let p = policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*",
                "Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}}]}"#,
        );
        assert_eq!(p.evaluate(&req("1.1.1.1")), Decision::ImplicitDeny);
        let p = policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*",
                "Condition":{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-1"},
                             "StringLike":{"aws:UserAgent":"curl/*"}}}]}"#,
        );
        assert_eq!(p.evaluate(&req("1.1.1.1")), Decision::Allow);
    }

    #[test]
    fn named_principals_do_not_match_anonymous_callers() {
        let p = policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":"*","Resource":"*"}]}"#,
        );
        assert_eq!(p.evaluate(&req("1.1.1.1")), Decision::ImplicitDeny);
        let mut named = req("1.1.1.1");
        named.principal = Some("arn:aws:iam::123456789012:user/alice");
        assert_eq!(p.evaluate(&named), Decision::Allow);
        named.principal = Some("arn:aws:iam::999999999999:user/alice");
        assert_eq!(p.evaluate(&named), Decision::ImplicitDeny);
    }

    #[test]
    fn bad_documents_say_where() {
        let bad = |json: &str| Policy::parse(json, &AsWritten).unwrap_err().0;
        assert!(bad("{").contains("not JSON"));
        assert_eq!(
            bad(r#"{"Statement":[]}"#.replace("[]", "1").as_str()),
            "Statement must be an object or a list of objects"
        );
        assert_eq!(
            bad(
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#
            ),
            "Statement[1]: Effect must be \"Allow\" or \"Deny\""
        );
        assert!(bad(r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#)
            .contains("Resource or NotResource"));
        assert!(bad(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"nope"}}}]}"#).contains("not an IP address"));
        assert!(bad(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"x"}}}]}"#).contains("DateLessThan"));
    }
}
