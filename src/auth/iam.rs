//! `AWS_IAM` authorization: Signature Version 4 verification of the caller's request, as the
//! `execute-api` service checks it, against the node's local identity store
//! (`identities.toml`: users, their access keys and identity-based policies).
//!
//! The canonical request is built by the one canonicalizer (`upstream::sigv4`, which also signs
//! the gateway's own Lambda calls) from the request exactly as it arrived: the wire path with
//! its stage, encoded once more as every service but S3 does; the sorted query (without
//! `X-Amz-Signature` for presigned URLs); the signed headers, trimmed; and the SHA-256 of the
//! body it received (for presigned URLs too, as botocore's `SigV4QueryAuth` signs).
//!
//! Errors, as API Gateway words them (recorded responses collected in the notes quoted in
//! `gateway_response`): no signature at all is 403 `Missing Authentication Token`; a malformed
//! `Authorization` is `IncompleteSignatureException`; an unknown key is "The security token
//! included in the request is invalid."; a wrong signature is `InvalidSignatureException` with
//! the canonical string and string to sign it should have been; a date more than 5 minutes
//! from the gateway's clock is "Signature expired" / "Signature not yet current".

use std::sync::Arc;

use ahash::AHashMap;

use crate::upstream::sigv4::{self, Scope, SigningTime};

/// The service name requests to APIs are signed for.
pub const SERVICE: &str = "execute-api";
/// How far a request's `X-Amz-Date` may be from the gateway's clock (execute-api: 5 minutes,
/// "... is now earlier than ... (... - 5 min.)").
pub const MAX_SKEW_SECS: u64 = 300;

/// An IAM user of the local identity store.
#[derive(Debug)]
pub struct IamUser {
    /// Its name.
    pub name: Box<str>,
    /// `arn:aws:iam::{account}:user/{name}` (`$context.identity.userArn`).
    pub arn: Box<str>,
    /// Its unique id, `AIDA...` (`$context.identity.user` and `.caller`).
    pub user_id: Box<str>,
    /// Its account (`$context.identity.accountId`).
    pub account: Box<str>,
    /// Its identity-based policy; `None`: it may do nothing.
    pub policy: Option<super::Policy>,
}

/// One access key of a user.
#[derive(Debug)]
pub struct AccessKey {
    /// The secret access key.
    pub secret: Box<str>,
    /// The session token temporary credentials must present.
    pub session_token: Option<Box<str>>,
    /// Whose key it is.
    pub user: Arc<IamUser>,
}

/// The identity store: access keys by id.
#[derive(Debug, Default)]
pub struct Identities {
    keys: AHashMap<Box<str>, AccessKey>,
}

impl Identities {
    /// A store of `keys` (id, key).
    pub fn new(keys: impl IntoIterator<Item = (Box<str>, AccessKey)>) -> Self {
        Identities {
            keys: keys.into_iter().collect(),
        }
    }

    /// The key `id`.
    pub fn get(&self, id: &str) -> Option<&AccessKey> {
        self.keys.get(id)
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A stable unique id in AWS's form for a user: `AIDA` and 17 characters derived from its
/// ARN, so the same user keeps its id across reloads.
pub fn user_id(arn: &str) -> Box<str> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = ring::digest::digest(&ring::digest::SHA256, arn.as_bytes());
    let mut id = String::from("AIDA");
    id.extend(
        digest.as_ref()[..17]
            .iter()
            .map(|b| ALPHABET[(b % 32) as usize] as char),
    );
    id.into()
}

/// The request as it arrived, for verification.
pub struct SignedRequest<'a> {
    /// `GET`, `POST` ...
    pub method: &'a str,
    /// The path as sent (percent-encoded, stage included).
    pub path: &'a str,
    /// The query after `?`, if any.
    pub query: Option<&'a str>,
    /// Every header, names as sent.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body (empty when none).
    pub body: &'a [u8],
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigError {
    /// No `Authorization` header and no presigned query.
    Missing,
    /// A malformed signature (`IncompleteSignatureException`), with AWS's message.
    Incomplete(String),
    /// An access key the store does not have, or a wrong session token.
    UnknownKey,
    /// The signature does not match (`InvalidSignatureException`), with AWS's message.
    Mismatch(String),
    /// The date is too far from the gateway's clock (`InvalidSignatureException`).
    Expired(String),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    /// The key's user.
    pub user: &'a Arc<IamUser>,
    /// The access key id used (`$context.identity.accessKey`).
    pub access_key: &'a str,
}

/// The signature fields of a request, from `Authorization` or a presigned query.
struct Signature<'a> {
    access_key: &'a str,
    scope_date: &'a str,
    region: &'a str,
    service: &'a str,
    /// `SignedHeaders` as sent: `a;b;c`.
    signed_headers: &'a str,
    signature: &'a str,
    amz_date: &'a str,
    security_token: Option<&'a str>,
    presigned: bool,
    /// A presigned URL's `X-Amz-Expires`, seconds.
    expires: Option<u64>,
}

