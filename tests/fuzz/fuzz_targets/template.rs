//! The template parser and evaluator on arbitrary input: any template text (and any body for
//! `$input`) must parse or fail with an error, and render or fail with an error, within its
//! budget — never panic, never run away.
//!
//! Input: the first byte says how much of the rest is the template; what follows is the
//! request body its `$input` reads.

#![no_main]

use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use tollgate::template::gateway::Plain;
use tollgate::template::{Bindings, Budget, ContextValue, ParamKind, Template, Value};

/// A request with a body, one parameter of each kind, `$context.stage` and a stage variable.
struct Fuzzed<'a> {
    body: &'a [u8],
}

impl Bindings for Fuzzed<'_> {
    fn body(&self) -> &[u8] {
        self.body
    }
    fn param(&self, _kind: ParamKind, name: &str) -> Option<Rc<str>> {
        (name == "p").then(|| Rc::from("value"))
    }
    fn params(&self, _kind: ParamKind) -> Vec<(Rc<str>, Rc<str>)> {
        vec![(Rc::from("p"), Rc::from("value"))]
    }
    fn context(&self, path: &str) -> ContextValue {
        match path {
            "stage" => ContextValue::Value(Value::str("prod")),
            "identity" | "responseOverride" | "requestOverride" => ContextValue::Group,
            _ => ContextValue::Missing,
        }
    }
    fn set_context(&mut self, _path: &str, _v: &Value) {}
    fn stage_variable(&self, name: &str) -> Option<Rc<str>> {
        (name == "v").then(|| Rc::from("stage-value"))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (template, body) = rest.split_at((split as usize).min(rest.len()));
    let Ok(source) = std::str::from_utf8(template) else {
        return;
    };
    let Ok(t) = Template::parse(source) else {
        return;
    };
    let budget = Budget {
        output_bytes: 1 << 16,
        iterations: 10_000,
        depth: 32,
    };
    let _ = t.render(&mut Fuzzed { body }, budget);
    let _ = t.render_with(&mut Plain, Vec::new(), budget);
});
