//! Resource-tree routing with AWS precedence (stub: being written).
use thiserror::Error;

/// Methods a resource can declare; `Any` is AWS's catch-all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl HttpMethod {
    /// Parses a configured method name (upper case, `ANY` allowed).
    pub fn parse(s: &str) -> Option<Self> {
        let _ = s;
        todo!()
    }
    /// Parses a request's method token (`ANY` is not a request method).
    pub fn from_request(m: &[u8]) -> Option<Self> {
        let _ = m;
        todo!()
    }
}

/// Why a route could not be added.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    /// Malformed resource path.
    #[error("invalid resource path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// Same method on same resource twice.
    #[error("duplicate method {method} on {path}")]
    Duplicate { method: String, path: String },
    /// Two differently named parameters at one position.
    #[error("resource path {path:?} names parameter {{{name}}} where a sibling already uses {{{existing}}}")]
    ConflictingParam {
        path: String,
        name: String,
        existing: String,
    },
}

/// Path parameters captured by a match.
#[derive(Debug, Default)]
pub struct Params<'r, 'p> {
    items: Vec<(&'r str, &'p str)>,
}
impl<'r, 'p> Params<'r, 'p> {
    /// Value of a named parameter.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.items.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Compiled resource tree.
#[derive(Debug)]
pub struct Router<T> {
    _v: Vec<T>,
}
impl<T> Default for Router<T> {
    fn default() -> Self {
        Router { _v: Vec::new() }
    }
}
impl<T> Router<T> {
    /// Adds a method.
    pub fn insert(
        &mut self,
        method: HttpMethod,
        resource_path: &str,
        value: T,
    ) -> Result<(), RouteError> {
        let _ = (method, resource_path, value);
        todo!()
    }
    /// Finds the method for a request.
    pub fn find<'r, 'p>(
        &'r self,
        method: Option<HttpMethod>,
        path: &'p str,
        params: &mut Params<'r, 'p>,
    ) -> Option<&'r T> {
        let _ = (method, path, params);
        todo!()
    }
}