/// Verifies `req` for an API in `region` at `now` (Unix seconds).
pub fn verify<'s>(
    identities: &'s Identities,
    keys: &SigningKeys,
    req: &SignedRequest<'_>,
    region: &str,
    now: u64,
) -> Result<Caller<'s>, SigError> {
    verify_for(SERVICE, identities, keys, req, region, now)
}

/// [`verify`] for requests signed for `service` (the control plane's `apigateway`).
pub fn verify_for<'s>(
    service: &str,
    identities: &'s Identities,
    keys: &SigningKeys,
    req: &SignedRequest<'_>,
    region: &str,
    now: u64,
) -> Result<Caller<'s>, SigError> {
    match check(service, identities, Some(keys), req, region, now)? {
        Some(caller) => Ok(caller),
        None => Err(SigError::Missing),
    }
}

/// Everything but the signature itself: the parts, the scope, the date and the key. Run
/// before a signed request's body is read, so that a request that cannot authenticate does
/// not make the gateway buffer its body first.
pub fn precheck(
    identities: &Identities,
    req: &SignedRequest<'_>,
    region: &str,
    now: u64,
) -> Result<(), SigError> {
    check(SERVICE, identities, None, req, region, now).map(|_| ())
}

/// [`verify`] with `keys`, [`precheck`] without (then `Ok(None)` once the key is found).
fn check<'s>(
    service: &str,
    identities: &'s Identities,
    keys: Option<&SigningKeys>,
    req: &SignedRequest<'_>,
    region: &str,
    now: u64,
) -> Result<Option<Caller<'s>>, SigError> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let query_auth = req
        .query
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("X-Amz-Algorithm=")));
    let query_pairs: Vec<(String, String)>;
    let sig = match header("authorization") {
        Some(auth) => {
            parse_authorization(auth, header("x-amz-date"), header("x-amz-security-token"))?
        }
        None if query_auth => {
            query_pairs = decoded_pairs(req.query.unwrap_or(""));
            parse_presigned(&query_pairs)?
        }
        None => return Err(SigError::Missing),
    };
    let time = SigningTime::parse(sig.amz_date).ok_or_else(|| {
        SigError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            sig.amz_date
        ))
    })?;
    check_scope(&sig, region, service)?;
    // The host is always signed (SigV4: "the host header must be included as a signed
    // header"), so a captured request cannot be replayed against another host.
    if !sigv4::pieces(sig.signed_headers, b';').any(|h| h == "host") {
        return Err(SigError::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    check_time(&time, sig.expires, now)?;
    let (access_key, key) = identities
        .keys
        .get_key_value(sig.access_key)
        .ok_or(SigError::UnknownKey)?;
    if !same_token(key.session_token.as_deref(), sig.security_token) {
        return Err(SigError::UnknownKey);
    }
    let Some(keys) = keys else {
        return Ok(None);
    };
    // The body's hash, presigned or not: API Gateway hashes what it received, and botocore's
    // SigV4QueryAuth signs the body's hash too (only S3's presigning signs UNSIGNED-PAYLOAD,
    // which execute-api refuses: aws/aws-sdk-java-v2#5581).
    let payload = sigv4::payload_hash(req.body);
    let presigned_query: String;
    let query = match (sig.presigned, req.query) {
        (true, Some(q)) => {
            presigned_query = q
                .split('&')
                .filter(|p| !p.starts_with("X-Amz-Signature="))
                .collect::<Vec<_>>()
                .join("&");
            &presigned_query
        }
        (_, q) => q.unwrap_or(""),
    };
    let received = sigv4::Received {
        method: req.method,
        encoded_path: req.path,
        query,
        headers: req.headers,
        signed_headers: sig.signed_headers,
        payload_hash: payload.as_str(),
    };
    let scope = Scope {
        region: sig.region,
        service: sig.service,
    };
    let signing_key = keys.get_or_derive(&key.secret, sig.access_key, time.date(), &scope);
    if !sigv4::signature_matches(&received, &time, &scope, &signing_key.key, sig.signature) {
        return Err(mismatch(&received, &time, &scope));
    }
    Ok(Some(Caller {
        user: &key.user,
        access_key,
    }))
}

/// Whether the session token sent is the key's, compared in constant time (a secret).
fn same_token(expected: Option<&str>, sent: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    match (expected, sent) {
        (None, None) => true,
        (Some(e), Some(s)) => e.len() == s.len() && bool::from(e.as_bytes().ct_eq(s.as_bytes())),
        _ => false,
    }
}

/// AWS's `InvalidSignatureException` message, with the canonical request and string to sign
/// the gateway computed (as AWS shows them, so a client can see where it went wrong).
fn mismatch(req: &sigv4::Received<'_>, time: &SigningTime, scope: &Scope<'_>) -> SigError {
    let names: Vec<&str> = req.signed_headers.split(';').collect();
    let canonical = sigv4::canonical_request(
        req.method,
        req.encoded_path,
        req.query,
        req.headers,
        &names,
        req.payload_hash,
        true,
    );
    let string_to_sign = sigv4::string_to_sign(time, scope, &canonical);
    SigError::Mismatch(format!(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
    ))
}

/// A derived SigV4 signing key (`kSigning`), cached per access key with the secret, date and
/// scope it was derived for: deriving it takes four HMACs, and it only changes daily. Keyed
/// by the access key alone, so a lookup builds no key string; a caller signing for another
/// day or scope, or a secret changed by a reload, derives it again.
pub struct SigningKey {
    pub key: ring::hmac::Key,
    secret: Box<str>,
    date: Box<str>,
    region: Box<str>,
    service: Box<str>,
}

impl super::cache::Weigh for SigningKey {
    fn size(&self) -> usize {
        128
    }
}

/// A shard's derived signing keys.
pub type SigningKeys = super::cache::TtlCache<SigningKey>;

/// How long a derived key is kept: its date's scope is valid for that day only.
const SIGNING_KEY_TTL_MS: u64 = 24 * 3600 * 1000;

impl SigningKeys {
    /// The signing key of `secret` for `date` and `scope`, derived at most once a day.
    fn get_or_derive(
        &self,
        secret: &str,
        access_key: &str,
        date: &str,
        scope: &Scope<'_>,
    ) -> std::rc::Rc<SigningKey> {
        if let Some(found) = self.get(access_key) {
            // The secret is compared too: a reload that changes it must not find the old key.
            let same = *found.secret == *secret
                && *found.date == *date
                && *found.region == *scope.region
                && *found.service == *scope.service;
            if same {
                return found;
            }
        }
        let key = std::rc::Rc::new(SigningKey {
            key: sigv4::signing_key(secret, date, scope),
            secret: secret.into(),
            date: date.into(),
            region: scope.region.into(),
            service: scope.service.into(),
        });
        self.put(access_key, std::rc::Rc::clone(&key), SIGNING_KEY_TTL_MS);
        key
    }
}

/// `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b,
/// Signature=hex`.
fn parse_authorization<'a>(
    auth: &'a str,
    amz_date: Option<&'a str>,
    token: Option<&'a str>,
) -> Result<Signature<'a>, SigError> {
    let (algorithm, rest) = sigv4::split_once(auth, b' ').unwrap_or((auth, ""));
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in sigv4::pieces(rest, b',')
        .map(str::trim_ascii)
        .filter(|p| !p.is_empty())
    {
        let Some((k, v)) = sigv4::split_once(part, b'=') else {
            return Err(SigError::Incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
            )));
        };
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = String::new();
    if credential.is_none() {
        missing.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none() {
        missing.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        missing.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if amz_date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() || algorithm != "AWS4-HMAC-SHA256" {
        return Err(SigError::Incomplete(format!(
            "{missing}Authorization={auth}"
        )));
    }
    let credential = credential.unwrap_or("");
    let (access_key, scope_date, region, service) = split_credential(credential)?;
    Ok(Signature {
        access_key,
        scope_date,
        region,
        service,
        signed_headers: signed_headers.unwrap_or(""),
        signature: signature.unwrap_or(""),
        amz_date: amz_date.unwrap_or(""),
        security_token: token,
        presigned: false,
        expires: None,
    })
}

/// The query string's pairs, percent-decoded.
fn decoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let text = |t: &str| String::from_utf8_lossy(&sigv4::percent_decode(t)).into_owned();
            (text(k), text(v))
        })
        .collect()
}

