//! The evaluator: renders a parsed template on a shard, within budgets.
//!
//! Velocity 1.7's rules (each shown by files of `tests/template/corpus/`, which real Velocity
//! 1.7 and this module both render, and `tests/template.rs` compares):
//! - A reference that is `null` (undefined, a missing key, a method that does not exist)
//!   renders as written; `$!ref` renders nothing. API Gateway renders every null reference as
//!   nothing (see `gateway`).
//! - `#set` with a `null` right-hand side leaves the target as it was
//!   (`directive.set.null.allowed = false`); `#set($!a = ..)` and `#set(${a} = ..)` assign
//!   nothing anyone can read (corpus 668, 669).
//! - `#if` asks each node for its truth (`SimpleNode.evaluate`): a reference is false only when
//!   `null` or `false`; comparisons and logic give their result; every literal, string,
//!   list, map and arithmetic expression is false (corpus 177).
//! - `#foreach` iterates a list live (an element set during the loop is seen, corpus 758), a
//!   map's values, nothing for anything else; the loop variable and `$velocityCount` get their
//!   old values back afterwards.
//! - Macro arguments are passed by name: each use of a parameter evaluates the caller's
//!   expression again, in the caller's scope (corpus 262, 263); `#set` of a parameter makes a
//!   global variable instead (corpus 743). `#set` inside a macro is global.
//! - Arithmetic follows `MathUtils`: integers stay integers (widening on overflow), a double
//!   operand makes a double, integer division truncates, dividing by zero gives `null`; `+`
//!   with a string concatenates.
//! - `==` compares numbers by value, same-class objects with `equals`, and otherwise their
//!   `toString()`; `<` and friends compare numbers only (anything else is false).

use std::rc::Rc;
use std::sync::Arc;

use super::ast::{BinOp, Expr, Macro, Node, Reference, Step};
use super::methods;
use super::parse::Parsed;
use super::value::{same, Host, List, Loop, Num, Value};
use super::{Bindings, Budget, RenderError};

/// How rendering a list of nodes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Go,
    /// `#break`: of the innermost loop (0) or of the loop whose state is at this address.
    Break(usize),
    Stop,
}

/// API Gateway's iterations per `#foreach`.
const GATEWAY_LOOP: usize = 1000;

/// Velocity's `velocimacro.max.depth` default.
const MACRO_DEPTH: usize = 20;

/// A macro call being rendered: its parameters, bound by name to the caller's expressions.
struct Frame {
    params: Arc<[Box<str>]>,
    args: Arc<[Expr]>,
    /// A parameter stops being bound once the macro `#set`s it.
    bound: Vec<bool>,
    body: Option<Arc<[Node]>>,
}

/// Where a name is found.
enum Binding {
    /// Argument `i` of frame `k`.
    Arg(usize, usize),
    /// A parameter without an argument: `null`.
    Missing,
    /// Not a parameter.
    None,
}

pub(super) struct Eval<'t, 'e> {
    tpl: &'t Parsed,
    pub(super) env: &'e mut dyn Bindings,
    vars: Vec<(Rc<str>, Value)>,
    frames: Vec<Frame>,
    out: String,
    budget: Budget,
    /// Loop iterations left.
    iterations: u64,
    /// Bytes of strings built (interpolation, string methods) left.
    work: usize,
    depth: usize,
    /// `env.gateway()`, asked once.
    gateway: bool,
    /// The request body parsed as JSON, once, when a template first asks.
    pub(super) body_json: Option<Rc<Result<serde_json::Value, String>>>,
    /// The same body as the template's own values, once, for definite paths.
    pub(super) body_doc: Option<Rc<Result<Value, String>>>,
}

impl<'t, 'e> Eval<'t, 'e> {
    pub(super) fn new(
        tpl: &'t Parsed,
        env: &'e mut dyn Bindings,
        vars: Vec<(Rc<str>, Value)>,
        budget: Budget,
    ) -> Self {
        let gateway = env.gateway();
        Eval {
            gateway,
            tpl,
            env,
            vars,
            frames: Vec::new(),
            // Most renders are a few hundred bytes: one allocation instead of six doublings.
            out: String::with_capacity(256),
            iterations: budget.iterations,
            work: budget.output_bytes.saturating_mul(8),
            budget,
            depth: 0,
            body_json: None,
            body_doc: None,
        }
    }

