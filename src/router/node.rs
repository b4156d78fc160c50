//! The resource tree: one node per resource, children by segment kind, and the matching walk.

use ahash::AHashMap;

use super::error::RouteError;
use super::method::HttpMethod;
use super::params::Params;
use super::pattern::{Part, Segment};

/// Literal children are found by linear scan up to this many; above it a hash index is built.
/// Measured (ns per lookup, hit / miss): a scan costs 3/2 at 1 child, 8/4 at 4, 14/8 at 8 and
/// 127/108 at 100, while an ahash lookup costs a flat 9-11/6-7 from 1 to 10,000 children and a
/// sorted vector with binary search 4 at 1 but 67 at 100 and 130 at 10,000. The crossover is
/// between 4 and 8 children.
const LINEAR_MAX: usize = 4;

/// One resource: its methods and its children.
#[derive(Debug)]
pub(crate) struct Node<T> {
    /// Method table indexed by [`HttpMethod::index`]; `None` where the method is not declared.
    methods: [Option<T>; HttpMethod::COUNT],
    /// Resource path as configured (`/pets/{petId}`), for [`Router::iter`](super::Router::iter).
    resource: Box<str>,
    /// Children whose segment is literal text.
    literals: Literals<T>,
    /// The `{name}` child, at most one per node (AWS rejects two names at one position).
    param: Option<Box<Named<T>>>,
    /// The `{name+}` child, a leaf.
    greedy: Option<Box<Named<T>>>,
}

/// A parameter child and the name it captures under.
#[derive(Debug)]
struct Named<T> {
    /// Parameter name, without braces or `+`.
    name: Box<str>,
    /// The resource the parameter segment leads to.
    node: Node<T>,
}

/// Literal children in insertion order (so iteration follows the configuration), with a hash
/// index once there are more than [`LINEAR_MAX`], so lookup stays O(1) for wide nodes such as a
/// root with thousands of services.
#[derive(Debug)]
struct Literals<T> {
    /// `(segment text, child)` in insertion order.
    entries: Vec<(Box<str>, Node<T>)>,
    /// Segment text → position in `entries`, once there are more than [`LINEAR_MAX`].
    index: Option<AHashMap<Box<str>, usize>>,
}

impl<T> Literals<T> {
    /// No children.
    fn new() -> Self {
        Literals {
            entries: Vec::new(),
            index: None,
        }
    }

    /// Position of the child named `key`.
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| same(k, key)),
        }
    }

    /// The child named `key`.
    fn get(&self, key: &str) -> Option<&Node<T>> {
        let i = self.position(key)?;
        self.entries.get(i).map(|(_, node)| node)
    }

    /// The child named `key`, created (with resource path `resource`) if missing.
    fn get_or_insert(&mut self, key: &str, resource: &str) -> &mut Node<T> {
        let i = match self.position(key) {
            Some(i) => i,
            None => self.push(key, Node::new(resource)),
        };
        &mut self.entries[i].1
    }

    /// Appends a child, keeping the index (if any) in step; returns its position.
    fn push(&mut self, key: &str, node: Node<T>) -> usize {
        let i = self.entries.len();
        self.entries.push((key.into(), node));
        match &mut self.index {
            Some(index) => {
                index.insert(key.into(), i);
            }
            None if self.entries.len() > LINEAR_MAX => self.build_index(),
            None => {}
        }
        i
    }

    /// Switches from linear scan to hash lookup.
    fn build_index(&mut self) {
        let index = self.entries.iter().enumerate();
        self.index = Some(index.map(|(i, (k, _))| (k.clone(), i)).collect());
    }

    /// Children in insertion order.
    fn nodes(&self) -> impl DoubleEndedIterator<Item = &Node<T>> {
        self.entries.iter().map(|(_, node)| node)
    }
}

impl<T> Node<T> {
    /// An empty resource at `resource`.
    pub(crate) fn new(resource: &str) -> Self {
        Node {
            methods: [const { None }; HttpMethod::COUNT],
            resource: resource.into(),
            literals: Literals::new(),
            param: None,
            greedy: None,
        }
    }

    /// Resource path as configured.
    pub(crate) fn resource(&self) -> &str {
        &self.resource
    }

    /// The value of `method` if this resource declares it (no `ANY` fallback).
    pub(crate) fn declared(&self, method: HttpMethod) -> Option<&T> {
        self.methods[method.index()].as_ref()
    }

    /// Children in the order iteration visits them: literals (insertion order), param, greedy.
    pub(crate) fn children(&self) -> impl DoubleEndedIterator<Item = &Node<T>> {
        let param = self.param.iter().map(|n| &n.node);
        let greedy = self.greedy.iter().map(|n| &n.node);
        self.literals.nodes().chain(param).chain(greedy)
    }

    // ---- building -------------------------------------------------------------------------

