//! `HTTP_PROXY` integration URIs: stage-variable substitution, syntax, `{param}` placeholders
//! and backend address resolution.
//!
//! A configured URI goes through two steps. [`StageTemplate`] splits it on
//! `${stageVariables.NAME}` references, once per method; for each stage that serves the
//! method the references are substituted and the result is parsed by [`parse_http_uri`] into
//! the host to connect to, the `Host` header and a [`UriTemplate`] whose `{param}` slots the
//! data plane fills per request. [`Resolver`] turns the host into a socket address on the
//! control plane so shards never call DNS.

use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};

use ahash::AHashMap;

use crate::snapshot::{UriPart, UriTemplate};

/// Prefix of a stage variable reference.
const VAR_OPEN: &str = "${stageVariables.";

/// A path parameter of a resource: `{petId}` or the greedy `{proxy+}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParam {
    /// Name without braces or `+`; what a URI placeholder `{name}` refers to.
    pub name: String,
    /// True for `{name+}`.
    pub greedy: bool,
}

/// The path parameters of `resource_path`, in order.
pub fn path_params(resource_path: &str) -> Vec<PathParam> {
    resource_path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|inner| match inner.strip_suffix('+') {
            Some(name) => PathParam {
                name: name.to_string(),
                greedy: true,
            },
            None => PathParam {
                name: inner.to_string(),
                greedy: false,
            },
        })
        .collect()
}

/// One piece of a configured URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text copied as written.
    Text(String),
    /// `${stageVariables.NAME}`, replaced by the stage's value.
    Var(String),
}

/// A configured URI split on its stage variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTemplate {
    /// The pieces in order.
    pub pieces: Vec<Piece>,
}

impl StageTemplate {
    /// Splits `uri`; a `${` that does not start a well-formed `${stageVariables.NAME}` is an
    /// error, since it can only be a typo (AWS has no other `${...}` syntax in URIs).
    pub fn parse(uri: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = uri;
        while let Some(at) = rest.find("${") {
            push_text(&mut pieces, &rest[..at]);
            let (name, after) = parse_var(&rest[at..])?;
            pieces.push(Piece::Var(name.to_string()));
            rest = after;
        }
        push_text(&mut pieces, rest);
        Ok(StageTemplate { pieces })
    }

    /// True when the URI references stage variables, i.e. differs between stages.
    pub fn has_vars(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Var(_)))
    }

    /// The URI with every reference replaced; the error lists the variables `vars` lacks.
    pub fn substitute(&self, vars: &AHashMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        let mut missing: Vec<&str> = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(name) => match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None if !missing.contains(&name.as_str()) => missing.push(name),
                    None => {}
                },
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let names: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        let plural = if missing.len() == 1 { "" } else { "s" };
        Err(format!(
            "stage variable{plural} {} not defined",
            names.join(", ")
        ))
    }

    /// Checks what can be checked without knowing the stage: a literal scheme and the
    /// `{param}` placeholders of the literal text. Used for URIs with stage variables.
    pub fn check_without_stage(&self, params: &[PathParam]) -> Result<(), String> {
        if let Some(Piece::Text(first)) = self.pieces.first() {
            if let Some((scheme, _)) = first.split_once("://") {
                check_scheme(scheme)?;
            }
        }
        for piece in &self.pieces {
            if let Piece::Text(t) = piece {
                split_placeholders(t, params)?;
            }
        }
        Ok(())
    }
}

/// Appends non-empty text.
fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
}

/// Parses `${stageVariables.NAME}` at the start of `s`; returns the name and what follows.
fn parse_var(s: &str) -> Result<(&str, &str), String> {
    let malformed = || {
        let shown: String = s.chars().take(40).collect();
        format!("malformed stage variable reference `{shown}`: expected ${{stageVariables.NAME}}")
    };
    let body = s.strip_prefix(VAR_OPEN).ok_or_else(malformed)?;
    let close = body.find('}').ok_or_else(malformed)?;
    let name = &body[..close];
    if !is_var_name(name) {
        return Err(malformed());
    }
    Ok((name, &body[close + 1..]))
}

/// Stage variable names as AWS allows them: `[A-Za-z0-9_]+`.
pub fn is_var_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Stage variable values as AWS allows them: `[A-Za-z0-9-._~:/?#&=,]+`.
pub fn is_var_value(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#&=,".contains(&b))
}

