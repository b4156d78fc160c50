//! Control plane of CORS (`crate::cors`): an API's `[cors]` table, checked, and the `OPTIONS`
//! preflight methods it generates in each deployment, as the console's "Enable CORS" adds
//! them (a `MOCK` answering 200 with the `Access-Control-Allow-*` headers).

use serde::Deserialize;
use toml::Spanned;

use super::error::Sink;
use super::load::Source;
use super::model::ApiFile;
use super::validate::{ValidIntegration, ValidMethod};
use crate::cors::{Cors, DEFAULT_ALLOW_HEADERS};
use crate::router::HttpMethod;
use crate::snapshot::MockIntegration;

/// `[cors]` of an API file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsModel {
    /// Allowed origins (default `["*"]`).
    pub allow_origins: Option<Vec<Spanned<String>>>,
    /// `Access-Control-Allow-Headers` of preflights (default the console's).
    pub allow_headers: Option<Vec<Spanned<String>>>,
    /// `Access-Control-Allow-Methods` of preflights (default: each resource's methods and
    /// `OPTIONS`).
    pub allow_methods: Option<Vec<Spanned<String>>>,
    /// `Access-Control-Expose-Headers` of responses.
    pub expose_headers: Option<Vec<Spanned<String>>>,
    /// `Access-Control-Max-Age` of preflights, seconds.
    pub max_age: Option<Spanned<i64>>,
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: Option<bool>,
    /// Resource paths CORS is enabled on (default: every resource).
    pub resources: Option<Vec<Spanned<String>>>,
}

/// The checked `[cors]` table.
#[derive(Debug, Clone)]
pub struct ValidCors {
    /// What responses carry.
    pub cors: Cors,
    allow_headers: String,
    allow_methods: Option<String>,
    max_age: Option<i64>,
    resources: Option<Vec<String>>,
    line: Option<usize>,
}

/// Checks the API's `[cors]`; `None` when absent or reported.
pub(super) fn check(src: &Source<ApiFile>, sink: &mut Sink) -> Option<ValidCors> {
    let model = src.model.cors.as_ref()?;
    let before = sink.len();
    let list = |v: &Option<Vec<Spanned<String>>>| {
        v.as_ref()
            .map(|l| l.iter().map(|s| s.get_ref().clone()).collect::<Vec<_>>())
    };
    let origins = list(&model.allow_origins).unwrap_or_else(|| vec!["*".into()]);
    let line = src.key_line("cors");
    for o in model.allow_origins.iter().flatten() {
        let text = o.get_ref();
        let ok = text == "*"
            || (text.contains("://") && !text.ends_with('/') && !text.contains(['*', ' ', ',']));
        if !ok {
            let message = format!("`{text}` is not an origin: use `*` or `scheme://host[:port]`");
            sink.at(&src.path, src.line(o), "cors.allow_origins", message);
        }
    }
    let credentials = model.allow_credentials.unwrap_or(false);
    if credentials && origins.iter().any(|o| o == "*") {
        let message = "allow_credentials needs explicit allow_origins: browsers refuse credentials with `Access-Control-Allow-Origin: *`";
        sink.at(&src.path, line, "cors.allow_credentials", message);
    }
    if origins.iter().any(|o| o == "*") && origins.len() > 1 {
        sink.at(
            &src.path,
            line,
            "cors.allow_origins",
            "`*` allows every origin: list it alone",
        );
    }
    let max_age = match &model.max_age {
        Some(m) if !(0..=86_400).contains(m.get_ref()) => {
            let message = format!("{} is not 0..86400 seconds", m.get_ref());
            sink.at(&src.path, src.line(m), "cors.max_age", message);
            None
        }
        m => m.as_ref().map(|m| *m.get_ref()),
    };
    let join = |v: Option<Vec<String>>| v.map(|l| l.join(","));
    (sink.len() == before).then(|| ValidCors {
        cors: Cors {
            allow_origins: origins.into_iter().map(Into::into).collect(),
            allow_credentials: credentials,
            expose_headers: join(list(&model.expose_headers)).map(Into::into),
        },
        allow_headers: join(list(&model.allow_headers))
            .unwrap_or_else(|| DEFAULT_ALLOW_HEADERS.into()),
        allow_methods: join(list(&model.allow_methods)),
        max_age,
        resources: list(&model.resources),
        line,
    })
}

impl ValidCors {
    fn covers(&self, resource: &str) -> bool {
        self.resources
            .as_ref()
            .is_none_or(|r| r.iter().any(|p| p == resource))
    }

    /// Marks the deployment's CORS methods and adds the preflight `OPTIONS` of each CORS
    /// resource that has none.
    pub(super) fn apply(&self, deployment_field: &str, methods: &mut Vec<ValidMethod>) {
        let mut resources: Vec<String> = Vec::new();
        for m in methods.iter_mut() {
            if self.covers(&m.resource_path) {
                m.cors = true;
                if !resources.contains(&m.resource_path) {
                    resources.push(m.resource_path.clone());
                }
            }
        }
        for resource in resources {
            let on: Vec<&ValidMethod> = methods
                .iter()
                .filter(|m| m.resource_path == resource)
                .collect();
            if on.iter().any(|m| m.method == HttpMethod::Options) {
                continue;
            }
            let allow_methods = self.allow_methods.clone().unwrap_or_else(|| {
                let mut names: Vec<&str> = on.iter().map(|m| m.method_name.as_str()).collect();
                if names.contains(&"ANY") {
                    names = vec!["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"];
                }
                names.push("OPTIONS");
                names.sort_unstable();
                names.dedup();
                names.join(",")
            });
            let mut headers: Vec<(Box<str>, Box<str>)> = vec![
                ("content-type".into(), "application/json".into()),
                (
                    "access-control-allow-headers".into(),
                    self.allow_headers.as_str().into(),
                ),
                ("access-control-allow-methods".into(), allow_methods.into()),
            ];
            if let Some(age) = self.max_age {
                headers.push(("access-control-max-age".into(), age.to_string().into()));
            }
            let preflight = ValidMethod {
                field: format!("{deployment_field}.cors"),
                line: self.line,
                method: HttpMethod::Options,
                method_name: "OPTIONS".into(),
                resource_path: resource.clone(),
                integration: ValidIntegration::Mock(MockIntegration {
                    status: 200,
                    headers,
                    body: Box::default(),
                }),
                api_key_required: false,
                cache_key: Box::default(),
                authorization: Default::default(),
                authorization_scopes: Box::default(),
                validation: None,
                cors: true,
            };
            methods.push(preflight);
        }
    }
}
