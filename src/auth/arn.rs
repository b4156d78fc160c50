//! The ARNs authorization is decided on.
//!
//! A request's method ARN is
//! `arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{path}` (developer guide,
//! "Control access for invoking an API": the resource format of `execute-api:Invoke`), the
//! path as requested within the stage without its leading `/` (`GET /pets/1` →
//! `.../prod/GET/pets/1`, the root → `.../prod/GET/`). It is what a Lambda authorizer receives
//! as `methodArn` and what resource and authorizer policies are matched against.

use super::policy::ResourceForm;

/// Writes the method ARN of a request into `out` (cleared first).
pub fn method_arn(
    out: &mut String,
    region: &str,
    account: &str,
    api: &str,
    stage: &str,
    method: &str,
    path: &str,
) {
    out.clear();
    out.push_str("arn:aws:execute-api:");
    out.push_str(region);
    out.push(':');
    out.push_str(account);
    out.push(':');
    out.push_str(api);
    out.push('/');
    out.push_str(stage);
    out.push('/');
    out.push_str(method);
    out.push('/');
    out.push_str(path.strip_prefix('/').unwrap_or(path));
}

/// How a REST API's resource policy names its resources: `execute-api:/{stage}/{METHOD}/{path}`
/// is shorthand for the API's own ARN prefix (developer guide, "API Gateway resource policy
/// examples": API Gateway replaces `execute-api:/` with
/// `arn:aws:execute-api:{region}:{account}:{api-id}/` when the policy is saved); full ARNs and
/// `*` are taken as written.
pub struct ApiResources<'a> {
    /// Region of the API.
    pub region: &'a str,
    /// Account that owns it.
    pub account: &'a str,
    /// Its id.
    pub api: &'a str,
}

impl ResourceForm for ApiResources<'_> {
    fn expand(&self, resource: &str) -> String {
        match resource.strip_prefix("execute-api:/") {
            Some(rest) => format!(
                "arn:aws:execute-api:{}:{}:{}/{rest}",
                self.region, self.account, self.api
            ),
            None => resource.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_arns_drop_the_leading_slash() {
        let mut out = String::from("old");
        method_arn(
            &mut out,
            "us-east-1",
            "123456789012",
            "abc",
            "prod",
            "GET",
            "/pets/1",
        );
        assert_eq!(
            out,
            "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/pets/1"
        );
        method_arn(&mut out, "eu-west-1", "1", "abc", "dev", "POST", "/");
        assert_eq!(out, "arn:aws:execute-api:eu-west-1:1:abc/dev/POST/");
    }

    #[test]
    fn shorthand_resources_expand_to_the_api() {
        let form = ApiResources {
            region: "us-east-1",
            account: "123456789012",
            api: "abc",
        };
        assert_eq!(
            form.expand("execute-api:/prod/GET/*"),
            "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/*"
        );
        assert_eq!(form.expand("*"), "*");
        assert_eq!(
            form.expand("arn:aws:execute-api:*:*:*"),
            "arn:aws:execute-api:*:*:*"
        );
    }
}