/// A parsed `http://host[:port]/path[?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUri {
    /// Host to resolve, without IPv6 brackets.
    pub host: String,
    /// Port to connect to (80 when omitted).
    pub port: u16,
    /// `host[:port]` exactly as written, sent as the backend's `Host` header.
    pub host_header: String,
    /// Path and query with `{param}` slots; `/` when the URI has no path.
    pub template: UriTemplate,
    /// `https://`: the backend is reached over TLS (SNI and verification use `host`).
    pub tls: bool,
}

/// Parses a substituted URI and checks its placeholders against the resource's `params`.
pub fn parse_http_uri(uri: &str, params: &[PathParam]) -> Result<HttpUri, String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("`{uri}` must start with http://"))?;
    check_scheme(scheme)?;
    let tls = scheme.eq_ignore_ascii_case("https");
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(split);
    let (host, mut port) = parse_authority(authority)?;
    if tls && !authority.ends_with(":80") && port == 80 {
        port = 443;
    }
    let template = parse_target(target, params)?;
    Ok(HttpUri {
        host,
        port,
        host_header: authority.to_string(),
        template,
        tls,
    })
}

/// The TLS server name of an `https://` URI (`None` for `http://`): a DNS name or an IP
/// address, checked against the backend's certificate.
pub fn tls_name(uri: &HttpUri) -> Result<Option<rustls::pki_types::ServerName<'static>>, String> {
    if !uri.tls {
        return Ok(None);
    }
    rustls::pki_types::ServerName::try_from(uri.host.clone())
        .map(Some)
        .map_err(|e| {
            format!(
                "`{}` cannot be checked against a certificate: {e}",
                uri.host
            )
        })
}

/// `http` and `https` (TLS to the backend) are supported.
fn check_scheme(scheme: &str) -> Result<(), String> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        Ok(())
    } else {
        Err(format!(
            "unsupported scheme `{scheme}://`: only http:// and https:// are supported"
        ))
    }
}

/// `host[:port]` → (host without brackets, port).
fn parse_authority(authority: &str) -> Result<(String, u16), String> {
    if authority.is_empty() {
        return Err("the URI has no host".to_string());
    }
    if authority.contains('@') {
        return Err("user information (`user@host`) is not supported in URIs".to_string());
    }
    if authority.contains(['{', '}']) {
        return Err("`{param}` placeholders are only allowed in the path and query".to_string());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => split_ipv6(v6)?,
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            check_host(host, authority)?;
            (host, port)
        }
    };
    let port = match port {
        None => 80,
        Some(p) => parse_port(p)?,
    };
    Ok((host.to_string(), port))
}

/// `::1]:8080` (after the `[`) → (`::1`, `Some("8080")`).
fn split_ipv6(v6: &str) -> Result<(&str, Option<&str>), String> {
    let (addr, after) = v6
        .split_once(']')
        .ok_or_else(|| format!("unclosed `[` in host `[{v6}`"))?;
    addr.parse::<Ipv6Addr>()
        .map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
    if after.is_empty() {
        return Ok((addr, None));
    }
    match after.strip_prefix(':') {
        Some(port) => Ok((addr, Some(port))),
        None => Err(format!("unexpected `{after}` after the IPv6 address")),
    }
}

/// Host names: ASCII letters, digits, `.`, `-`, `_`.
fn check_host(host: &str, authority: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(format!("`{authority}` has no host"));
    }
    if !host.is_ascii() {
        return Err(format!(
            "host `{host}` is not ASCII: write international names in punycode (xn--...)"
        ));
    }
    match host
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || b".-_".contains(b)))
    {
        Some(b) => Err(format!(
            "host `{host}` contains `{}`, which is not allowed in a host name",
            b as char
        )),
        None => Ok(()),
    }
}

/// A port `1..=65535`, digits only.
fn parse_port(p: &str) -> Result<u16, String> {
    let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match p.parse::<u16>() {
        Ok(port) if digits && port != 0 => Ok(port),
        _ => Err(format!("`{p}` is not a valid port (1..=65535)")),
    }
}

/// Path and query → template; a URI without a path means `/`.
fn parse_target(target: &str, params: &[PathParam]) -> Result<UriTemplate, String> {
    if target.contains('#') {
        return Err("URI fragments (`#...`) are never sent to a backend: remove it".to_string());
    }
    if let Some(c) = target.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "character {c:?} is not allowed in a URI: percent-encode it"
        ));
    }
    let target = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };
    Ok(UriTemplate {
        parts: split_placeholders(&target, params)?,
    })
}

