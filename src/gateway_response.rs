//! Responses the gateway itself produces, with Amazon API Gateway's status codes, bodies and
//! `x-amzn-ErrorType` values, so clients written against AWS handle them unchanged.

use crate::http::HttpError;
use crate::mapping::Source;

/// A response the gateway generates instead of an integration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayResponse {
    /// No stage, resource or method matched (AWS answers 403 here, not 404).
    MissingAuthenticationToken,
    /// Body over the payload limit.
    RequestTooLong,
    /// The integration did not answer in time.
    IntegrationTimeout,
    /// The integration could not be reached or answered with something unusable.
    IntegrationFailure,
    /// A malformed request (framing, syntax): answered and the connection closed.
    BadRequest,
    /// Request line plus headers over the header limit.
    HeadersTooLarge,
    /// A transfer coding the gateway does not implement.
    NotImplemented,
    /// An HTTP version other than 1.0 and 1.1.
    VersionNotSupported,
    /// Missing, unknown or disabled API key, or a key not in a plan of the stage.
    Forbidden,
    /// Over a throttle (any level).
    TooManyRequests,
    /// Over a usage plan's quota.
    LimitExceeded,
    /// The caller is not allowed to do what it asked (AWS `ACCESS_DENIED`), e.g. invalidate
    /// a cache entry with `Cache-Control: max-age=0` under `FAIL_WITH_403`.
    AccessDenied,
    /// The `Host` names a mutual-TLS custom domain the connection's TLS session was not
    /// established (and the client certificate not checked) for.
    MisdirectedRequest,
    /// The gateway itself failed on this request (a bug caught by the per-request panic
    /// guard): AWS's 500 `Internal server error`, of type `DEFAULT_5XX`.
    InternalError,
    /// No identity (a missing identity source, a token failing its validation expression) or
    /// a Lambda authorizer that said `Unauthorized`: 401 `UNAUTHORIZED`.
    Unauthorized,
    /// A token authorizer's token is past its `exp`: 401 `UNAUTHORIZED`, AWS's "The incoming
    /// token has expired".
    TokenExpired,
    /// A Lambda authorizer failed, timed out or answered something that is not an authorizer
    /// result: 500 `AUTHORIZER_CONFIGURATION_ERROR`, whose default message is null.
    AuthorizerConfigurationError,
    /// A Lambda authorizer's policy denies the method (`explicit`: a `Deny` statement applies;
    /// otherwise no statement allows it): 403 `ACCESS_DENIED`.
    AuthorizerDenied {
        /// A `Deny` statement applied.
        explicit: bool,
    },
    /// The API's resource policy denies the request: 403 `ACCESS_DENIED`, with a message
    /// naming the method ARN (built per request into `RequestCtx::error_message`).
    PolicyDenied {
        /// A `Deny` statement applied.
        explicit: bool,
    },
    /// A JWT authorizer's token lacks every scope of the method: 403 `ACCESS_DENIED` with
    /// HTTP APIs' `{"message":"Forbidden"}`.
    ScopeForbidden,
    /// An IAM caller's policies do not allow the method: 403 `ACCESS_DENIED`, the message
    /// naming the caller and the method ARN (`RequestCtx::error_message`).
    IamDenied,
    /// A SigV4 signature that is malformed, wrong, stale, or made with an unknown key: 403
    /// `INVALID_SIGNATURE`, with AWS's message for the case (`RequestCtx::error_message`).
    SignatureRejected(SignatureError),
    /// No request template for the request's media type where the passthrough behaviour
    /// refuses it: 415 `UNSUPPORTED_MEDIA_TYPE` (developer guide, "Method request behavior
    /// for payloads without mapping templates").
    UnsupportedMediaType,
    /// An `HTTP` integration's backend could not be reached or broke the exchange: 504
    /// `INTEGRATION_FAILURE` `{"message": "Network error communicating with endpoint"}` (real
    /// AWS answers, recorded by users: aws-is-how `devops/apigw/2PrivateAPI-Testing.md`).
    NetworkError,
    /// Required request parameters are missing (request validation): 400
    /// `BAD_REQUEST_PARAMETERS`, the message naming them (`RequestCtx::error_message`).
    BadRequestParameters,
    /// A body a mapping template could not read (malformed JSON), or one its model refuses
    /// (request validation): 400 `BAD_REQUEST_BODY`,
    /// the message built per request (`RequestCtx::error_message`: AWS's `Could not process
    /// payload...`).
    BadRequestBody,
    /// A mapping that fails on this request: a template that throws or runs out of its
    /// budget, no integration response for the backend's answer, an override set twice: 500
    /// `API_CONFIGURATION_ERROR` ("Execution failed due to configuration error").
    ConfigurationError,
}