    /// Checks, without changing anything, that `method` can be added at `parts`: no parameter
    /// name clash with existing siblings and no method already there. Keeping this separate
    /// from [`Node::add`] makes a failed insert leave the tree untouched.
    pub(crate) fn check(
        &self,
        parts: &[Part<'_>],
        method: HttpMethod,
        path: &str,
    ) -> Result<(), RouteError> {
        let mut node = self;
        for part in parts {
            match node.existing_child(part.segment, path)? {
                Some(child) => node = child,
                None => return Ok(()),
            }
        }
        match node.declared(method) {
            Some(_) => Err(RouteError::Duplicate {
                method: method.to_string(),
                path: path.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// The existing child for `segment`, or an error if a sibling parameter has another name.
    fn existing_child(
        &self,
        segment: Segment<'_>,
        path: &str,
    ) -> Result<Option<&Node<T>>, RouteError> {
        let named = match segment {
            Segment::Literal(text) => return Ok(self.literals.get(text)),
            Segment::Param(name) => self.param.as_deref().map(|n| (n, name)),
            Segment::Greedy(name) => self.greedy.as_deref().map(|n| (n, name)),
        };
        match named {
            Some((child, name)) if *child.name != *name => Err(RouteError::ConflictingParam {
                path: path.to_owned(),
                name: name.to_owned(),
                existing: child.name.to_string(),
            }),
            Some((child, _)) => Ok(Some(&child.node)),
            None => Ok(None),
        }
    }

    /// Stores `value` as `method` at `parts`, creating missing nodes. Must follow a successful
    /// [`Node::check`] with the same arguments, which guarantees the slot is free and names
    /// agree.
    pub(crate) fn add(&mut self, parts: &[Part<'_>], method: HttpMethod, value: T) {
        let mut node = self;
        for part in parts {
            node = node.child_or_insert(part);
        }
        node.methods[method.index()] = Some(value);
    }

    /// The child for `part`, created if missing.
    fn child_or_insert(&mut self, part: &Part<'_>) -> &mut Node<T> {
        let (slot, name) = match part.segment {
            Segment::Literal(text) => return self.literals.get_or_insert(text, part.prefix),
            Segment::Param(name) => (&mut self.param, name),
            Segment::Greedy(name) => (&mut self.greedy, name),
        };
        let named = slot.get_or_insert_with(|| {
            Box::new(Named {
                name: name.into(),
                node: Node::new(part.prefix),
            })
        });
        &mut named.node
    }

    // ---- matching -------------------------------------------------------------------------

    /// The value serving `method` here: the exact method, else `ANY`. A request method API
    /// Gateway cannot declare (`None`) is served by `ANY` only.
    fn method(&self, method: Option<HttpMethod>) -> Option<&T> {
        let exact = method.and_then(|m| self.declared(m));
        exact.or(self.declared(HttpMethod::Any))
    }

    /// Matches `rest` (the request path below this node without its leading `/`, or `None`
    /// when the path ends here) with AWS precedence and backtracking: literal child, then
    /// `{param}`, then `{proxy+}`, each tried only if the one before found no resource with a
    /// usable method.
    pub(crate) fn find<'r, 'p>(
        &'r self,
        method: Option<HttpMethod>,
        rest: Option<&'p str>,
        params: &mut Params<'r, 'p>,
    ) -> Option<&'r T> {
        let Some(rest) = rest else {
            return self.method(method);
        };
        let (segment, tail) = split_first(rest);
        if segment.is_empty() {
            // `//`: an empty segment matches no literal, parameter or greedy parameter.
            return None;
        }
        if let Some(hit) = self.find_literal(method, segment, tail, params) {
            return Some(hit);
        }
        if let Some(hit) = self.find_param(method, segment, tail, params) {
            return Some(hit);
        }
        self.find_greedy(method, rest, params)
    }

    /// Tries the literal child named `segment`.
    fn find_literal<'r, 'p>(
        &'r self,
        method: Option<HttpMethod>,
        segment: &'p str,
        tail: Option<&'p str>,
        params: &mut Params<'r, 'p>,
    ) -> Option<&'r T> {
        self.literals.get(segment)?.find(method, tail, params)
    }

    /// Tries the `{param}` child, capturing `segment`; undoes the capture if nothing below
    /// matches so a later branch starts clean.
    fn find_param<'r, 'p>(
        &'r self,
        method: Option<HttpMethod>,
        segment: &'p str,
        tail: Option<&'p str>,
        params: &mut Params<'r, 'p>,
    ) -> Option<&'r T> {
        let child = self.param.as_deref()?;
        let mark = params.len();
        if !params.push(&child.name, segment) {
            return None;
        }
        let hit = child.node.find(method, tail, params);
        if hit.is_none() {
            params.truncate(mark);
        }
        hit
    }

    /// Tries the `{proxy+}` child, which takes all of `rest` (one or more segments, raw).
    fn find_greedy<'r, 'p>(
        &'r self,
        method: Option<HttpMethod>,
        rest: &'p str,
        params: &mut Params<'r, 'p>,
    ) -> Option<&'r T> {
        let child = self.greedy.as_deref()?;
        let hit = child.node.method(method)?;
        params.push(&child.name, rest).then_some(hit)
    }
}

/// `a/b/c` → (`a`, `Some("b/c")`); `a` → (`a`, `None`). A plain byte scan: segments are
/// short, and this beat `str::split_once` (a generic searcher) by a wide margin in profiles.
fn split_first(rest: &str) -> (&str, Option<&str>) {
    let slash = rest.bytes().position(|b| b == b'/');
    match slash.and_then(|i| rest.split_at_checked(i)) {
        Some((segment, tail)) => (segment, tail.strip_prefix('/')),
        None => (rest, None),
    }
}

/// String equality without a call to `memcmp`: segments are a few bytes long, where the call
/// costs more than the comparison.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}
