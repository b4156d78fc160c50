//! The parsed form of a template: what the control plane compiles once and every shard
//! evaluates. Immutable and `Send + Sync` (it lives in the snapshot): literals are plain data,
//! never runtime [`Value`](super::value::Value)s.

/// A piece of template output.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(Box<str>),
    /// `$a`, `$!{a.b(1)}`: rendered by `toString()`, or as written when it is `null`.
    Ref(Reference),
    /// A reference behind an odd or even run of backslashes (`\$a`, `\\$a`): see `eval`.
    EscapedRef {
        /// How many backslashes precede the `$`.
        slashes: u32,
        /// The reference.
        reference: Reference,
    },
    /// `#set($target = value)`.
    Set {
        /// The reference assigned to: a name, or a chain ending in a property or index.
        target: Reference,
        /// The right-hand side.
        value: Expr,
    },
    /// `#if(c)...#elseif(c)...#else...#end`.
    If {
        /// Each condition with its body, in order.
        branches: Vec<(Expr, Vec<Node>)>,
        /// The `#else` body.
        otherwise: Option<Vec<Node>>,
    },
    /// `#foreach($var in iterable)...#end`.
    Foreach {
        /// The loop variable's name (none when Velocity accepted a literal there).
        var: Option<Box<str>>,
        /// What is iterated.
        iterable: Expr,
        /// The body.
        body: Vec<Node>,
    },
    /// `#break`, `#break($foreach.parent)`: leaves the innermost (or the named) `#foreach`,
    /// or the macro or template it is in.
    Break(Option<Expr>),
    /// `#stop`: ends the whole render.
    Stop,
    /// `#define($name)...#end`: `$name` renders the body when referenced.
    Define {
        /// The reference's name.
        name: Box<str>,
        /// The block, rendered lazily.
        body: std::sync::Arc<[Node]>,
    },
    /// `#name(args)`, `#name`, `#@name(args)...#end`: a macro call; written out as text when
    /// no such macro is defined.
    Call {
        /// The macro's name.
        name: Box<str>,
        /// The arguments (shared with the frame of a running call).
        args: std::sync::Arc<[Expr]>,
        /// The call as written, for the undefined case.
        raw: Box<str>,
        /// The block of a `#@name()...#end` call: `$bodyContent` inside the macro.
        body: Option<std::sync::Arc<[Node]>>,
    },
}

/// A reference: `$root.step.step`.
#[derive(Debug, Clone)]
pub struct Reference {
    /// `$!`: renders nothing instead of itself when `null`.
    pub silent: bool,
    /// The variable's name.
    pub root: Box<str>,
    /// Properties, method calls and indexes, left to right.
    pub steps: Vec<Step>,
    /// The reference as written (`$!{a.b}`), printed when it is `null`.
    pub raw: Box<str>,
}

/// One step of a reference.
#[derive(Debug, Clone)]
pub enum Step {
    /// `.name`: a map key, or a getter (`getName()`, `isName()`).
    Prop(Box<str>),
    /// `.name(args)`.
    Method(Box<str>, Vec<Expr>),
    /// `[expr]`.
    Index(Expr),
}

/// An expression inside a directive or a method's arguments.
#[derive(Debug, Clone)]
pub enum Expr {
    /// An integer literal (Java `Integer`, `Long` or `BigInteger` by size).
    Int(i128),
    /// A floating literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `'text'`, or `"text"` without `$` or `#`.
    Str(Box<str>),
    /// `"text with $refs"`: rendered as a template, giving a string.
    Interpolated(Vec<Node>),
    /// A reference.
    Ref(Reference),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `[a..b]`.
    Range(Box<Expr>, Box<Expr>),
    /// `{k: v}`.
    Map(Vec<(Expr, Expr)>),
    /// `!e`, `not e`.
    Not(Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Binary operators, by Velocity's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `||`, `or`.
    Or,
    /// `&&`, `and`.
    And,
    /// `==`, `eq`.
    Eq,
    /// `!=`, `ne`.
    Ne,
    /// `<`, `lt`.
    Lt,
    /// `<=`, `le`.
    Le,
    /// `>`, `gt`.
    Gt,
    /// `>=`, `ge`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
}

/// `#macro(name $a $b)...#end`.
#[derive(Debug, Clone)]
pub struct Macro {
    /// Parameter names, without `$`.
    pub params: std::sync::Arc<[Box<str>]>,
    /// The body.
    pub body: std::sync::Arc<[Node]>,
}