/// The `x-amzn-ErrorType` of a rejected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `IncompleteSignatureException`: missing or malformed parts.
    Incomplete,
    /// `InvalidSignatureException`: a wrong signature or date.
    Invalid,
    /// `UnrecognizedClientException`: an access key the gateway does not know.
    UnknownKey,
}

impl GatewayResponse {
    /// Status code sent.
    pub fn status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken => 403,
            Self::RequestTooLong => 413,
            Self::IntegrationTimeout => 504,
            Self::IntegrationFailure => 502,
            Self::BadRequest => 400,
            Self::HeadersTooLarge => 431,
            Self::NotImplemented => 501,
            Self::VersionNotSupported => 505,
            Self::Forbidden => 403,
            Self::TooManyRequests | Self::LimitExceeded => 429,
            Self::AccessDenied => 403,
            Self::MisdirectedRequest => 421,
            Self::InternalError => 500,
            Self::Unauthorized | Self::TokenExpired => 401,
            Self::AuthorizerConfigurationError => 500,
            Self::AuthorizerDenied { .. } | Self::PolicyDenied { .. } => 403,
            Self::IamDenied | Self::SignatureRejected(_) | Self::ScopeForbidden => 403,
            Self::UnsupportedMediaType => 415,
            Self::NetworkError => 504,
            Self::BadRequestBody | Self::BadRequestParameters => 400,
            Self::ConfigurationError => 500,
        }
    }

    /// JSON body sent, byte for byte what AWS sends (including its inconsistent spacing).
    pub fn body(self) -> &'static [u8] {
        match self {
            Self::MissingAuthenticationToken => br#"{"message":"Missing Authentication Token"}"#,
            Self::RequestTooLong => br#"{"message":"Request Too Long"}"#,
            Self::IntegrationTimeout => br#"{"message": "Endpoint request timed out"}"#,
            Self::IntegrationFailure => br#"{"message": "Internal server error"}"#,
            Self::BadRequest => br#"{"message":"Bad Request"}"#,
            Self::HeadersTooLarge => br#"{"message":"Request Header Fields Too Large"}"#,
            Self::NotImplemented => br#"{"message":"Not Implemented"}"#,
            Self::VersionNotSupported => br#"{"message":"HTTP Version Not Supported"}"#,
            Self::Forbidden => br#"{"message":"Forbidden"}"#,
            Self::TooManyRequests => br#"{"message":"Too Many Requests"}"#,
            Self::LimitExceeded => br#"{"message":"Limit Exceeded"}"#,
            Self::AccessDenied => {
                br#"{"message":"User is not authorized to access this resource"}"#
            }
            Self::MisdirectedRequest => br#"{"message":"Misdirected Request"}"#,
            Self::InternalError => br#"{"message": "Internal server error"}"#,
            Self::Unauthorized => br#"{"message":"Unauthorized"}"#,
            Self::TokenExpired => br#"{"message":"The incoming token has expired"}"#,
            // Reported from real APIs as `{"message": null}` (aws/chalice#670; the "failure
            // modes" write-up quoted in auth::lambda).
            Self::AuthorizerConfigurationError => br#"{"message": null}"#,
            // The capital `M` and the wording are AWS's (recorded 2025-2026; LocalStack's
            // AWS-validated authorizer tests read `Message`).
            Self::AuthorizerDenied { explicit: true } => br#"{"Message":"User is not authorized to access this resource with an explicit deny in an identity-based policy"}"#,
            Self::AuthorizerDenied { explicit: false } => br#"{"Message":"User is not authorized to access this resource because no identity-based policy allows the execute-api:Invoke action"}"#,
            // Built per request with the method ARN (see `policy_denied_message`); this is what
            // is sent when the ARN is unknown.
            Self::PolicyDenied { .. } => br#"{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke"}"#,
            Self::IamDenied => br#"{"Message":"User is not authorized to perform: execute-api:Invoke"}"#,
            Self::ScopeForbidden => br#"{"message":"Forbidden"}"#,
            Self::SignatureRejected(_) => br#"{"message":"Signature rejected"}"#,
            // The default template `{"message":$context.error.messageString}` (LocalStack's
            // gateway_response.py), hence no space.
            Self::UnsupportedMediaType => br#"{"message":"Unsupported Media Type"}"#,
            Self::BadRequestBody => br#"{"message":"Invalid request body"}"#,
            Self::BadRequestParameters => {
                br#"{"message":"Missing required request parameters"}"#
            }
            Self::ConfigurationError => br#"{"message": "Internal server error"}"#,
            Self::NetworkError => br#"{"message": "Network error communicating with endpoint"}"#,
        }
    }

    /// Value of `x-amzn-ErrorType`, which AWS SDKs use to pick an exception class.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::RequestTooLong => "RequestTooLongException",
            Self::IntegrationTimeout | Self::IntegrationFailure | Self::InternalError => {
                "InternalServerErrorException"
            }
            Self::BadRequest | Self::NotImplemented | Self::VersionNotSupported => {
                "BadRequestException"
            }
            Self::HeadersTooLarge => "RequestHeaderFieldsTooLargeException",
            Self::Forbidden => "ForbiddenException",
            Self::TooManyRequests => "TooManyRequestsException",
            Self::LimitExceeded => "LimitExceededException",
            Self::AccessDenied | Self::AuthorizerDenied { .. } | Self::PolicyDenied { .. } => {
                "AccessDeniedException"
            }
            Self::MisdirectedRequest => "MisdirectedRequestException",
            Self::Unauthorized | Self::TokenExpired => "UnauthorizedException",
            Self::IamDenied => "AccessDeniedException",
            Self::ScopeForbidden => "ForbiddenException",
            Self::SignatureRejected(SignatureError::Incomplete) => "IncompleteSignatureException",
            Self::SignatureRejected(SignatureError::Invalid) => "InvalidSignatureException",
            Self::SignatureRejected(SignatureError::UnknownKey) => "UnrecognizedClientException",
            Self::AuthorizerConfigurationError => "AuthorizerConfigurationException",
            Self::UnsupportedMediaType | Self::BadRequestBody | Self::BadRequestParameters => {
                "BadRequestException"
            }
            Self::ConfigurationError | Self::NetworkError => "InternalServerErrorException",
        }
    }

    /// Whether the connection must close after this response because the request stream can
    /// no longer be trusted to be in sync.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            Self::BadRequest
                | Self::HeadersTooLarge
                | Self::NotImplemented
                | Self::VersionNotSupported
        )
    }

    /// AWS's gateway response type, whose per-API override applies; `None` for HTTP protocol
    /// errors (malformed framing, oversized heads, misdirected requests), which API Gateway's
    /// front end answers before any API is involved, so no API can customise them.
    pub fn response_type(self) -> Option<ResponseType> {
        Some(match self {
            Self::MissingAuthenticationToken => ResponseType::MissingAuthenticationToken,
            Self::RequestTooLong => ResponseType::RequestTooLarge,
            Self::IntegrationTimeout => ResponseType::IntegrationTimeout,
            Self::IntegrationFailure => ResponseType::IntegrationFailure,
            Self::Forbidden => ResponseType::InvalidApiKey,
            Self::TooManyRequests => ResponseType::Throttled,
            Self::LimitExceeded => ResponseType::QuotaExceeded,
            Self::AccessDenied | Self::AuthorizerDenied { .. } | Self::PolicyDenied { .. } => {
                ResponseType::AccessDenied
            }
            Self::InternalError => ResponseType::Default5xx,
            Self::Unauthorized | Self::TokenExpired => ResponseType::Unauthorized,
            Self::IamDenied | Self::ScopeForbidden => ResponseType::AccessDenied,
            Self::SignatureRejected(_) => ResponseType::InvalidSignature,
            Self::AuthorizerConfigurationError => ResponseType::AuthorizerConfigurationError,
            Self::UnsupportedMediaType => ResponseType::UnsupportedMediaType,
            Self::BadRequestBody => ResponseType::BadRequestBody,
            Self::BadRequestParameters => ResponseType::BadRequestParameters,
            Self::ConfigurationError => ResponseType::ApiConfigurationError,
            Self::NetworkError => ResponseType::IntegrationFailure,
            Self::BadRequest
            | Self::HeadersTooLarge
            | Self::NotImplemented
            | Self::VersionNotSupported
            | Self::MisdirectedRequest => return None,
        })
    }

    /// The key of the body's message: AWS writes `Message` in IAM-style denials.
    pub fn message_key(self) -> &'static str {
        match self {
            Self::AuthorizerDenied { .. } | Self::PolicyDenied { .. } | Self::IamDenied => {
                "Message"
            }
            _ => "message",
        }
    }

    /// `$context.error.message`: the text of the default body's `message` (or `Message`);
    /// empty when it is null.
    pub fn message(self) -> &'static str {
        let body = std::str::from_utf8(self.body()).unwrap_or("");
        body.strip_prefix(r#"{"message":"#)
            .or_else(|| body.strip_prefix(r#"{"Message":"#))
            .map(|r| r.trim_start())
            .and_then(|r| r.strip_prefix('"'))
            .and_then(|r| r.strip_suffix(r#""}"#))
            .unwrap_or("")
    }

    /// The response for a request the codec rejected.
    pub fn from_http_error(err: HttpError) -> Self {
        match err {
            HttpError::HeadersTooLarge => Self::HeadersTooLarge,
            HttpError::NotImplemented(_) => Self::NotImplemented,
            HttpError::VersionNotSupported => Self::VersionNotSupported,
            HttpError::BadRequest(_) => Self::BadRequest,
            HttpError::BadResponse(_) => Self::IntegrationFailure,
        }
    }
}

/// The message of a resource policy's denial of `resource` (a method ARN), as AWS words it
/// today (recorded 2026-10 and seen in 2025-2026 answers): the account in the ARN is masked
/// to its last four digits (`********9012`), the caller is `anonymous` until IAM identifies
/// it. AWS answers `{"Message": <this>}` with `x-amzn-ErrorType: AccessDeniedException`.
pub fn policy_denied_message(resource: &str, explicit: bool) -> String {
    let tail = if explicit {
        "with an explicit deny in a resource-based policy"
    } else {
        "because no resource-based policy allows the execute-api:Invoke action"
    };
    denied_message("anonymous", resource, tail)
}

/// `User: {caller} is not authorized to perform: execute-api:Invoke on resource: {resource,
/// its account masked} {tail}`: AWS's wording of every IAM-style denial.
pub fn denied_message(caller: &str, resource: &str, tail: &str) -> String {
    let mut parts = resource.splitn(6, ':');
    let head: Vec<&str> = parts.by_ref().take(4).collect();
    let account = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    let masked = format!("********{}", &account[account.len().saturating_sub(4)..]);
    let arn = format!("{}:{masked}:{rest}", head.join(":"));
    format!(
        "User: {caller} is not authorized to perform: execute-api:Invoke on resource: {arn} {tail}"
    )
}

/// AWS's gateway response types (`GatewayResponseType` in the API Gateway reference): the keys
/// of a REST API's `gatewayResponses`, each with a default status (none for the two defaults).
/// Source: "Gateway response types for API Gateway" in the API Gateway developer guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseType {
    AccessDenied,
    ApiConfigurationError,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    BadRequestParameters,
    BadRequestBody,
    Default4xx,
    Default5xx,
    ExpiredToken,
    IntegrationFailure,
    IntegrationTimeout,
    InvalidApiKey,
    InvalidSignature,
    MissingAuthenticationToken,
    QuotaExceeded,
    RequestTooLarge,
    ResourceNotFound,
    Throttled,
    Unauthorized,
    UnsupportedMediaType,
    WafFiltered,
}

impl ResponseType {
    /// Every type, in the order of AWS's table (also the index of [`GatewayResponses`]).
    pub const ALL: [ResponseType; 21] = [
        Self::AccessDenied,
        Self::ApiConfigurationError,
        Self::AuthorizerConfigurationError,
        Self::AuthorizerFailure,
        Self::BadRequestParameters,
        Self::BadRequestBody,
        Self::Default4xx,
        Self::Default5xx,
        Self::ExpiredToken,
        Self::IntegrationFailure,
        Self::IntegrationTimeout,
        Self::InvalidApiKey,
        Self::InvalidSignature,
        Self::MissingAuthenticationToken,
        Self::QuotaExceeded,
        Self::RequestTooLarge,
        Self::ResourceNotFound,
        Self::Throttled,
        Self::Unauthorized,
        Self::UnsupportedMediaType,
        Self::WafFiltered,
    ];

    /// The name AWS uses (`THROTTLED`), in configuration and `$context.error.responseType`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "ACCESS_DENIED",
            Self::ApiConfigurationError => "API_CONFIGURATION_ERROR",
            Self::AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
            Self::AuthorizerFailure => "AUTHORIZER_FAILURE",
            Self::BadRequestParameters => "BAD_REQUEST_PARAMETERS",
            Self::BadRequestBody => "BAD_REQUEST_BODY",
            Self::Default4xx => "DEFAULT_4XX",
            Self::Default5xx => "DEFAULT_5XX",
            Self::ExpiredToken => "EXPIRED_TOKEN",
            Self::IntegrationFailure => "INTEGRATION_FAILURE",
            Self::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::InvalidSignature => "INVALID_SIGNATURE",
            Self::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::RequestTooLarge => "REQUEST_TOO_LARGE",
            Self::ResourceNotFound => "RESOURCE_NOT_FOUND",
            Self::Throttled => "THROTTLED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::WafFiltered => "WAF_FILTERED",
        }
    }

    /// The type named `name` (exact, upper case as AWS spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// AWS's default status of the type; `None` for `DEFAULT_4XX` and `DEFAULT_5XX`, which
    /// only lend their settings to other types.
    pub fn default_status(self) -> Option<u16> {
        Some(match self {
            Self::AccessDenied
            | Self::ExpiredToken
            | Self::InvalidApiKey
            | Self::InvalidSignature
            | Self::MissingAuthenticationToken
            | Self::WafFiltered => 403,
            Self::ApiConfigurationError
            | Self::AuthorizerConfigurationError
            | Self::AuthorizerFailure => 500,
            Self::BadRequestParameters | Self::BadRequestBody => 400,
            Self::IntegrationFailure | Self::IntegrationTimeout => 504,
            Self::QuotaExceeded | Self::Throttled => 429,
            Self::RequestTooLarge => 413,
            Self::ResourceNotFound => 404,
            Self::Unauthorized => 401,
            Self::UnsupportedMediaType => 415,
            Self::Default4xx | Self::Default5xx => return None,
        })
    }

    /// The default type whose override this type inherits: `DEFAULT_5XX` for 5xx types,
    /// `DEFAULT_4XX` for the rest ("If DEFAULT_4XX is customized, all other 4XX responses
    /// that are not customized inherit it", AWS developer guide).
    pub fn class_default(self) -> ResponseType {
        match self.default_status() {
            Some(s) if s >= 500 => Self::Default5xx,
            None if self == Self::Default5xx => Self::Default5xx,
            _ => Self::Default4xx,
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }
}

/// One API's `gatewayResponses` override of one type: any of status, headers and body
/// template; what it leaves out comes from its class default's override, then from AWS's
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseOverride {
    /// `statusCode`.
    pub status: Option<u16>,
    /// `responseParameters` `gatewayresponse.header.*`: static values, names as written.
    pub headers: Vec<(Box<str>, Box<str>)>,
    /// `responseParameters` `gatewayresponse.header.*` from the request
    /// (`method.request.{header|querystring|path}.X`, their `multivalue` forms,
    /// `stageVariables.X`, `context.X`): names as written.
    pub parameters: Vec<(Box<str>, Source)>,
    /// The body template (`responseTemplates`): "simple variable substitution", not VTL
    /// (developer guide, `x-amazon-apigateway-gateway-responses.responseTemplates`): the
    /// `$context.error.*` variables, `$context.requestId`, the other `$context.*` of
    /// [`CONTEXT_NAMES`] and `$stageVariables.*`.
    pub body: Option<Box<str>>,
    /// `Content-Type` of the body (the template's media type; default `application/json`).
    pub content_type: Option<Box<str>>,
}

/// The overrides of one API, by type; empty for an API that customises none (the common case,
/// which then costs nothing per request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayResponses {
    by_type: Vec<Option<ResponseOverride>>,
    /// Every request value some override reads, once each: captured when the request is
    /// routed (an API whose overrides read none captures nothing).
    reads: Vec<Source>,
}

