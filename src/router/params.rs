//! Path parameters captured by a match, stored inline so matching never allocates.

use std::fmt;

/// Most path parameters one resource path may declare (greedy one included). Resource paths
/// with more are refused by [`Router::insert`](super::Router::insert), which is what lets
/// [`Params`] be a fixed array.
pub const MAX_PARAMS: usize = 16;

/// Path parameters captured by a match: `(name, raw value)` pairs in path order.
///
/// Names borrow from the router (`'r`), values from the request path (`'p`), and both live in
/// a fixed inline array, so a match costs no allocation on the request path. Values are raw:
/// percent-encoding is left as sent, as AWS passes it to integrations.
#[derive(Clone)]
pub struct Params<'r, 'p> {
    /// Pairs; only the first `len` are meaningful.
    items: [(&'r str, &'p str); MAX_PARAMS],
    /// Pairs captured, at most [`MAX_PARAMS`].
    len: usize,
}

impl Default for Params<'_, '_> {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Params<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'r, 'p> Params<'r, 'p> {
    /// An empty set, usable in `const` context so a caller can keep one per request cheaply.
    pub const fn new() -> Self {
        Params {
            items: [("", ""); MAX_PARAMS],
            len: 0,
        }
    }

    /// Value of a named parameter (raw, percent-encoding untouched), as integrations
    /// substitute `{name}` in backend URIs.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Number of captured parameters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was captured (a literal-only resource, or no match yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(name, raw value)` pairs in path order, e.g. to build `pathParameters` for a Lambda
    /// proxy event.
    pub fn iter(&self) -> impl Iterator<Item = (&'r str, &'p str)> + '_ {
        self.filled().iter().copied()
    }

    /// Forgets every pair so the value can be reused for another match.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends a pair; `false` when full, so a caller can treat overflow as no match instead
    /// of panicking. [`Router::insert`](super::Router::insert) makes overflow unreachable.
    pub(crate) fn push(&mut self, name: &'r str, value: &'p str) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = (name, value);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Drops pairs pushed after `len` was observed, undoing a branch that did not match.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The filled prefix of the inline array.
    fn filled(&self) -> &[(&'r str, &'p str)] {
        self.items.get(..self.len).unwrap_or(&[])
    }
}
