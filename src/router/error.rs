//! Why a route could not be added to a [`Router`](super::Router).

use thiserror::Error;

/// Why a route could not be added. Every variant names the offending resource path so a
/// configuration error can be fixed without guessing which of many routes was meant.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    /// Malformed resource path; `reason` says which rule it breaks.
    #[error("invalid resource path {path:?}: {reason}")]
    InvalidPath {
        /// The resource path as configured.
        path: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// Same method on same resource twice: AWS has one integration per method, so a second
    /// one would silently shadow the first.
    #[error("duplicate method {method} on {path}")]
    Duplicate {
        /// The method declared twice (`GET`, `ANY`).
        method: String,
        /// The resource path as configured.
        path: String,
    },
    /// Two differently named parameters at one position: the value of a request segment would
    /// have two names depending on the route, which AWS rejects.
    #[error("resource path {path:?} names parameter {{{name}}} where a sibling already uses {{{existing}}}")]
    ConflictingParam {
        /// The resource path being added.
        path: String,
        /// The parameter name it uses.
        name: String,
        /// The name already used at that position.
        existing: String,
    },
    /// More path parameters than [`Params`](super::Params) holds inline; refused at
    /// configuration time so matching never has to allocate or drop a parameter.
    #[error("resource path {path:?} has {count} parameters; at most {max} are supported")]
    TooManyParams {
        /// The resource path as configured.
        path: String,
        /// Parameters it declares.
        count: usize,
        /// The limit, [`MAX_PARAMS`](super::MAX_PARAMS).
        max: usize,
    },
}

impl RouteError {
    /// Shorthand for [`RouteError::InvalidPath`].
    pub(crate) fn invalid(path: &str, reason: &'static str) -> Self {
        RouteError::InvalidPath {
            path: path.to_owned(),
            reason,
        }
    }
}