/// Splits `s` into literal text and `{name}` slots; every name must be a path parameter of
/// the resource (the greedy `{proxy+}` is referenced as `{proxy}`).
pub fn split_placeholders(s: &str, params: &[PathParam]) -> Result<Vec<UriPart>, String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("unmatched `}` in URI".to_string());
        }
        push_literal(&mut parts, &rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find(['{', '}'])
            .filter(|&i| after.as_bytes()[i] == b'}')
            .ok_or_else(|| "unclosed `{` in URI".to_string())?;
        let name = &after[..close];
        check_placeholder(name, params)?;
        parts.push(UriPart::Param(name.into()));
        rest = &after[close + 1..];
    }
    push_literal(&mut parts, rest);
    Ok(parts)
}

/// Appends literal text, merging with a preceding literal.
fn push_literal(parts: &mut Vec<UriPart>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(UriPart::Literal(prev)) = parts.last_mut() {
        *prev = format!("{prev}{text}").into();
    } else {
        parts.push(UriPart::Literal(text.into()));
    }
}

/// `name` must be one of the resource's path parameters.
fn check_placeholder(name: &str, params: &[PathParam]) -> Result<(), String> {
    if params.iter().any(|p| p.name == name) {
        return Ok(());
    }
    if let Some(base) = name.strip_suffix('+') {
        if params.iter().any(|p| p.greedy && p.name == base) {
            return Err(format!(
                "write `{{{base}}}` to use the greedy path parameter `{{{name}}}`"
            ));
        }
    }
    let known: Vec<String> = params.iter().map(|p| format!("{{{}}}", p.name)).collect();
    let known = if known.is_empty() {
        "the resource has none".to_string()
    } else {
        format!("available: {}", known.join(", "))
    };
    Err(format!(
        "`{{{name}}}` is not a path parameter of the resource ({known})"
    ))
}

/// Resolves backend hosts once per load, so a host used by many methods and stages costs one
/// lookup. Runs on the control-plane thread only.
#[derive(Debug, Default)]
pub struct Resolver {
    cache: AHashMap<(String, u16), Result<SocketAddr, String>>,
}

impl Resolver {
    /// The first address of `host:port`, IPv4 preferred (backends listening on `0.0.0.0`
    /// are reachable through it, `localhost` often resolves to `::1` first).
    pub fn resolve(&mut self, host: &str, port: u16) -> Result<SocketAddr, String> {
        self.cache
            .entry((host.to_string(), port))
            .or_insert_with(|| lookup(host, port))
            .clone()
    }
}

