//! The parts of an API file that make it a WebSocket API: `protocol_type = "WEBSOCKET"`,
//! its `route_selection_expression`, and deployments of `routes` instead of `methods`
//! (AWS's `apigatewayv2` shapes: `ProtocolType`, `RouteSelectionExpression`, `RouteKey`,
//! `RouteResponseSelectionExpression`).

use toml::Spanned;

use super::error::Sink;
use super::load::Source;
use super::model::{ApiFile, DeploymentModel, RouteModel};
use crate::ws::api::RouteSelection;

/// Whether the file is a WebSocket API (problems with the value are reported by
/// [`protocol`]).
pub fn is_websocket(src: &Source<ApiFile>) -> bool {
    src.model
        .protocol_type
        .as_ref()
        .is_some_and(|p| p.get_ref() == "WEBSOCKET")
}

/// `protocol_type` and `route_selection_expression`: `Some(selection)` for a valid
/// WebSocket API, `None` for a REST API (or a WebSocket API with errors, reported).
pub fn protocol(src: &Source<ApiFile>, sink: &mut Sink) -> Option<RouteSelection> {
    let model = &src.model;
    let kind = model.protocol_type.as_ref();
    match kind.map(|k| k.get_ref().as_str()) {
        None | Some("REST") => {
            if let Some(e) = &model.route_selection_expression {
                let message = "route_selection_expression belongs to WebSocket APIs (protocol_type = \"WEBSOCKET\")";
                sink.at(
                    &src.path,
                    src.line(e),
                    "route_selection_expression",
                    message,
                );
            }
            None
        }
        Some("WEBSOCKET") => {
            let Some(expression) = &model.route_selection_expression else {
                let line = kind.and_then(|k| src.line(k));
                let message = "a WebSocket API needs `route_selection_expression` (e.g. \"$request.body.action\")";
                sink.at(&src.path, line, "route_selection_expression", message);
                return None;
            };
            match RouteSelection::parse(expression.get_ref()) {
                Ok(selection) => Some(selection),
                Err(message) => {
                    sink.at(
                        &src.path,
                        src.line(expression),
                        "route_selection_expression",
                        message,
                    );
                    None
                }
            }
        }
        Some(other) => {
            let message =
                format!("`{other}` is not a protocol type: use REST (default) or WEBSOCKET");
            let at = kind.and_then(|k| src.line(k));
            sink.at(&src.path, at, "protocol_type", message);
            None
        }
    }
}

/// A REST deployment has `methods` only, a WebSocket one `routes` only.
pub fn check_kind(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    field: &str,
    model: &DeploymentModel,
    websocket: bool,
) {
    let (wrong, name, message) = if websocket {
        let first = model.methods.iter().next().map(|(k, _)| k);
        (
            first,
            "methods",
            "a WebSocket API has `routes`, not `methods`",
        )
    } else {
        let first = model.routes.iter().next().map(|(k, _)| k);
        (first, "routes", "`routes` belong to WebSocket APIs: set protocol_type = \"WEBSOCKET\" (REST APIs have `methods`)")
    };
    if let Some(key) = wrong {
        sink.at(&src.path, src.line(key), format!("{field}.{name}"), message);
    }
}

/// A route's key and `route_response_selection_expression` (only `$default` exists, as on
/// AWS: "currently only the $default key is supported"); `Some(two_way)` when valid.
pub fn two_way(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    field: &str,
    key: &Spanned<String>,
    model: &RouteModel,
) -> Option<bool> {
    let mut ok = true;
    let k = key.get_ref();
    let known = matches!(k.as_str(), "$connect" | "$disconnect" | "$default");
    if k.is_empty() || (k.starts_with('$') && !known) || k.len() > 128 {
        let message = format!(
            "`{k}` is not a route key: use $connect, $disconnect, $default or a key of your own (not starting with $)"
        );
        sink.at(&src.path, src.line(key), field, message);
        ok = false;
    }
    let two_way = match &model.route_response_selection_expression {
        None => false,
        Some(e) if e.get_ref() == "$default" => true,
        Some(e) => {
            let message = format!(
                "`{}` is not supported: use \"$default\" (a two-way route)",
                e.get_ref()
            );
            sink.at(
                &src.path,
                src.line(e),
                format!("{field}.route_response_selection_expression"),
                message,
            );
            ok = false;
            false
        }
    };
    ok.then_some(two_way)
}

/// A route's `authorizer`: only on `$connect` (where AWS authorizes WebSocket APIs: "you can
/// only use an authorizer for the $connect route"), and only a `REQUEST` Lambda authorizer
/// (WebSocket APIs have no TOKEN or Cognito authorizers). `Some(index)` when valid.
pub fn authorizer(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    field: &str,
    key: &Spanned<String>,
    model: &RouteModel,
) -> Option<Option<u32>> {
    let Some(name) = &model.authorizer else {
        return Some(None);
    };
    let field = format!("{field}.authorizer");
    if key.get_ref() != "$connect" {
        let message =
            "only the $connect route can have an authorizer (it authorizes the connection)";
        sink.at(&src.path, src.line(name), field, message);
        return None;
    }
    let authorizers = &src.model.authorizers;
    let Some(i) = authorizers
        .iter()
        .position(|(k, _)| k.get_ref() == name.get_ref())
    else {
        let names: Vec<&str> = authorizers
            .iter()
            .map(|(k, _)| k.get_ref().as_str())
            .collect();
        let message = format!(
            "authorizer `{}` does not exist (defined: {})",
            name.get_ref(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
        sink.at(&src.path, src.line(name), field, message);
        return None;
    };
    let kind = authorizers.0[i].1.kind.get_ref();
    if kind != "REQUEST" {
        let message = format!(
            "authorizer `{}` is {kind}: WebSocket APIs take REQUEST authorizers",
            name.get_ref()
        );
        sink.at(&src.path, src.line(name), field, message);
        return None;
    }
    Some(Some(i as u32))
}