/// The `$context` variables a gateway response can read besides `error.*` and `requestId`:
/// those known once a request is routed (an authorizer's are not, since the response may
/// answer before it runs).
pub const CONTEXT_NAMES: [&str; 12] = [
    "accountId",
    "apiId",
    "domainName",
    "httpMethod",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "protocol",
    "requestTimeEpoch",
    "requestId",
    "resourcePath",
    "stage",
];

/// The `$context.NAME` and `$stageVariables.NAME` references of a gateway response
/// template, as the sources they read (`$context.error.*` and `$context.requestId` are
/// always at hand and not listed). `Err`: an unknown `$context` name.
pub fn template_reads(template: &str) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for (at, _) in template.match_indices('$') {
        let tail = &template[at..];
        let context = tail.strip_prefix("$context.");
        if context.is_some_and(|c| c.starts_with("error.") || c.starts_with("requestId")) {
            continue;
        }
        if let Some((_, source)) = read_at(tail) {
            out.push(source);
        } else if let Some(rest) = context {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            return Err(format!(
                "`$context.{}` is not available in a gateway response (it takes error.*, {})",
                rest[..end].trim_end_matches('.'),
                CONTEXT_NAMES.join(", ")
            ));
        }
    }
    Ok(out)
}

/// A gateway response with an API's overrides applied: what the responder writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// Status sent.
    pub status: u16,
    /// Extra headers, the type's own override first, then its class default's.
    pub headers: Vec<(&'a str, &'a str)>,
    /// `Content-Type` sent.
    pub content_type: &'a str,
    /// The body, rendered.
    pub body: Vec<u8>,
}

