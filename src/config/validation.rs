//! Control plane of request validation: an API's `[models.NAME]` (AWS `Model`: a JSON Schema
//! draft 4 document), its `[request_validators.NAME]` (AWS `RequestValidator`), and each
//! method's `request_validator`, `request_parameters` (required flags) and `request_models`.
//!
//! Every API has AWS's two built-in models, `Empty` and `Error` (CreateRestApi adds them).

use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::Source;
use super::model::{ApiFile, Entries, MethodModel};
use crate::template::ParamKind;
use crate::validate::{Model, RequiredParam, Validation};

/// `[models.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelModel {
    /// The JSON Schema document, as JSON text.
    pub schema: Spanned<String>,
    /// `contentType` (informational: which media type a method uses it for is the method's
    /// `request_models` key).
    pub content_type: Option<Spanned<String>>,
    /// `description`.
    pub description: Option<Spanned<String>>,
}

/// `[request_validators.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorModel {
    /// `validateRequestBody` (default false).
    pub validate_request_body: Option<bool>,
    /// `validateRequestParameters` (default false).
    pub validate_request_parameters: Option<bool>,
}

/// AWS's built-in `Empty` model ("Empty Schema").
const EMPTY: &str = r#"{"$schema": "http://json-schema.org/draft-04/schema#", "title": "Empty Schema", "type": "object"}"#;
/// AWS's built-in `Error` model.
const ERROR: &str = r#"{"$schema": "http://json-schema.org/draft-04/schema#", "title": "Error Schema", "type": "object", "properties": {"message": {"type": "string"}}}"#;

/// An API's compiled models and validators, for its methods' checks.
#[derive(Debug, Default)]
pub(super) struct ApiValidation {
    models: Vec<(String, Arc<Model>)>,
    validators: Vec<(String, bool, bool)>,
}

/// Compiles the API's models and reads its validators.
pub(super) fn check_api(src: &Source<ApiFile>, sink: &mut Sink) -> ApiValidation {
    let mut out = ApiValidation::default();
    for (name, schema) in [("Empty", EMPTY), ("Error", ERROR)] {
        if let Ok(m) = Model::compile(name, schema) {
            out.models.push((name.into(), Arc::new(m)));
        }
    }
    for (name, m) in src.model.models.iter() {
        let field = join_key("models", name.get_ref());
        let valid =
            !name.get_ref().is_empty() && name.get_ref().bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            let message = format!(
                "`{}` is not a model name (AWS: alphanumeric characters only)",
                name.get_ref()
            );
            sink.at(&src.path, src.line(name), field, message);
            continue;
        }
        match Model::compile(name.get_ref(), m.schema.get_ref()) {
            Ok(model) => {
                out.models.retain(|(n, _)| n != name.get_ref());
                out.models.push((name.get_ref().clone(), Arc::new(model)));
            }
            Err(message) => sink.at(
                &src.path,
                src.line(&m.schema),
                format!("{field}.schema"),
                message,
            ),
        }
    }
    for (name, v) in src.model.request_validators.iter() {
        out.validators.push((
            name.get_ref().clone(),
            v.validate_request_body.unwrap_or(false),
            v.validate_request_parameters.unwrap_or(false),
        ));
    }
    out
}

impl ApiValidation {
    /// A method's validation; `Ok(None)` when it validates nothing; `Err(())` when reported.
    pub(super) fn method(
        &self,
        src: &Source<ApiFile>,
        sink: &mut Sink,
        field: &str,
        method: &MethodModel,
    ) -> Result<Option<Validation>, ()> {
        let before = sink.len();
        let mut required = Vec::new();
        for (key, is_required) in method.request_parameters.iter().flat_map(Entries::iter) {
            let f = join_key(&format!("{field}.request_parameters"), key.get_ref());
            match required_param(key.get_ref()) {
                Some(p) if *is_required => required.push(p),
                Some(_) => {}
                None => {
                    let message = format!(
                        "Invalid mapping expression specified: {} (use method.request.header|querystring|path.NAME)",
                        key.get_ref()
                    );
                    sink.at(&src.path, src.line(key), f, message);
                }
            }
        }
        let mut body_models = Vec::new();
        for (media, name) in method.request_models.iter().flat_map(Entries::iter) {
            let f = join_key(&format!("{field}.request_models"), media.get_ref());
            match self.models.iter().find(|(n, _)| n == name.get_ref()) {
                Some((_, m)) => {
                    body_models.push((media.get_ref().to_ascii_lowercase().into(), Arc::clone(m)))
                }
                None => {
                    let message = format!(
                        "Invalid model identifier specified: {} (no [models.{}] in this file)",
                        name.get_ref(),
                        name.get_ref()
                    );
                    sink.at(&src.path, src.line(name), f, message);
                }
            }
        }
        let Some(validator) = &method.request_validator else {
            return if sink.len() == before {
                Ok(None)
            } else {
                Err(())
            };
        };
        let Some((_, body, params)) = self
            .validators
            .iter()
            .find(|(n, ..)| n == validator.get_ref())
        else {
            let message = format!(
                "Invalid Request Validator identifier specified: {} (no [request_validators.{}] in this file)",
                validator.get_ref(),
                validator.get_ref()
            );
            sink.at(
                &src.path,
                src.line(validator),
                format!("{field}.request_validator"),
                message,
            );
            return Err(());
        };
        if sink.len() != before {
            return Err(());
        }
        let validation = Validation {
            required: if *params { required } else { Vec::new() },
            body_models: if *body { body_models } else { Vec::new() },
        };
        let empty = validation.required.is_empty() && validation.body_models.is_empty();
        Ok((!empty).then_some(validation))
    }
}

/// `method.request.{header|querystring|path}.NAME`.
fn required_param(expr: &str) -> Option<RequiredParam> {
    let rest = expr.strip_prefix("method.request.")?;
    let (part, name) = rest.split_once('.')?;
    let kind = ParamKind::parse(part)?;
    (!name.is_empty()).then(|| RequiredParam {
        kind,
        name: name.into(),
    })
}
