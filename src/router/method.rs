//! The methods a resource can declare, as API Gateway spells them.

use std::fmt;

/// Methods a resource can declare; `Any` is AWS's catch-all.
///
/// The discriminants index the fixed per-resource method table, which is why the order is
/// part of the type and `Any` comes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
    /// `OPTIONS`
    Options,
    /// `ANY`: serves every request method the resource does not declare explicitly.
    Any,
}

impl HttpMethod {
    /// Every method, in table order, so callers (`OpenAPI` export, config checks) can enumerate
    /// them without repeating the list.
    pub const ALL: [HttpMethod; 8] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
        HttpMethod::Head,
        HttpMethod::Options,
        HttpMethod::Any,
    ];

    /// Number of methods, the size of a resource's method table.
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// Parses a configured method name: exactly the upper-case AWS spelling, `ANY` included,
    /// because configuration copied from AWS uses that spelling and anything else is a typo
    /// worth rejecting.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Parses a request's method token. HTTP method names are case-sensitive, and `ANY` is a
    /// configuration word, not a request method, so both it and methods API Gateway cannot
    /// declare (`TRACE`, `CONNECT`, extensions) give `None`; such requests can only be served
    /// by an `ANY` method.
    pub fn from_request(m: &[u8]) -> Option<Self> {
        match m {
            b"GET" => Some(HttpMethod::Get),
            b"POST" => Some(HttpMethod::Post),
            b"PUT" => Some(HttpMethod::Put),
            b"PATCH" => Some(HttpMethod::Patch),
            b"DELETE" => Some(HttpMethod::Delete),
            b"HEAD" => Some(HttpMethod::Head),
            b"OPTIONS" => Some(HttpMethod::Options),
            _ => None,
        }
    }

    /// The AWS spelling (`GET`, `ANY`), for errors, logs and `$context.httpMethod`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Any => "ANY",
        }
    }

    /// Slot in a resource's method table; always below [`HttpMethod::COUNT`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