/// A presigned URL's `X-Amz-*` parameters.
fn parse_presigned(pairs: &[(String, String)]) -> Result<Signature<'_>, SigError> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut missing = String::new();
    for name in [
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if get(name).is_none() {
            missing.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    if !missing.is_empty() {
        return Err(SigError::Incomplete(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    }
    if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(SigError::Incomplete(
            "Unsupported AWS 'algorithm': X-Amz-Algorithm must be AWS4-HMAC-SHA256".into(),
        ));
    }
    let expires = match get("X-Amz-Expires") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=604_800).contains(&n) => Some(n),
            _ => {
                return Err(SigError::Incomplete(format!(
                    "X-Amz-Expires must be a number of seconds from 1 to 604800, not '{v}'."
                )))
            }
        },
    };
    let (access_key, scope_date, region, service) =
        split_credential(get("X-Amz-Credential").unwrap_or(""))?;
    Ok(Signature {
        access_key,
        scope_date,
        region,
        service,
        signed_headers: get("X-Amz-SignedHeaders").unwrap_or(""),
        signature: get("X-Amz-Signature").unwrap_or(""),
        amz_date: get("X-Amz-Date").unwrap_or(""),
        security_token: get("X-Amz-Security-Token"),
        presigned: true,
        expires,
    })
}

