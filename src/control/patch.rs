//! `patchOperations`, the body of every `Update*` call: `[{"op": "replace", "path":
//! "/description", "value": "..."}]` (RFC 6902's shape; values are always strings on the
//! wire, as botocore's `PatchOperation` shape has them). Each resource decides which paths it
//! takes; this module parses and words the errors.

use serde::Deserialize;

use super::error::ApiError;

/// One operation.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PatchOp {
    /// `add`, `remove`, `replace`, `move`, `copy`, `test`.
    pub op: String,
    /// The field, `/description`, `/variables/name`, `/*/*/throttling/rateLimit`.
    pub path: String,
    /// The new value (absent for `remove`).
    pub value: Option<String>,
    /// The source of `move` and `copy`.
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchBody {
    #[serde(default)]
    patch_operations: Vec<PatchOp>,
}

/// The operations of an `Update*` body; `input` names the call's input shape in AWS's
/// validation message (`updateRestApiInput`).
pub fn parse(body: &[u8], input: &str) -> Result<Vec<PatchOp>, ApiError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let parsed: PatchBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid patch operations: {e}")))?;
    for (i, op) in parsed.patch_operations.iter().enumerate() {
        if !matches!(
            op.op.as_str(),
            "add" | "remove" | "replace" | "move" | "copy" | "test"
        ) {
            // LocalStack's AWS-recorded `test_update_rest_api_operation_add_remove` family.
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{}' at '{input}.patchOperations.{}.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]",
                op.op,
                i + 1
            )));
        }
    }
    Ok(parsed.patch_operations)
}

impl PatchOp {
    /// The value, required for this op.
    pub fn value(&self) -> Result<&str, ApiError> {
        self.value.as_deref().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid null or empty value in patch operation for path '{}'",
                self.path
            ))
        })
    }

    /// AWS's refusal of a path the resource does not have (wording of LocalStack's
    /// AWS-recorded `test_update_rest_api_invalid_api_id`-style snapshots:
    /// "Invalid patch path  '/x' specified for op 'replace'. Must be one of: [...]").
    pub fn invalid_path(&self, allowed: &[&str]) -> ApiError {
        ApiError::bad_request(format!(
            "Invalid patch path  '{}' specified for op '{}'. Must be one of: [{}]",
            self.path,
            self.op,
            allowed.join(", ")
        ))
    }

    /// The value as a boolean (`"true"` / `"false"`).
    pub fn bool_value(&self) -> Result<bool, ApiError> {
        match self.value()? {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ApiError::bad_request(format!(
                "Invalid boolean value '{other}' for path '{}'",
                self.path
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operations_and_refuses_unknown_ops() {
        let ops = parse(
            br#"{"patchOperations":[{"op":"replace","path":"/name","value":"x"}]}"#,
            "updateRestApiInput",
        )
        .expect("parsed");
        assert_eq!(ops[0].path, "/name");
        assert_eq!(ops[0].value().expect("value"), "x");
        let e = parse(
            br#"{"patchOperations":[{"op":"frob","path":"/name"}]}"#,
            "updateRestApiInput",
        )
        .unwrap_err();
        assert_eq!((e.status, e.kind), (400, "ValidationException"));
        assert!(
            e.message
                .contains("'frob' at 'updateRestApiInput.patchOperations.1.member.op'"),
            "{}",
            e.message
        );
        assert!(parse(b"{", "updateRestApiInput").is_err());
    }
}
