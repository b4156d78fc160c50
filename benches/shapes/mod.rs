//! What the template benches share: the request the shapes of `loadtest/templates/` are
//! rendered over, and reading those files.

use std::rc::Rc;

use tollgate::template::{Bindings, ContextValue, ParamKind, Value};

/// A request as the shapes see it: a body, and `$context.stage`.
pub struct Request {
    pub body: Vec<u8>,
}

impl Bindings for Request {
    fn body(&self) -> &[u8] {
        &self.body
    }
    fn param(&self, _kind: ParamKind, _name: &str) -> Option<Rc<str>> {
        None
    }
    fn context(&self, path: &str) -> ContextValue {
        match path {
            "stage" => ContextValue::Value(Value::str("prod")),
            _ => ContextValue::Missing,
        }
    }
}

/// A file of `loadtest/templates/`.
pub fn read(name: &str) -> Result<String, String> {
    let path = format!("{}/loadtest/templates/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
}