impl GatewayResponses {
    /// Overrides from `(type, override)` pairs (later pairs of one type replace earlier).
    pub fn new(entries: impl IntoIterator<Item = (ResponseType, ResponseOverride)>) -> Self {
        let mut by_type = vec![None; ResponseType::ALL.len()];
        let mut reads: Vec<Source> = Vec::new();
        for (t, o) in entries {
            let template = o.body.as_deref().map(template_reads);
            let from_template = template.and_then(Result::ok).unwrap_or_default();
            for s in o
                .parameters
                .iter()
                .map(|(_, s)| s.clone())
                .chain(from_template)
            {
                if !reads.contains(&s) {
                    reads.push(s);
                }
            }
            by_type[t.index()] = Some(o);
        }
        GatewayResponses { by_type, reads }
    }

    /// The request values the overrides read, in the order [`Self::resolve`] takes them.
    pub fn reads(&self) -> &[Source] {
        &self.reads
    }

    /// The captured value of `source` (`None`: absent, or not captured).
    fn value<'v>(&self, source: &Source, values: &'v [Option<Box<str>>]) -> Option<&'v str> {
        let i = self.reads.iter().position(|s| s == source)?;
        values.get(i)?.as_deref()
    }

    /// Whether any type is overridden.
    pub fn is_empty(&self) -> bool {
        self.by_type.iter().all(Option::is_none)
    }

    fn get(&self, t: ResponseType) -> Option<&ResponseOverride> {
        self.by_type.get(t.index()).and_then(Option::as_ref)
    }

    /// `response` with the overrides of its type and of its class default applied; `None` when
    /// neither is overridden (or the response has no AWS type), so the caller sends AWS's
    /// static default. `message` is `$context.error.message` (`None`: the type's own);
    /// `values` are the request's values of [`Self::reads`] (empty when not captured).
    pub fn resolve<'a>(
        &'a self,
        response: GatewayResponse,
        message: Option<&str>,
        validation: Option<&str>,
        request_id: &str,
        values: &'a [Option<Box<str>>],
    ) -> Option<Resolved<'a>> {
        let t = response.response_type()?;
        let own = self.get(t);
        let class = self
            .get(t.class_default())
            .filter(|_| t.class_default() != t);
        if own.is_none() && class.is_none() {
            return None;
        }
        let pick =
            |f: fn(&ResponseOverride) -> bool| own.filter(|o| f(o)).or(class.filter(|o| f(o)));
        let status = own
            .and_then(|o| o.status)
            .or_else(|| class.and_then(|o| o.status))
            .unwrap_or(response.status());
        let body = match pick(|o| o.body.is_some()).and_then(|o| o.body.as_deref()) {
            Some(template) => {
                let vars = Vars {
                    message,
                    validation,
                    request_id,
                    responses: self,
                    values,
                };
                render(template, response, &vars)
            }
            None => response.body().to_vec(),
        };
        let content_type = pick(|o| o.content_type.is_some())
            .and_then(|o| o.content_type.as_deref())
            .unwrap_or("application/json");
        // The type's own headers, then its class default's of other names; a parameter whose
        // source the request lacks sends no header.
        let mut headers: Vec<(&str, &str)> = Vec::new();
        for o in own.into_iter().chain(class) {
            let statics = o.headers.iter().map(|(n, v)| (&**n, Some(&**v)));
            let read = o
                .parameters
                .iter()
                .map(|(n, s)| (&**n, self.value(s, values)));
            let mine: Vec<(&str, &str)> = statics
                .chain(read)
                .filter_map(|(n, v)| Some((n, v?)))
                .filter(|(n, _)| !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n)))
                .collect();
            headers.extend(mine);
        }
        Some(Resolved {
            status,
            headers,
            content_type,
            body,
        })
    }
}

