//! Validation of configured resource paths (`/pets/{petId}`, `/files/{proxy+}`).
//!
//! Everything that can be wrong with a path is caught here, before the tree is touched, so
//! the tree only ever holds well-formed resources and matching needs no checks of its own.

use super::error::RouteError;
use super::params::MAX_PARAMS;

/// Deepest resource path accepted, in segments. Matching recurses once per segment, so this
/// bounds stack use for any configuration; real APIs are nowhere near it.
pub const MAX_SEGMENTS: usize = 128;

/// One segment of a resource path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Matches exactly this text (case-sensitive, raw).
    Literal(&'a str),
    /// `{name}`: matches any one non-empty segment.
    Param(&'a str),
    /// `{name+}`: matches one or more remaining segments; always last.
    Greedy(&'a str),
}

impl<'a> Segment<'a> {
    /// The parameter name, if this segment captures one.
    fn param_name(self) -> Option<&'a str> {
        match self {
            Segment::Literal(_) => None,
            Segment::Param(name) | Segment::Greedy(name) => Some(name),
        }
    }
}

/// A validated segment together with the resource path up to and including it, which becomes
/// the resource path of the tree node it leads to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part<'a> {
    /// The segment.
    pub segment: Segment<'a>,
    /// `/pets/{petId}` for the second segment of `/pets/{petId}/tags`.
    pub prefix: &'a str,
}

/// Splits and validates a resource path; the root `/` has no parts.
pub(crate) fn parse(path: &str) -> Result<Vec<Part<'_>>, RouteError> {
    let body = path
        .strip_prefix('/')
        .ok_or_else(|| RouteError::invalid(path, "a resource path must start with '/'"))?;
    if body.is_empty() {
        return Ok(Vec::new());
    }
    if body.ends_with('/') {
        return Err(RouteError::invalid(
            path,
            "only the root resource `/` may end with '/'",
        ));
    }
    let parts = split(path, body)?;
    check_shape(path, &parts)?;
    Ok(parts)
}

/// Parses each `/`-separated segment of `body` (the path without its leading `/`).
fn split<'a>(path: &'a str, body: &'a str) -> Result<Vec<Part<'a>>, RouteError> {
    let mut parts = Vec::new();
    let mut end = 0;
    for raw in body.split('/') {
        if parts.len() == MAX_SEGMENTS {
            return Err(RouteError::invalid(path, "more than 128 segments"));
        }
        end += 1 + raw.len();
        let prefix = path.get(..end).unwrap_or(path);
        parts.push(Part {
            segment: parse_segment(path, raw)?,
            prefix,
        });
    }
    Ok(parts)
}

/// Classifies one segment, rejecting anything that could never match a request as meant.
fn parse_segment<'a>(path: &str, raw: &'a str) -> Result<Segment<'a>, RouteError> {
    if raw.is_empty() {
        return Err(RouteError::invalid(path, "empty segment ('//')"));
    }
    if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        return parse_param(path, inner);
    }
    if raw.contains(['{', '}']) {
        return Err(RouteError::invalid(
            path,
            "'{' or '}' inside a literal segment (a parameter is a whole segment: `{name}`)",
        ));
    }
    if raw
        .bytes()
        .any(|b| b.is_ascii_control() || matches!(b, b' ' | b'?' | b'#'))
    {
        return Err(RouteError::invalid(
            path,
            "a literal segment cannot contain whitespace, control characters, '?' or '#'",
        ));
    }
    Ok(Segment::Literal(raw))
}

/// Parses the inside of `{...}`: `name` or `name+`.
fn parse_param<'a>(path: &str, inner: &'a str) -> Result<Segment<'a>, RouteError> {
    let (name, greedy) = match inner.strip_suffix('+') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    if !is_param_name(name) {
        return Err(RouteError::invalid(
            path,
            "parameter names must be one or more of A-Z a-z 0-9 . _ -",
        ));
    }
    Ok(if greedy {
        Segment::Greedy(name)
    } else {
        Segment::Param(name)
    })
}

/// `[A-Za-z0-9._-]+`: names end up in backend URIs, mapping templates and JSON keys, so they
/// are kept to characters that need no escaping anywhere.
fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Rules about the path as a whole: greedy last, parameter count, unique names.
fn check_shape(path: &str, parts: &[Part<'_>]) -> Result<(), RouteError> {
    let last = parts.len().saturating_sub(1);
    let greedy_early = parts
        .iter()
        .take(last)
        .any(|p| matches!(p.segment, Segment::Greedy(_)));
    if greedy_early {
        return Err(RouteError::invalid(
            path,
            "a greedy `{name+}` must be the last segment",
        ));
    }
    let names: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.segment.param_name())
        .collect();
    if names.len() > MAX_PARAMS {
        return Err(RouteError::TooManyParams {
            path: path.to_owned(),
            count: names.len(),
            max: MAX_PARAMS,
        });
    }
    let duplicate = names
        .iter()
        .enumerate()
        .any(|(i, n)| names.iter().skip(i + 1).any(|m| m == n));
    if duplicate {
        return Err(RouteError::invalid(path, "a parameter name is used twice"));
    }
    Ok(())
}
