//! Mapping templates: Apache Velocity 1.7 with API Gateway's variables.
//!
//! No Rust crate runs Velocity, so this module is one: [`parse`] (a scanner and
//! recursive-descent parser, run by the control plane when a configuration is compiled; its
//! errors name the template's line and column) and [`eval`] (run on the shards, within a
//! [`Budget`], so a runaway template fails its own request with a 500 and never stalls a
//! shard). [`value`] holds the Java-shaped values, [`methods`] the Java methods templates call,
//! [`regex`] Java's regexes, [`json`] and [`jsonpath`] the JSON side of `$input`, and
//! [`gateway`] API Gateway's `$input`, `$util`, `$context` and `$stageVariables`.
//!
//! Fidelity is checked by `tests/template.rs`, which renders the corpus in
//! `tests/template/corpus/` here and in real Velocity 1.7 and compares the outputs.
//!
//! Where API Gateway differs from stock Velocity, API Gateway wins; those rules are written in
//! [`gateway`] with their sources.

pub mod ast;
pub mod eval;
pub mod gateway;
pub mod json;
pub mod jsonpath;
pub mod methods;
pub mod parse;
pub mod regex;
pub mod value;

use std::rc::Rc;

pub use gateway::{Bindings, ContextValue, ParamKind};
pub use parse::ParseError;
pub use value::Value;

/// What one render may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Largest output, bytes.
    pub output_bytes: usize,
    /// `#foreach` iterations (and range elements) over the whole render.
    pub iterations: u64,
    /// Deepest nesting of blocks, `#define` renders and macro calls.
    pub depth: usize,
}

impl Default for Budget {
    /// 10 MB of output (API Gateway's payload limit), a million iterations, depth 64.
    fn default() -> Self {
        Budget {
            output_bytes: 10 << 20,
            iterations: 1_000_000,
            depth: 64,
        }
    }
}

/// Why a render failed: the request gets a 500, as API Gateway answers a template that throws.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A budget ran out.
    #[error("the template went over its {0} budget")]
    Budget(&'static str),
    /// A Java method threw (`substring` out of range, a bad regex...).
    #[error("a method failed: {0}")]
    Method(String),
    /// The body is malformed JSON where a template reads it as JSON: a 400, with AWS's
    /// `Could not process payload...` message.
    #[error("{0}")]
    Payload(String),
    /// `#stop` inside a `#define` block: internal, ends the render normally.
    #[error("#stop")]
    Stopped,
}

/// A parsed template, shared by every shard through the snapshot.
#[derive(Debug, Clone)]
pub struct Template {
    parsed: parse::Parsed,
}

impl Template {
    /// Parses `src`; the error names line and column.
    pub fn parse(src: &str) -> Result<Template, ParseError> {
        Ok(Template {
            parsed: parse::parse(src)?,
        })
    }

    /// Renders with API Gateway's variables from `env`.
    pub fn render(&self, env: &mut dyn Bindings, budget: Budget) -> Result<String, RenderError> {
        self.render_with(env, Vec::new(), budget)
    }

    /// Renders with variables already set (the differential tests' fixed context).
    pub fn render_with(
        &self,
        env: &mut dyn Bindings,
        vars: Vec<(Rc<str>, Value)>,
        budget: Budget,
    ) -> Result<String, RenderError> {
        eval::Eval::new(&self.parsed, env, vars, budget).run()
    }
}