    pub(super) fn run(mut self) -> Result<String, RenderError> {
        let nodes = &self.tpl.nodes;
        match self.nodes(nodes) {
            Ok(_) | Err(RenderError::Stopped) => Ok(self.out),
            Err(e) => Err(e),
        }
    }

    /// Counts `n` bytes of built strings against the budget.
    pub(super) fn spend(&mut self, n: usize) -> Result<(), RenderError> {
        self.work = self
            .work
            .checked_sub(n)
            .ok_or(RenderError::Budget("work bytes"))?;
        Ok(())
    }

    fn emit(&mut self, s: &str) -> Result<(), RenderError> {
        self.out.push_str(s);
        self.check_out()
    }

    fn check_out(&mut self) -> Result<(), RenderError> {
        if self.out.len() > self.budget.output_bytes {
            return Err(RenderError::Budget("output bytes"));
        }
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node]) -> Result<Flow, RenderError> {
        self.depth += 1;
        if self.depth > self.budget.depth {
            return Err(RenderError::Budget("depth"));
        }
        let mut flow = Flow::Go;
        for node in nodes {
            flow = self.node(node)?;
            if flow != Flow::Go {
                break;
            }
        }
        self.depth -= 1;
        Ok(flow)
    }

    fn node(&mut self, node: &Node) -> Result<Flow, RenderError> {
        match node {
            Node::Text(t) => self.emit(t)?,
            Node::Ref(r) => {
                if !self.print_direct(r)? {
                    let v = self.reference(r)?;
                    self.render_value(r, &v)?;
                }
            }
            Node::EscapedRef { slashes, reference } => {
                let v = self.reference(reference)?;
                let n = *slashes as usize;
                if v.is_null() {
                    // Before a null reference half the run plus one backslash print (`\$a`,
                    // `\\$a`, `\\\$a` keep 1, 2, 2: corpus 301, 303 and the generated corpus);
                    // an even run leaves the reference to render as usual (`\\$!{x}` prints
                    // `\\`).
                    self.emit(&"\\".repeat(n / 2 + 1))?;
                    if n % 2 == 1 {
                        self.emit(&reference.raw)?;
                    } else {
                        self.render_value(reference, &v)?;
                    }
                } else {
                    self.emit(&"\\".repeat(n / 2))?;
                    if n % 2 == 1 {
                        self.emit(&reference.raw)?;
                    } else {
                        self.render_value(reference, &v)?;
                    }
                }
            }
            Node::Set { target, value } => {
                let v = self.expr(value)?;
                if !v.is_null() {
                    self.assign(target, v)?;
                }
            }
            Node::If {
                branches,
                otherwise,
            } => {
                for (cond, body) in branches {
                    if self.cond(cond)? {
                        return self.nodes(body);
                    }
                }
                if let Some(body) = otherwise {
                    return self.nodes(body);
                }
            }
            Node::Foreach {
                var,
                iterable,
                body,
            } => return self.foreach(var.as_deref(), iterable, body),
            Node::Break(None) => return Ok(Flow::Break(0)),
            Node::Break(Some(target)) => {
                return Ok(Flow::Break(match self.expr(target)? {
                    Value::Host(Host::Loop(l)) => Rc::as_ptr(&l) as usize,
                    _ => 0,
                }))
            }
            Node::Stop => return Ok(Flow::Stop),
            Node::Define { name, body } => {
                self.set_var(name, Value::Host(Host::Block(body.clone())));
            }
            Node::Call {
                name,
                args,
                raw,
                body,
            } => return self.call(name, args, raw, body.as_ref()),
        }
        Ok(Flow::Go)
    }

    /// Prints a plain `$var` or `$var.key.key` without cloning what it names (the common
    /// case, once per loop element); `false` when the general path must print it.
    fn print_direct(&mut self, r: &Reference) -> Result<bool, RenderError> {
        if !self.frames.is_empty() {
            return Ok(false);
        }
        let quiet = r.silent || self.gateway;
        let out = &mut self.out;
        let printed = peek(&self.vars, r, |v| match v {
            None => quiet,
            Some(Value::Host(_)) => false,
            Some(v) => {
                v.write_to(out);
                true
            }
        });
        if printed != Some(true) {
            return Ok(false);
        }
        self.check_out()?;
        Ok(true)
    }

    /// Writes a reference's value: itself when `null`, a `#define` block rendered, otherwise
    /// `toString()`.
    fn render_value(&mut self, r: &Reference, v: &Value) -> Result<(), RenderError> {
        match v {
            // API Gateway renders every null reference as nothing, as if written `$!ref`
            // (ToQoz/api-gateway-mapping-template #5, recorded on AWS: "API Gateway will
            // render it as an empty string"); stock Velocity prints the reference.
            Value::Null if r.silent || self.gateway => Ok(()),
            Value::Null => {
                let raw = self.null_text(r);
                self.emit(&raw)
            }
            Value::Host(Host::Block(body)) => {
                let body = body.clone();
                if self.nodes(&body)? == Flow::Stop {
                    return Err(RenderError::Stopped);
                }
                Ok(())
            }
            v => {
                v.write_to(&mut self.out);
                self.check_out()
            }
        }
    }

    /// What a null reference prints: itself, or for a macro parameter passed a reference,
    /// the caller's reference (corpus 273).
    fn null_text(&self, r: &Reference) -> Rc<str> {
        if r.steps.is_empty() {
            if let Binding::Arg(k, i) = self.binding(&r.root) {
                if let Expr::Ref(a) = &self.frames[k].args[i] {
                    return Rc::from(&*a.raw);
                }
            }
        }
        Rc::from(&*r.raw)
    }

    fn binding(&self, name: &str) -> Binding {
        for (k, f) in self.frames.iter().enumerate().rev() {
            if let Some(i) = f.params.iter().position(|p| &**p == name) {
                if !f.bound[i] {
                    return Binding::None;
                }
                return if i < f.args.len() {
                    Binding::Arg(k, i)
                } else {
                    Binding::Missing
                };
            }
        }
        Binding::None
    }

    fn var(&self, name: &str) -> Option<&Value> {
        self.vars
            .iter()
            .find(|(k, _)| same(k, name))
            .map(|(_, v)| v)
    }

    fn set_var(&mut self, name: &str, v: Value) {
        match self.vars.iter_mut().find(|(k, _)| same(k, name)) {
            Some(slot) => slot.1 = v,
            None => self.vars.push((Rc::from(name), v)),
        }
    }

    /// Removes a variable, returning its value (to restore it later).
    fn take_var(&mut self, name: &str) -> Value {
        match self.vars.iter().position(|(k, _)| same(k, name)) {
            Some(i) => self.vars.swap_remove(i).1,
            None => Value::Null,
        }
    }

    fn restore_var(&mut self, name: &str, v: Value) {
        if v.is_null() {
            self.take_var(name);
        } else {
            self.set_var(name, v);
        }
    }

    fn root(&mut self, name: &str) -> Result<Value, RenderError> {
        match self.binding(name) {
            Binding::Arg(k, i) => {
                // Evaluated in the caller's scope: the frames from `k` up are set aside.
                let args = self.frames[k].args.clone();
                let inner = self.frames.split_off(k);
                let v = self.expr(&args[i]);
                self.frames.extend(inner);
                return v;
            }
            Binding::Missing => return Ok(Value::Null),
            Binding::None => {}
        }
        if name == "bodyContent" {
            if let Some(body) = self.frames.last().and_then(|f| f.body.clone()) {
                return Ok(Value::Host(Host::Block(body)));
            }
        }
        if let Some(v) = self.var(name) {
            return Ok(v.clone());
        }
        if self.gateway {
            match name {
                "input" => return Ok(Value::Host(Host::Input)),
                "util" => return Ok(Value::Host(Host::Util)),
                "context" => return Ok(Value::Host(Host::Context(Rc::from("")))),
                "stageVariables" => return Ok(Value::Host(Host::StageVariables)),
                _ => {}
            }
        }
        Ok(Value::Null)
    }

    pub(super) fn reference(&mut self, r: &Reference) -> Result<Value, RenderError> {
        let mut v = self.root(&r.root)?;
        for step in &r.steps {
            if v.is_null() {
                return Ok(Value::Null);
            }
            v = self.step(v, step)?;
        }
        Ok(v)
    }

    fn step(&mut self, v: Value, step: &Step) -> Result<Value, RenderError> {
        match step {
            Step::Prop(name) => methods::property(self, &v, name),
            Step::Method(name, args) => {
                let args = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<Vec<_>, _>>()?;
                methods::call(self, &v, name, &args)
            }
            Step::Index(e) => {
                let i = self.expr(e)?;
                methods::index(&v, &i)
            }
        }
    }

    fn assign(&mut self, target: &Reference, v: Value) -> Result<(), RenderError> {
        if target.raw.starts_with("$!") || target.raw.starts_with("${") {
            return Ok(());
        }
        let Some((last, init)) = target.steps.split_last() else {
            if let Some(f) = self.frames.last_mut() {
                if let Some(i) = f.params.iter().position(|p| **p == *target.root) {
                    f.bound[i] = false;
                }
            }
            self.set_var(&target.root, v);
            return Ok(());
        };
        let mut obj = self.root(&target.root)?;
        for step in init {
            if obj.is_null() {
                return Ok(());
            }
            obj = self.step(obj, step)?;
        }
        match (last, &obj) {
            (Step::Prop(name), Value::Map(m)) => {
                m.put(Rc::from(&**name), v);
            }
            (Step::Prop(name), Value::Host(Host::Context(prefix))) => {
                let path = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                self.env.set_context(&path, &v);
            }
            (Step::Index(e), _) => {
                let i = self.expr(e)?;
                methods::set_index(&obj, &i, v)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn foreach(
        &mut self,
        var: Option<&str>,
        iterable: &Expr,
        body: &[Node],
    ) -> Result<Flow, RenderError> {
        let list: Rc<List> = match self.expr(iterable)? {
            Value::List(l) => l,
            Value::Map(m) => Rc::new(List {
                items: std::cell::RefCell::new(
                    m.entries.borrow().iter().map(|(_, v)| v.clone()).collect(),
                ),
                ..List::default()
            }),
            _ => return Ok(Flow::Go),
        };
        let var = var.unwrap_or("");
        // What the loop sets, restored afterwards.
        let names = [var, "velocityCount", "velocityHasNext", "foreach"];
        let saved = names.map(|n| self.take_var(n));
        let parent = match &saved[3] {
            Value::Host(Host::Loop(l)) => Some(l.clone()),
            _ => None,
        };
        let state = Rc::new(Loop {
            parent,
            ..Loop::default()
        });
        let id = Rc::as_ptr(&state) as usize;
        self.set_var("foreach", Value::Host(Host::Loop(state.clone())));
        // API Gateway allows 1,000 iterations per `#foreach` (its quotas page, "Number of
        // iterations in a #foreach ... #end loop in mapping templates: 1000"); the loop ends
        // there, as Velocity's `directive.foreach.maxloops` ends it.
        let max = if self.gateway {
            GATEWAY_LOOP
        } else {
            usize::MAX
        };
        let len = list.items.borrow().len();
        let mut flow = Flow::Go;
        let mut i = 0;
        let result = loop {
            let (item, now) = {
                let items = list.items.borrow();
                (items.get(i).cloned(), items.len())
            };
            if now != len {
                break Err(RenderError::Method(
                    "java.util.ConcurrentModificationException: the list changed during #foreach"
                        .into(),
                ));
            }
            let Some(item) = item else { break Ok(()) };
            if i >= max {
                break Ok(());
            }
            let Some(left) = self.iterations.checked_sub(1) else {
                break Err(RenderError::Budget("loop iterations"));
            };
            self.iterations = left;
            let has_next = i + 1 < len && i + 1 < max;
            state.index.set(i);
            state.has_next.set(has_next);
            if !var.is_empty() {
                self.set_var(var, item);
            }
            self.set_var("velocityCount", Value::int(i as i128 + 1));
            self.set_var("velocityHasNext", Value::Bool(has_next));
            match self.nodes(body) {
                Err(e) => break Err(e),
                Ok(Flow::Go) => {}
                Ok(Flow::Break(target)) if target == 0 || target == id => break Ok(()),
                Ok(other) => {
                    flow = other;
                    break Ok(());
                }
            }
            i += 1;
        };
        for (n, v) in names.into_iter().zip(saved) {
            self.restore_var(n, v);
        }
        result.map(|()| flow)
    }

    fn call(
        &mut self,
        name: &str,
        args: &Arc<[Expr]>,
        raw: &str,
        body: Option<&Arc<[Node]>>,
    ) -> Result<Flow, RenderError> {
        let tpl = self.tpl;
        let Some(mac): Option<&'t Macro> = tpl
            .macros
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, m)| m)
        else {
            self.emit(raw)?;
            return Ok(Flow::Go);
        };
        if self.frames.len() >= MACRO_DEPTH {
            return Err(RenderError::Budget("macro depth"));
        }
        self.frames.push(Frame {
            params: mac.params.clone(),
            args: args.clone(),
            bound: vec![true; mac.params.len()],
            body: body.cloned(),
        });
        let flow = self.nodes(&mac.body);
        self.frames.pop();
        // `#break` in a macro ends the macro (corpus 244).
        Ok(match flow? {
            Flow::Stop => Flow::Stop,
            _ => Flow::Go,
        })
    }

    /// Renders nodes into a new string (a `"..."` literal with references).
    fn interpolate(&mut self, nodes: &[Node]) -> Result<Value, RenderError> {
        let outer = std::mem::take(&mut self.out);
        let flow = self.nodes(nodes);
        let inner = std::mem::replace(&mut self.out, outer);
        flow?;
        self.spend(inner.len())?;
        Ok(Value::Str(Rc::from(inner)))
    }

    /// An expression's truth in `#if`, `&&`, `||` and `!` (`SimpleNode.evaluate`).
    fn cond(&mut self, e: &Expr) -> Result<bool, RenderError> {
        Ok(match e {
            Expr::Ref(r) => {
                let direct = match self.frames.is_empty() {
                    true => peek(&self.vars, r, |v| v.is_some_and(Value::truthy)),
                    false => None,
                };
                match direct {
                    Some(truth) => truth,
                    None => self.reference(r)?.truthy(),
                }
            }
            Expr::Bool(b) => *b,
            Expr::Not(e) => !self.cond(e)?,
            Expr::Binary(BinOp::And, a, b) => self.cond(a)? && self.cond(b)?,
            Expr::Binary(BinOp::Or, a, b) => self.cond(a)? || self.cond(b)?,
            Expr::Binary(
                op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
                a,
                b,
            ) => self.binary(*op, a, b)?.truthy(),
            _ => false,
        })
    }

    pub(super) fn expr(&mut self, e: &Expr) -> Result<Value, RenderError> {
        Ok(match e {
            Expr::Int(i) => Value::int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Str(s) => Value::str(s),
            Expr::Interpolated(nodes) => self.interpolate(nodes)?,
            Expr::Ref(r) => self.reference(r)?,
            Expr::List(items) => {
                let items = items
                    .iter()
                    .map(|i| self.expr(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Value::list(items)
            }
            Expr::Range(a, b) => self.range(a, b)?,
            Expr::Map(entries) => {
                let mut out: Vec<(Rc<str>, Value)> = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let k = self.expr(k)?.to_rc_str();
                    let v = self.expr(v)?;
                    match out.iter_mut().find(|(key, _)| *key == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Value::map(out)
            }
            Expr::Not(_) | Expr::Binary(BinOp::And | BinOp::Or, ..) => Value::Bool(self.cond(e)?),
            Expr::Binary(op, a, b) => self.binary(*op, a, b)?,
        })
    }

    fn range(&mut self, a: &Expr, b: &Expr) -> Result<Value, RenderError> {
        let (Some(a), Some(b)) = (int_of(&self.expr(a)?), int_of(&self.expr(b)?)) else {
            return Ok(Value::Null);
        };
        let len = a.abs_diff(b).saturating_add(1);
        if len > self.iterations as u128 {
            return Err(RenderError::Budget("loop iterations"));
        }
        let items = if a <= b {
            (a..=b).map(Value::int).collect()
        } else {
            (b..=a).rev().map(Value::int).collect()
        };
        Ok(Value::list(items))
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr) -> Result<Value, RenderError> {
        let l = self.expr(a)?;
        let r = self.expr(b)?;
        Ok(match op {
            BinOp::Eq => Value::Bool(equals(&l, &r)),
            BinOp::Ne => Value::Bool(!equals(&l, &r)),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (Some(x), Some(y)) = (l.number(), r.number()) else {
                    return Ok(Value::Bool(false));
                };
                let ord = compare(x, y);
                Value::Bool(match op {
                    BinOp::Lt => ord.is_lt(),
                    BinOp::Le => ord.is_le(),
                    BinOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            _ => match (l.number(), r.number()) {
                (Some(x), Some(y)) => arithmetic(op, x, y),
                _ if op == BinOp::Add && (is_str(&l) || is_str(&r)) => {
                    // A null side is written as its reference (corpus 522: `"x" + $nothing`).
                    let mut s = self.operand_text(a, &l);
                    s.push_str(&self.operand_text(b, &r));
                    self.spend(s.len())?;
                    Value::Str(Rc::from(s))
                }
                _ => Value::Null,
            },
        })
    }

    fn operand_text(&self, e: &Expr, v: &Value) -> String {
        match (v, e) {
            (Value::Null, Expr::Ref(r)) => self.null_text(r).to_string(),
            _ => v.to_java_string(),
        }
    }
}

/// Looks up a reference made of a variable and properties (`$i`, `$i.name`,
/// `$foreach.hasNext`) by borrowing, and hands `f` what it names (`None` for `null`).
/// `None` when the reference needs the general path: a name that is not a variable (API
/// Gateway's objects, undefined names), a method call or index, `.class`, or an object that
/// is not a map. Only outside macros, where no parameter can shadow a variable.
fn peek<R>(
    vars: &[(Rc<str>, Value)],
    r: &Reference,
    f: impl FnOnce(Option<&Value>) -> R,
) -> Option<R> {
    let (_, root) = vars.iter().find(|(k, _)| same(k, &r.root))?;
    walk(root, &r.steps, f)
}

fn walk<R>(v: &Value, steps: &[Step], f: impl FnOnce(Option<&Value>) -> R) -> Option<R> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(f((!v.is_null()).then_some(v)));
    };
    let Step::Prop(name) = step else { return None };
    if &**name == "class" {
        return None;
    }
    match v {
        Value::Map(m) => {
            let entries = m.entries.borrow();
            match entries.iter().find(|(k, _)| same(k, name)) {
                Some((_, x)) => walk(x, rest, f),
                // A missing key is `null`, and so is every step after it.
                None => Some(f(None)),
            }
        }
        Value::Host(Host::Loop(l)) if rest.is_empty() => {
            let v = methods::loop_property(l, name);
            Some(f((!v.is_null()).then_some(&v)))
        }
        _ => None,
    }
}

fn is_str(v: &Value) -> bool {
    matches!(v, Value::Str(_))
}

/// An integer operand (`[a..b]` bounds, list indexes).
pub(super) fn int_of(v: &Value) -> Option<i128> {
    match v {
        Value::Int(i) => Some(i.get()),
        _ => None,
    }
}

fn compare(x: Num, y: Num) -> std::cmp::Ordering {
    match (x, y) {
        (Num::Int(a), Num::Int(b)) => a.cmp(&b),
        _ => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Less),
    }
}

/// Velocity 1.7's `==` (`ASTEQNode`).
pub(super) fn equals(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => {
            if let (Some(x), Some(y)) = (l.number(), r.number()) {
                return compare(x, y).is_eq();
            }
            match (l, r) {
                (Value::Str(a), Value::Str(b)) => a == b,
                (Value::Bool(a), Value::Bool(b)) => a == b,
                _ => l.to_java_string() == r.to_java_string(),
            }
        }
    }
}

/// `MathUtils`: integer arithmetic widening on overflow (past 128 bits to a double, where
/// Java's `BigInteger` would go on), doubles when either side is one, `null` for a zero
/// divisor.
fn arithmetic(op: BinOp, x: Num, y: Num) -> Value {
    if let (Num::Int(a), Num::Int(b)) = (x, y) {
        let r = match op {
            BinOp::Add => a.checked_add(b),
            BinOp::Sub => a.checked_sub(b),
            BinOp::Mul => a.checked_mul(b),
            BinOp::Div if b == 0 => return Value::Null,
            BinOp::Div => a.checked_div(b),
            BinOp::Rem if b == 0 => return Value::Null,
            BinOp::Rem => a.checked_rem(b),
            _ => None,
        };
        if let Some(r) = r {
            return Value::int(r);
        }
    }
    let (a, b) = (x.as_f64(), y.as_f64());
    Value::Float(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div if b == 0.0 => return Value::Null,
        BinOp::Div => a / b,
        BinOp::Rem if b == 0.0 => return Value::Null,
        _ => a % b,
    })
}