/// `AKID/20261201/us-east-1/execute-api/aws4_request` → its parts.
fn split_credential(credential: &str) -> Result<(&str, &str, &str, &str), SigError> {
    let mut parts = sigv4::pieces(credential, b'/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(key), Some(date), Some(region), Some(service), Some("aws4_request"), None)
            if !key.is_empty() =>
        {
            Ok((key, date, region, service))
        }
        _ => Err(SigError::Incomplete(format!(
            "Credential should be scoped to a valid region, not '{credential}'. "
        ))),
    }
}

fn check_scope(sig: &Signature<'_>, region: &str, service: &str) -> Result<(), SigError> {
    let mut wrong = String::new();
    if sig.region != region {
        wrong.push_str("Credential should be scoped to a valid region. ");
    }
    if sig.service != service {
        wrong.push_str(&format!(
            "Credential should be scoped to correct service: '{service}'. "
        ));
    }
    let day = sig.amz_date.get(..8).unwrap_or("");
    if sig.scope_date != day {
        wrong.push_str(&format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{}'.",
            sig.scope_date, sig.amz_date
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(SigError::Incomplete(wrong))
    }
}

/// The date within [`MAX_SKEW_SECS`] of `now`, and a presigned URL not past its
/// `X-Amz-Expires` (AWS's wording for that case is not recorded; the skew message's form is
/// kept, with the URL's own lifetime).
fn check_time(time: &SigningTime, expires: Option<u64>, now: u64) -> Result<(), SigError> {
    let at = unix_of(time.amz_date()).unwrap_or(0);
    let fmt = |secs: u64| SigningTime::from_unix(secs).amz_date().to_string();
    if let Some(life) = expires.filter(|&life| at + life < now) {
        return Err(SigError::Expired(format!(
            "Signature expired: {} is now earlier than {} ({} - {life} sec.)",
            time.amz_date(),
            fmt(now - life),
            fmt(now)
        )));
    }
    if at + MAX_SKEW_SECS < now {
        return Err(SigError::Expired(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            time.amz_date(),
            fmt(now - MAX_SKEW_SECS),
            fmt(now)
        )));
    }
    if at > now + MAX_SKEW_SECS {
        return Err(SigError::Expired(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            time.amz_date(),
            fmt(now + MAX_SKEW_SECS),
            fmt(now)
        )));
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds (days from civil, H. Hinnant's algorithm).
fn unix_of(amz_date: &str) -> Option<u64> {
    let n = |r: std::ops::Range<usize>| amz_date.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(9..11)?, n(11..13)?, n(13..15)?);
    let in_range = y >= 1970 && (1..=12).contains(&m) && (1..=31).contains(&d);
    if !in_range || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_must_match_exactly_or_both_be_absent() {
        assert!(same_token(None, None));
        assert!(same_token(Some("tok"), Some("tok")));
        assert!(!same_token(Some("tok"), Some("tok2")));
        assert!(!same_token(Some("tok"), None));
        assert!(!same_token(None, Some("tok")));
    }

    fn store() -> Identities {
        let arn = "arn:aws:iam::111122223333:user/alice";
        let user = Arc::new(IamUser {
            name: "alice".into(),
            arn: arn.into(),
            user_id: user_id(arn),
            account: "111122223333".into(),
            policy: None,
        });
        Identities::new([(
            "AKIDALICE".into(),
            AccessKey {
                secret: "secret/alice".into(),
                session_token: None,
                user,
            },
        )])
    }

    /// Signs like a client would, with the same canonicalizer.
    fn signed(
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        amz_date: &str,
        secret: &str,
    ) -> String {
        let headers = [("host", "api.example"), ("x-amz-date", amz_date)];
        let canonical = sigv4::canonical_request(
            method,
            path,
            query,
            &headers,
            &["host", "x-amz-date"],
            &sigv4::sha256_hex(body),
            true,
        );
        let time = SigningTime::parse(amz_date).unwrap();
        let scope = Scope {
            region: "us-east-1",
            service: SERVICE,
        };
        let sts = sigv4::string_to_sign(&time, &scope, &canonical);
        let key = sigv4::signing_key(secret, time.date(), &scope);
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDALICE/{}/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            time.date(),
            sigv4::signature(&key, &sts)
        )
    }

    fn check(auth: &str, amz_date: &str, body: &[u8], now: u64) -> Result<String, SigError> {
        let ids = store();
        let keys = SigningKeys::new(crate::clock::Clock::fixed(0), 1 << 20);
        let headers = [
            ("Host", "api.example"),
            ("X-Amz-Date", amz_date),
            ("Authorization", auth),
        ];
        let req = SignedRequest {
            method: "POST",
            path: "/prod/pets",
            query: Some("b=2&a=1"),
            headers: &headers,
            body,
        };
        verify(&ids, &keys, &req, "us-east-1", now).map(|c| c.user.name.to_string())
    }

    const DATE: &str = "20261201T120000Z";

    #[test]
    fn a_good_signature_names_its_user() {
        let now = unix_of(DATE).unwrap();
        let auth = signed("POST", "/prod/pets", "b=2&a=1", b"{}", DATE, "secret/alice");
        assert_eq!(check(&auth, DATE, b"{}", now).unwrap(), "alice");
        assert_eq!(check(&auth, DATE, b"{}", now + 300).unwrap(), "alice");
    }

    #[test]
    fn changed_bodies_wrong_secrets_and_stale_dates_are_refused() {
        let now = unix_of(DATE).unwrap();
        let auth = signed("POST", "/prod/pets", "b=2&a=1", b"{}", DATE, "secret/alice");
        let Err(SigError::Mismatch(m)) = check(&auth, DATE, b"{ }", now) else {
            panic!()
        };
        assert!(
            m.starts_with("The request signature we calculated does not match"),
            "{m}"
        );
        assert!(m.contains("The Canonical String for this request should have been\n'POST\n/prod/pets\na=1&b=2\n"), "{m}");
        let wrong = signed(
            "POST",
            "/prod/pets",
            "b=2&a=1",
            b"{}",
            DATE,
            "not-the-secret",
        );
        assert!(matches!(
            check(&wrong, DATE, b"{}", now),
            Err(SigError::Mismatch(_))
        ));
        assert_eq!(
            check(&auth, DATE, b"{}", now + 301),
            Err(SigError::Expired("Signature expired: 20261201T120000Z is now earlier than 20261201T120001Z (20261201T120501Z - 5 min.)".into()))
        );
        assert!(
            matches!(check(&auth, DATE, b"{}", now - 301), Err(SigError::Expired(m)) if m.starts_with("Signature not yet current"))
        );
    }

    #[test]
    fn malformed_headers_say_what_is_missing() {
        let now = unix_of(DATE).unwrap();
        let Err(SigError::Incomplete(m)) = check(
            "AWS4-HMAC-SHA256 Credential=AKIDALICE/20261201/us-east-1/execute-api/aws4_request",
            DATE,
            b"",
            now,
        ) else {
            panic!()
        };
        assert!(m.starts_with("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization="), "{m}");
        let Err(SigError::Incomplete(m)) = check("Bearer abc", DATE, b"", now) else {
            panic!()
        };
        assert!(
            m.contains("not a valid key=value pair (missing equal-sign)"),
            "{m}"
        );
        let other = signed("POST", "/prod/pets", "b=2&a=1", b"", DATE, "x")
            .replace("execute-api", "lambda");
        let Err(SigError::Incomplete(m)) = check(&other, DATE, b"", now) else {
            panic!()
        };
        assert_eq!(
            m,
            "Credential should be scoped to correct service: 'execute-api'. "
        );
        let unknown = signed("POST", "/prod/pets", "b=2&a=1", b"", DATE, "x")
            .replace("AKIDALICE", "AKIDNOBODY");
        assert_eq!(check(&unknown, DATE, b"", now), Err(SigError::UnknownKey));
    }

    #[test]
    fn the_host_must_be_signed_and_odd_dates_do_not_panic() {
        let now = unix_of(DATE).unwrap();
        let auth = signed("POST", "/prod/pets", "b=2&a=1", b"", DATE, "secret/alice")
            .replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
        let Err(SigError::Incomplete(m)) = check(&auth, DATE, b"", now) else {
            panic!()
        };
        assert!(
            m.contains("'Host' or ':authority' must be a 'SignedHeader'"),
            "{m}"
        );
        let auth = signed("POST", "/prod/pets", "b=2&a=1", b"", DATE, "secret/alice");
        for date in [
            "2026120€T120000Z",
            "00000000T000000Z",
            "20261300T120000Z",
            "short",
        ] {
            assert!(check(&auth, date, b"", now).is_err(), "{date}");
        }
    }

    #[test]
    fn amz_dates_convert_to_unix_time() {
        assert_eq!(unix_of("00000101T000000Z"), None);
        assert_eq!(unix_of("20260100T000000Z"), None);
        assert_eq!(unix_of("19700101T000000Z"), Some(0));
        assert_eq!(unix_of("20261201T120000Z"), Some(1_796_126_400));
        let t = SigningTime::from_unix(1_796_126_400);
        assert_eq!(t.amz_date(), "20261201T120000Z");
        assert!(user_id("arn:aws:iam::1:user/a").starts_with("AIDA"));
        assert_eq!(user_id("arn:aws:iam::1:user/a").len(), 21);
    }
}