/// What a gateway response template's variables are.
struct Vars<'v> {
    message: Option<&'v str>,
    validation: Option<&'v str>,
    request_id: &'v str,
    /// Whose [`GatewayResponses::reads`] `values` are: the captured `$context.*` of
    /// [`CONTEXT_NAMES`] and `$stageVariables.*`.
    responses: &'v GatewayResponses,
    values: &'v [Option<Box<str>>],
}

/// Substitutes a gateway response template's variables; an unknown `$...` stays as written,
/// a known one without a value renders empty.
fn render(template: &str, response: GatewayResponse, vars: &Vars<'_>) -> Vec<u8> {
    let (validation, request_id) = (vars.validation, vars.request_id);
    let message = vars.message.unwrap_or(response.message());
    // A null message (AUTHORIZER_CONFIGURATION_ERROR's) renders as JSON `null`.
    let quoted = match message {
        "" if response == GatewayResponse::AuthorizerConfigurationError => "null".to_string(),
        m => serde_json::to_string(m).unwrap_or_default(),
    };
    let response_type = response.response_type().map_or("", ResponseType::as_str);
    // Longest names first, so `$context.error.message` does not eat `...messageString`.
    let fixed: [(&str, &str); 5] = [
        (
            "$context.error.validationErrorString",
            validation.unwrap_or(""),
        ),
        ("$context.error.messageString", &quoted),
        ("$context.error.responseType", response_type),
        ("$context.error.message", message),
        ("$context.requestId", request_id),
    ];
    let mut out = Vec::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let tail = &rest[at..];
        match fixed.iter().find(|(name, _)| tail.starts_with(name)) {
            Some((name, value)) => {
                out.extend_from_slice(value.as_bytes());
                rest = &tail[name.len()..];
            }
            None => match read_at(tail) {
                Some((len, source)) => {
                    let value = vars.responses.value(&source, vars.values);
                    out.extend_from_slice(value.unwrap_or("").as_bytes());
                    rest = &tail[len..];
                }
                None => {
                    out.push(b'$');
                    rest = &tail[1..];
                }
            },
        }
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

/// The `$stageVariables.NAME` or `$context.NAME` (of [`CONTEXT_NAMES`]) at the start of
/// `tail`: its length and source.
fn read_at(tail: &str) -> Option<(usize, Source)> {
    if let Some(rest) = tail.strip_prefix("$stageVariables.") {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        return (len > 0).then(|| {
            let name = &rest[..len];
            (
                "$stageVariables.".len() + len,
                Source::StageVariable(name.into()),
            )
        });
    }
    let rest = tail.strip_prefix("$context.")?;
    let name = CONTEXT_NAMES
        .iter()
        .filter(|n| rest.starts_with(**n))
        .max_by_key(|n| n.len())?;
    Some((
        "$context.".len() + name.len(),
        Source::Context((*name).into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_bodies_are_valid_json_with_a_message() {
        for r in [
            GatewayResponse::MissingAuthenticationToken,
            GatewayResponse::RequestTooLong,
            GatewayResponse::IntegrationTimeout,
            GatewayResponse::IntegrationFailure,
            GatewayResponse::BadRequest,
            GatewayResponse::HeadersTooLarge,
            GatewayResponse::NotImplemented,
            GatewayResponse::VersionNotSupported,
            GatewayResponse::Forbidden,
            GatewayResponse::TooManyRequests,
            GatewayResponse::LimitExceeded,
            GatewayResponse::AccessDenied,
            GatewayResponse::MisdirectedRequest,
            GatewayResponse::InternalError,
            GatewayResponse::Unauthorized,
            GatewayResponse::TokenExpired,
        ] {
            let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
            assert!(v["message"].is_string(), "{r:?}");
        }
        for r in [
            GatewayResponse::AuthorizerDenied { explicit: true },
            GatewayResponse::AuthorizerDenied { explicit: false },
            GatewayResponse::PolicyDenied { explicit: true },
        ] {
            let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
            assert!(v["Message"].is_string(), "{r:?}");
            assert!(!r.message().is_empty(), "{r:?}");
        }
        let v: serde_json::Value =
            serde_json::from_slice(GatewayResponse::AuthorizerConfigurationError.body()).unwrap();
        assert!(v["message"].is_null());
        assert_eq!(GatewayResponse::AuthorizerConfigurationError.message(), "");
    }

    #[test]
    fn policy_denials_name_the_masked_resource() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/pets";
        assert_eq!(
            policy_denied_message(arn, true),
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********9012:abc/prod/GET/pets with an explicit deny in a resource-based policy"
        );
        assert!(policy_denied_message(arn, false).ends_with(
            "abc/prod/GET/pets because no resource-based policy allows the execute-api:Invoke action"
        ));
    }

    #[test]
    fn codec_errors_map_to_their_status() {
        assert_eq!(
            GatewayResponse::from_http_error(HttpError::HeadersTooLarge).status(),
            431
        );
        assert_eq!(
            GatewayResponse::from_http_error(HttpError::BadRequest("x")).status(),
            400
        );
        assert_eq!(
            GatewayResponse::from_http_error(HttpError::NotImplemented("x")).status(),
            501
        );
    }
}
