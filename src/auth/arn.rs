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
    push_normalised(out, path);
}

/// The path as the resource it reaches: empty and `.` segments dropped, `..` taking the
/// previous one away (also written `%2e`), so a policy on `GET/admin` covers `/admin/`,
/// `//admin` and `/pets/../admin` alike, whatever a backend later makes of them (RFC 3986
/// section 5.2.4's dot-segment removal).
fn push_normalised(out: &mut String, path: &str) {
    // One pass over the bytes: a `/` followed by `/` or `.`, or a `%2` (a `%2e` dot), needs
    // the segment walk below; so does a trailing `/` past the root.
    let b = path.as_bytes();
    let odd = b
        .windows(2)
        .any(|w| matches!(w, [b'/', b'/' | b'.'] | [b'%', b'2']));
    let plain = !odd && (b.len() <= 1 || b[b.len() - 1] != b'/');
    if plain {
        out.push_str(path.strip_prefix('/').unwrap_or(path));
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match dots(seg) {
            0 if seg.is_empty() => {}
            1 => {}
            2 => {
                segments.pop();
            }
            _ => segments.push(seg),
        }
    }
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(seg);
    }
}

/// 1 for a `.` segment, 2 for `..` (either written as `%2e`, any case), else 0.
fn dots(seg: &str) -> u8 {
    let mut n = 0u8;
    let mut rest = seg.as_bytes();
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3
            && rest[0] == b'%'
            && rest[1] == b'2'
            && rest[2].eq_ignore_ascii_case(&b'e')
        {
            rest = &rest[3..];
        } else {
            return 0;
        }
        n += 1;
        if n > 2 {
            return 0;
        }
    }
    n
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
    fn paths_are_normalised_so_policies_cannot_be_walked_around() {
        let arn = |path: &str| {
            let mut out = String::new();
            method_arn(&mut out, "r", "1", "a", "s", "GET", path);
            out
        };
        assert_eq!(arn("/admin/"), "arn:aws:execute-api:r:1:a/s/GET/admin");
        assert_eq!(arn("//admin"), "arn:aws:execute-api:r:1:a/s/GET/admin");
        assert_eq!(
            arn("/pets/../admin"),
            "arn:aws:execute-api:r:1:a/s/GET/admin"
        );
        assert_eq!(
            arn("/pets/%2E%2e/admin"),
            "arn:aws:execute-api:r:1:a/s/GET/admin"
        );
        assert_eq!(arn("/pets/./1"), "arn:aws:execute-api:r:1:a/s/GET/pets/1");
        assert_eq!(arn("/../.."), "arn:aws:execute-api:r:1:a/s/GET/");
        assert_eq!(arn("/a/.../b"), "arn:aws:execute-api:r:1:a/s/GET/a/.../b");
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
