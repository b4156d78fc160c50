//! Resource-tree routing with Amazon API Gateway (REST API) precedence.
//!
//! A stage's resources (`/`, `/pets`, `/pets/{petId}`, `/files/{proxy+}`) form a tree with one
//! node per resource; each node holds a fixed table of its methods. Every request walks it
//! once, so this module is on the hot path of every request and is built to never allocate
//! while matching.
//!
//! # Resource paths (configuration)
//!
//! `/` or `/seg/seg/...` where a segment is literal text, `{name}` (one segment) or
//! `{name+}` (greedy, last segment only). Names are `[A-Za-z0-9._-]+` and unique within a
//! path; at most [`MAX_PARAMS`] per path and [`MAX_SEGMENTS`] segments. Empty segments,
//! a trailing `/` (except the root) and braces inside literal text are refused. Two siblings
//! may not use different parameter names at the same position (AWS rejects that too), and a
//! method may be declared once per resource. A `{name}` and a `{name+}` may be siblings; the
//! first beats the second. A failed [`Router::insert`] leaves the router unchanged.
//!
//! # Matching (requests)
//!
//! [`Router::find`] takes the raw request path below the stage (percent-encoding untouched,
//! no query, starting with `/`):
//!
//! - A resource *matches* only if it declares the request's method or `ANY`. A resource that
//!   exists but lacks a usable method is treated like a missing one, so the walk moves on.
//! - Precedence per segment: literal child, then `{param}`, then `{proxy+}`. The walk
//!   backtracks: if the literal branch yields no matching resource, the parameter branch is
//!   tried, then the greedy one, at every level. Resource precedence comes first, method
//!   precedence second: on the chosen resource the exact method beats `ANY`.
//! - Requests whose method API Gateway cannot declare (`TRACE`, extensions: `None` from
//!   [`HttpMethod::from_request`]) are served only by `ANY`.
//! - One trailing `/` on a non-root path is ignored (`/pets/` is `/pets`).
//! - Literal comparison is exact and case-sensitive, on raw (still percent-encoded) text.
//! - An empty request segment (`/pets//x`) matches nothing at that position (no literal,
//!   `{param}` or greedy child); an ancestor's greedy parameter may still take it as part of
//!   its remainder.
//! - `{proxy+}` takes one or more remaining segments; its value is the raw remainder without
//!   the leading `/` (`a/b/c`). `/{proxy+}` therefore does not match `/`.
//! - Captured values are raw: `/pets/a%2Fb` gives `petId = a%2Fb`.
//!
//! # Cost
//!
//! Matching never allocates ([`Params`] is an inline array) and its cost does not depend on
//! how many routes exist: each node visited costs one child lookup on one segment, by linear
//! scan for up to a few literal children and by ahash lookup above that. A walk visits every
//! tree node at most once and only nodes whose pattern matches a prefix of the path, so it is
//! proportional to the path length for ordinary trees; backtracking can at worst revisit
//! levels where both a literal and a parameter child match, which only the configuration's
//! shape, never the request or the route count, can cause.

mod error;
mod method;
mod node;
mod params;
mod pattern;
#[cfg(test)]
mod tests;

pub use error::RouteError;
pub use method::HttpMethod;
pub use params::{Params, MAX_PARAMS};
pub use pattern::MAX_SEGMENTS;

use node::Node;

/// A stage's compiled resource tree, mapping `(method, resource)` to a value (the method's
/// integration). Built once per deployment, then only read, from any thread.
#[derive(Debug)]
pub struct Router<T> {
    /// The `/` resource; every other resource hangs below it.
    root: Node<T>,
    /// Routes added, so [`Router::len`] needs no walk.
    len: usize,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::new("/"),
            len: 0,
        }
    }
}

impl<T> Router<T> {
    /// An empty router (no resources but the implicit root, which has no methods).
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares `method` on `resource_path` (`/pets/{petId}`), served by `value`.
    ///
    /// # Errors
    ///
    /// [`RouteError`] when the path is malformed, names a parameter differently from a
    /// sibling, or the method is already declared there. The router is then unchanged, so a
    /// configuration loader can report every bad route and keep the rest.
    pub fn insert(
        &mut self,
        method: HttpMethod,
        resource_path: &str,
        value: T,
    ) -> Result<(), RouteError> {
        let parts = pattern::parse(resource_path)?;
        self.root.check(&parts, method, resource_path)?;
        self.root.add(&parts, method, value);
        self.len += 1;
        Ok(())
    }

    /// Finds the value serving a request, with API Gateway precedence (see the module
    /// documentation), filling `params` with the captured path parameters.
    ///
    /// `method` is [`HttpMethod::from_request`] of the request's method (`None` can only match
    /// `ANY`); `path` is the raw path below the stage, starting with `/`. `params` is cleared
    /// first; on `Some` it holds exactly this match's parameters in path order; on `None` its
    /// contents are unspecified and must not be read. Never allocates, never panics.
    pub fn find<'r, 'p>(
        &'r self,
        method: Option<HttpMethod>,
        path: &'p str,
        params: &mut Params<'r, 'p>,
    ) -> Option<&'r T> {
        params.clear();
        let body = path.strip_prefix('/')?;
        let rest = match body {
            "" => None,
            _ => Some(body.strip_suffix('/').unwrap_or(body)),
        };
        self.root.find(method, rest, params)
    }

    /// Number of `(method, resource)` routes, for startup logs and metrics.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no route was added (every request would miss).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every route as `(method, resource path, value)`, parents before children and siblings
    /// in the order they were first configured, for `OpenAPI` export and diagnostics.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            stack: vec![&self.root],
            current: None,
        }
    }
}

impl<'r, T> IntoIterator for &'r Router<T> {
    type Item = (HttpMethod, &'r str, &'r T);
    type IntoIter = Iter<'r, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a router's routes; see [`Router::iter`]. A depth-first walk with an explicit
/// stack, so deep trees cannot overflow the call stack.
pub struct Iter<'r, T> {
    stack: Vec<&'r Node<T>>,
    /// The node being reported and the next [`HttpMethod::ALL`] position to look at.
    current: Option<(&'r Node<T>, usize)>,
}

impl<T> std::fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("pending_nodes", &self.stack.len())
            .finish_non_exhaustive()
    }
}

impl<'r, T> Iterator for Iter<'r, T> {
    type Item = (HttpMethod, &'r str, &'r T);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((node, next)) = &mut self.current {
                let node: &'r Node<T> = node;
                while let Some(&method) = HttpMethod::ALL.get(*next) {
                    *next += 1;
                    if let Some(value) = node.declared(method) {
                        return Some((method, node.resource(), value));
                    }
                }
            }
            let node = self.stack.pop()?;
            self.stack.extend(node.children().rev());
            self.current = Some((node, 0));
        }
    }
}
