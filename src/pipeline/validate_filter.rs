//! Phase 5: request validation (the method's `RequestValidator`).
//!
//! Required parameters are checked here, from the head, for every integration. The body is
//! checked against its model where it is whole: the buffering integrations call [`body`]
//! once they have read it, and `HTTP_PROXY` reads a validated body whole before it connects
//! (`pipeline::proxy`). A failure answers with AWS's 400 and records
//! `$context.error.validationErrorString`.

use crate::gateway_response::GatewayResponse;
use crate::http::RequestHead;
use crate::pipeline::context::RequestCtx;
use crate::validate::{Model, Validation};

/// The required parameters: 400 `{"message":"Missing required request parameters: [a, b]"}`
/// when any is absent.
pub fn parameters(
    validation: Option<&Validation>,
    head: &RequestHead,
    base: &[u8],
    ctx: &mut RequestCtx,
) -> Result<(), GatewayResponse> {
    let Some(v) = validation else {
        return Ok(());
    };
    let missing = v.missing_parameters(head, base);
    if missing.is_empty() {
        return Ok(());
    }
    let message = format!(
        "Missing required request parameters: [{}]",
        missing.join(", ")
    );
    ctx.validation_error = Some(message.as_str().into());
    ctx.error_message = Some(message.into());
    Err(GatewayResponse::BadRequestParameters)
}

/// The model that validates this request's body, if any.
pub fn model<'v>(
    validation: Option<&'v Validation>,
    head: &RequestHead,
    base: &[u8],
) -> Option<&'v Model> {
    validation?.model_for(head.header(base, "content-type"))
}

/// The body against its model: 400 `{"message":"Invalid request body"}` when it fails.
pub fn body(
    model: Option<&Model>,
    body: &[u8],
    ctx: &mut RequestCtx,
) -> Result<(), GatewayResponse> {
    let Some(model) = model else {
        return Ok(());
    };
    match model.check(body) {
        Ok(()) => Ok(()),
        Err(found) => {
            tracing::debug!(model = %model.name, "request body refused: {found}");
            ctx.validation_error = Some(found.into());
            Err(GatewayResponse::BadRequestBody)
        }
    }
}