/// One blocking lookup with std's resolver.
fn lookup(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host `{host}`: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("host `{host}` has no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(path: &str) -> Vec<PathParam> {
        path_params(path)
    }

    fn lit(s: &str) -> UriPart {
        UriPart::Literal(s.into())
    }

    fn param(s: &str) -> UriPart {
        UriPart::Param(s.into())
    }

    #[test]
    fn path_params_are_found_with_greediness() {
        let p = params("/pets/{petId}/toys/{proxy+}");
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].name.as_str(), p[0].greedy), ("petId", false));
        assert_eq!((p[1].name.as_str(), p[1].greedy), ("proxy", true));
    }

    #[test]
    fn stage_template_splits_and_substitutes() {
        let t = StageTemplate::parse("http://${stageVariables.host}/a/${stageVariables.v}")
            .expect("valid");
        assert!(t.has_vars());
        let vars = AHashMap::from_iter([
            ("host".to_string(), "h:81".to_string()),
            ("v".to_string(), "x".to_string()),
        ]);
        assert_eq!(t.substitute(&vars).as_deref(), Ok("http://h:81/a/x"));
        let err = t.substitute(&AHashMap::new()).unwrap_err();
        assert!(err.contains("`host`") && err.contains("`v`"), "{err}");
    }

    #[test]
    fn malformed_stage_variable_references_are_rejected() {
        for bad in [
            "http://${stage.x}/",
            "http://${stageVariables.}/",
            "http://${stageVariables.a",
        ] {
            assert!(StageTemplate::parse(bad).is_err(), "{bad}");
        }
        assert!(!StageTemplate::parse("http://h/$x")
            .expect("plain $")
            .has_vars());
    }

    #[test]
    fn uri_parts_host_port_and_template() {
        let u = parse_http_uri("http://Backend:8081/svc/{petId}?x=1", &params("/p/{petId}"))
            .expect("valid");
        assert_eq!(u.host, "Backend");
        assert_eq!(u.port, 8081);
        assert_eq!(u.host_header, "Backend:8081");
        assert_eq!(
            u.template.parts,
            vec![lit("/svc/"), param("petId"), lit("?x=1")]
        );
    }

    #[test]
    fn uri_without_path_means_root_and_default_port_is_80() {
        let u = parse_http_uri("http://example.com", &[]).expect("valid");
        assert_eq!((u.port, u.host_header.as_str()), (80, "example.com"));
        assert_eq!(u.template.parts, vec![lit("/")]);
        let u = parse_http_uri("http://example.com?a=b", &[]).expect("valid");
        assert_eq!(u.template.parts, vec![lit("/?a=b")]);
    }

    #[test]
    fn ipv6_literal_hosts() {
        let u = parse_http_uri("http://[::1]:9000/x", &[]).expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.host_header, "[::1]:9000");
        assert!(parse_http_uri("http://[::1/x", &[]).is_err());
        assert!(parse_http_uri("http://[zz]/x", &[]).is_err());
    }

    #[test]
    fn greedy_parameter_is_referenced_without_plus() {
        let p = params("/{proxy+}");
        let u = parse_http_uri("http://h/up/{proxy}", &p).expect("valid");
        assert_eq!(u.template.parts, vec![lit("/up/"), param("proxy")]);
        let err = parse_http_uri("http://h/up/{proxy+}", &p).unwrap_err();
        assert!(err.contains("{proxy}"), "{err}");
    }

    #[test]
    fn https_uris_use_tls_and_port_443_by_default() {
        let u = parse_http_uri("https://api.test/x", &[]).expect("valid");
        assert_eq!(
            (u.tls, u.port, u.host_header.as_str()),
            (true, 443, "api.test")
        );
        let u = parse_http_uri("HTTPS://api.test:8443/x", &[]).expect("valid");
        assert_eq!((u.tls, u.port), (true, 8443));
        let u = parse_http_uri("https://api.test:80/x", &[]).expect("valid");
        assert_eq!((u.tls, u.port), (true, 80));
        let u = parse_http_uri("http://api.test/x", &[]).expect("valid");
        assert_eq!((u.tls, u.port), (false, 80));
    }

    #[test]
    fn bad_uris_are_rejected_with_a_reason() {
        let cases = [
            ("ftp://h/", "unsupported scheme"),
            ("h:80/x", "must start with http://"),
            ("http:///x", "no host"),
            ("http://u@h/", "user information"),
            ("http://h:0/", "valid port"),
            ("http://h:99999/", "valid port"),
            ("http://h:/", "valid port"),
            ("http://h:+80/", "valid port"),
            ("http://h h/", "not allowed in a host"),
            ("http://{x}/", "only allowed in the path"),
            ("http://h/a b", "percent-encode"),
            ("http://h/a#frag", "fragments"),
            ("http://h/{nope}", "not a path parameter"),
            ("http://h/{x", "unclosed"),
            ("http://h/x}", "unmatched"),
            ("http://hé/", "punycode"),
        ];
        for (uri, want) in cases {
            let err = parse_http_uri(uri, &[]).unwrap_err();
            assert!(err.contains(want), "{uri}: {err}");
        }
    }

    #[test]
    fn check_without_stage_checks_literal_parts_only() {
        let p = params("/{id}");
        let ok = StageTemplate::parse("${stageVariables.url}/{id}").expect("valid");
        assert_eq!(ok.check_without_stage(&p), Ok(()));
        let bad = StageTemplate::parse("ftp://${stageVariables.h}/").expect("valid");
        assert!(bad.check_without_stage(&p).unwrap_err().contains("ftp"));
        let bad = StageTemplate::parse("http://${stageVariables.h}/{other}").expect("valid");
        assert!(bad.check_without_stage(&p).is_err());
    }

    #[test]
    fn stage_variable_value_rule_is_aws_s() {
        assert!(is_var_value("127.0.0.1:8080"));
        assert!(is_var_value("a-b_c~d/e?f#g&h=i,j"));
        assert!(!is_var_value(""));
        assert!(!is_var_value("a b"));
        assert!(!is_var_value("{x}"));
        assert!(is_var_name("backend_2"));
        assert!(!is_var_name("back-end"));
    }

    #[test]
    fn resolver_prefers_ipv4_and_reports_failures() {
        let mut r = Resolver::default();
        let addr = r.resolve("127.0.0.1", 8080).expect("literal");
        assert_eq!(addr, "127.0.0.1:8080".parse().expect("addr"));
        assert!(r.resolve("localhost", 80).is_ok());
        let err = r.resolve("no-such-host.invalid", 80).unwrap_err();
        assert!(err.contains("no-such-host.invalid"), "{err}");
    }
}
