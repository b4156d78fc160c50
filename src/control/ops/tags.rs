//! `TagResource` (`PUT /tags/{arn}`), `UntagResource` (`DELETE /tags/{arn}?tagKeys=`) and
//! `GetTags` (`GET /tags/{arn}`) for the resources that keep tags here: REST APIs
//! (`arn:aws:apigateway:{region}::/restapis/{id}`) and stages
//! (`.../restapis/{id}/stages/{name}`). Tags are kept and answered; nothing else reads them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{api, api_mut, input, percent_decode, Apis, Ctx, Reply};
use crate::control::error::ApiError;

/// What an ARN names.
enum Tagged<'a> {
    Api(&'a str),
    Stage(&'a str, &'a str),
}

/// The API (and stage) an ARN of this node's region names.
fn parse_arn<'a>(arn: &'a str, region: &str) -> Result<Tagged<'a>, ApiError> {
    let invalid = || ApiError::bad_request(format!("Invalid resource ARN specified: {arn}"));
    let prefix = format!("arn:aws:apigateway:{region}::/");
    let path = arn.strip_prefix(prefix.as_str()).ok_or_else(invalid)?;
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["restapis", id] if !id.is_empty() => Ok(Tagged::Api(id)),
        ["restapis", id, "stages", stage] if !id.is_empty() && !stage.is_empty() => {
            Ok(Tagged::Stage(id, stage))
        }
        _ => Err(invalid()),
    }
}

/// The tags map an ARN names.
fn tags_mut<'a>(
    apis: &'a mut Apis,
    ctx: &Ctx,
    arn: &str,
    region: &str,
) -> Result<&'a mut BTreeMap<String, String>, ApiError> {
    match parse_arn(arn, region)? {
        Tagged::Api(id) => Ok(&mut api_mut(apis, ctx, id)?.api.tags),
        Tagged::Stage(id, stage) => {
            let state = api_mut(apis, ctx, id)?;
            let s = state
                .stages
                .get_mut(stage)
                .ok_or_else(super::stages::invalid_stage)?;
            Ok(&mut s.tags)
        }
    }
}

/// AWS's tag rules (botocore's `TagResourceRequest` docs): keys up to 128 characters, not
/// starting with `aws:`; values up to 256.
fn check_tag(key: &str, value: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 128 || key.starts_with("aws:") || value.len() > 256 {
        return Err(ApiError::bad_request(format!(
            "Invalid tag: keys are 1 to 128 characters not starting with aws:, values up to 256: {key}"
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct TagInput {
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// `PUT /tags/{arn}` → 204.
pub fn tag(
    apis: &mut Apis,
    ctx: &Ctx,
    arn: &str,
    region: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let input: TagInput = input(body)?;
    for (k, v) in &input.tags {
        check_tag(k, v)?;
    }
    tags_mut(apis, ctx, arn, region)?.extend(input.tags);
    Ok(Reply::empty(204))
}

/// `DELETE /tags/{arn}?tagKeys=a&tagKeys=b` → 204.
pub fn untag(
    apis: &mut Apis,
    ctx: &Ctx,
    arn: &str,
    region: &str,
    query: &str,
) -> Result<Reply, ApiError> {
    let keys: Vec<String> = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("tagKeys="))
        .map(percent_decode)
        .collect();
    let tags = tags_mut(apis, ctx, arn, region)?;
    for k in keys {
        tags.remove(&k);
    }
    Ok(Reply::empty(204))
}

/// `GET /tags/{arn}` → `{"tags": {...}}`.
pub fn get(apis: &Apis, ctx: &Ctx, arn: &str, region: &str) -> Result<Reply, ApiError> {
    let tags = match parse_arn(arn, region)? {
        Tagged::Api(id) => &api(apis, ctx, id)?.api.tags,
        Tagged::Stage(id, stage) => {
            let state = api(apis, ctx, id)?;
            let s = state
                .stages
                .get(stage)
                .ok_or_else(super::stages::invalid_stage)?;
            &s.tags
        }
    };
    Ok(Reply::value(200, serde_json::json!({ "tags": tags })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_apis_and_stages_of_the_region() {
        assert!(matches!(
            parse_arn("arn:aws:apigateway:us-east-1::/restapis/abc", "us-east-1"),
            Ok(Tagged::Api("abc"))
        ));
        assert!(matches!(
            parse_arn(
                "arn:aws:apigateway:us-east-1::/restapis/abc/stages/prod",
                "us-east-1"
            ),
            Ok(Tagged::Stage("abc", "prod"))
        ));
        for bad in [
            "arn:aws:apigateway:eu-west-1::/restapis/abc",
            "arn:aws:apigateway:us-east-1::/apikeys/k",
            "x",
        ] {
            assert_eq!(
                parse_arn(bad, "us-east-1").err().map(|e| e.status),
                Some(400),
                "{bad}"
            );
        }
        assert!(check_tag("aws:x", "v").is_err());
        assert!(check_tag("team", "payments").is_ok());
    }
}
