//! JSON Web Tokens as a Cognito user pool authorizer (and a generic JWT authorizer) checks
//! them: the signature against the issuer's key set (RS256/384/512, ES256/384, verified with
//! `ring`), then `iss`, `exp`/`nbf`/`iat` with a leeway, the audience (`aud`, or an access
//! token's `client_id`), `token_use`, and the method's `authorizationScopes` against the
//! access token's `scope` (RFC 7519, RFC 7515; Cognito developer guide, "Verifying a JSON Web
//! Token").
//!
//! A leaf: it takes the token and the key set and returns the claims or why not. Key sets are
//! fetched off the request path ([`super::jwks`]).

use data_encoding::BASE64URL_NOPAD;
use ring::signature;
use serde_json::Value;

/// One public key of a key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// `kty: RSA`: modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: EC`: the uncompressed point `04 || x || y` on P-256 or P-384.
    Ec { p384: bool, point: Vec<u8> },
}

/// A JWKS document: keys by `kid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<(Box<str>, PublicKey)>,
}

impl KeySet {
    /// Parses `{"keys": [...]}`; keys of other types or curves are skipped.
    pub fn parse(json: &[u8]) -> Result<KeySet, String> {
        let v: Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let list = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no `keys` list")?;
        let b64 = |k: &Value, name: &str| {
            k.get(name).and_then(Value::as_str).and_then(|s| {
                BASE64URL_NOPAD
                    .decode(s.trim_end_matches('=').as_bytes())
                    .ok()
            })
        };
        let mut keys = Vec::new();
        for k in list {
            let Some(kid) = k.get("kid").and_then(Value::as_str) else {
                continue;
            };
            let key = match k.get("kty").and_then(Value::as_str) {
                Some("RSA") => match (b64(k, "n"), b64(k, "e")) {
                    (Some(n), Some(e)) => PublicKey::Rsa { n, e },
                    _ => continue,
                },
                Some("EC") => {
                    let p384 = match k.get("crv").and_then(Value::as_str) {
                        Some("P-256") => false,
                        Some("P-384") => true,
                        _ => continue,
                    };
                    match (b64(k, "x"), b64(k, "y")) {
                        (Some(x), Some(y)) => {
                            let mut point = vec![4u8];
                            point.extend_from_slice(&x);
                            point.extend_from_slice(&y);
                            PublicKey::Ec { p384, point }
                        }
                        _ => continue,
                    }
                }
                _ => continue,
            };
            keys.push((kid.into(), key));
        }
        Ok(KeySet { keys })
    }

    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys
            .iter()
            .find(|(k, _)| **k == *kid)
            .map(|(_, key)| key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// `iss` must equal this.
    pub issuer: &'a str,
    /// `aud` (ID tokens) or `client_id` (access tokens) must be one of these; empty: any.
    pub audiences: &'a [Box<str>],
    /// Tolerated clock difference for `exp`, `nbf` and `iat`, seconds.
    pub leeway_secs: u64,
    /// The method's `authorizationScopes`: when set, the token must be an access token whose
    /// `scope` holds one of them.
    pub scopes: &'a [Box<str>],
    /// Check Cognito's `token_use` (`id` without scopes, `access` with them).
    pub cognito: bool,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not a JWT, a bad signature, an unknown key, wrong issuer or audience: 401.
    Invalid(String),
    /// Past `exp` (beyond the leeway): 401, AWS's "The incoming token has expired".
    Expired,
    /// Valid, but none of the method's scopes: 403.
    MissingScope,
    /// The token names a `kid` the key set does not have (the set may need a refresh).
    UnknownKey(Box<str>),
}

fn invalid<T>(why: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::Invalid(why.into()))
}

/// The parts of a compact JWS before its signature is checked.
#[derive(Debug)]
pub struct Token<'a> {
    signed: &'a str,
    signature: Vec<u8>,
    alg: String,
    /// The header's `kid`.
    pub kid: Option<String>,
    payload: Vec<u8>,
}

/// Splits and decodes a token (`header.payload.signature`, base64url).
pub fn decode(token: &str) -> Result<Token<'_>, Rejection> {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return invalid("not a JWT (three base64url parts)");
    };
    let de = |part: &str| BASE64URL_NOPAD.decode(part.as_bytes()).ok();
    let (Some(header), Some(payload), Some(signature)) = (de(h), de(p), de(s)) else {
        return invalid("a JWT part is not base64url");
    };
    let header: Value =
        serde_json::from_slice(&header).or_else(|_| invalid("the JWT header is not JSON"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Token {
        signed: &token[..h.len() + 1 + p.len()],
        signature,
        alg,
        kid,
        payload,
    })
}

/// Verifies `token` with `keys` under `rules` at `now` (Unix seconds); returns its claims.
pub fn verify(
    token: &Token<'_>,
    keys: &KeySet,
    rules: &Rules<'_>,
    now: u64,
) -> Result<serde_json::Map<String, Value>, Rejection> {
    let Some(kid) = token.kid.as_deref() else {
        return invalid("the JWT header has no kid");
    };
    let key = keys
        .get(kid)
        .ok_or_else(|| Rejection::UnknownKey(kid.into()))?;
    check_signature(token, key)?;
    let claims: Value = serde_json::from_slice(&token.payload)
        .or_else(|_| invalid("the JWT payload is not JSON"))?;
    let Value::Object(claims) = claims else {
        return invalid("the JWT payload is not an object");
    };
    check_claims(&claims, rules, now)?;
    Ok(claims)
}

fn check_signature(token: &Token<'_>, key: &PublicKey) -> Result<(), Rejection> {
    let msg = token.signed.as_bytes();
    let ok = match (token.alg.as_str(), key) {
        ("RS256" | "RS384" | "RS512", PublicKey::Rsa { n, e }) => {
            let params = match token.alg.as_str() {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                _ => &signature::RSA_PKCS1_2048_8192_SHA512,
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, msg, &token.signature)
                .is_ok()
        }
        ("ES256", PublicKey::Ec { p384: false, point }) => {
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(msg, &token.signature)
                .is_ok()
        }
        ("ES384", PublicKey::Ec { p384: true, point }) => {
            signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                .verify(msg, &token.signature)
                .is_ok()
        }
        (alg, _) => {
            return invalid(format!(
                "algorithm `{alg}` does not fit key `{}`",
                token.kid.as_deref().unwrap_or("")
            ))
        }
    };
    if ok {
        Ok(())
    } else {
        invalid("bad signature")
    }
}

/// A token whose signature was verified, cached per shard until it expires (at most an hour,
/// and only while its key set is the one it was verified with): its claims, checked again
/// against each method's rules, and the claims as passed on. Verifying an RS256 signature
/// costs tens of microseconds; a cached token costs a hash lookup and the claim checks.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The whole token (the cache is keyed by its end; a hit is compared in full).
    pub token: Box<str>,
    /// What the rules read of its claims.
    pub facts: ClaimFacts,
    /// The claims as strings ([`claim_text`]).
    pub rendered: std::rc::Rc<[(Box<str>, Box<str>)]>,
    /// The key set's generation it was verified with.
    pub generation: u64,
    /// The key set's URI.
    pub source: Box<str>,
}

impl super::cache::Weigh for VerifiedToken {
    fn size(&self) -> usize {
        let rendered: usize = self
            .rendered
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum();
        rendered + self.token.len() + self.source.len() + self.facts.size() + 128
    }
}

/// A shard's verified tokens.
pub type VerifiedTokens = super::cache::TtlCache<VerifiedToken>;

/// The part of a token its cache entry is keyed by: the end of its signature (hashing the
/// whole token, a kilobyte, would cost more than the rest of the check).
pub fn cache_key(token: &str) -> &str {
    let mut at = token.len().saturating_sub(43);
    while !token.is_char_boundary(at) {
        at += 1;
    }
    &token[at..]
}

impl VerifiedToken {
    /// A freshly verified `token` with its `claims`, for the cache.
    pub fn new(
        token: &str,
        claims: &serde_json::Map<String, Value>,
        keys: &super::jwks::JwksSource,
    ) -> Self {
        let rendered = claims
            .iter()
            .map(|(k, v)| (k.as_str().into(), claim_text(k, v).into()))
            .collect();
        VerifiedToken {
            token: token.into(),
            facts: ClaimFacts::of(claims),
            rendered,
            generation: keys.generation(),
            source: keys.uri.clone(),
        }
    }

    /// Checks the cached claims against `rules` at `now` (the signature is not checked again).
    pub fn check(&self, rules: &Rules<'_>, now: u64) -> Result<(), Rejection> {
        check_facts(&self.facts, rules, now)
    }

    /// Seconds from `now` until the token expires.
    pub fn lifetime(&self, now: u64) -> u64 {
        self.facts.exp.unwrap_or(0).saturating_sub(now)
    }
}

/// What the rules read of a token's claims, taken out of the JSON once (a cached token is
/// checked against each method's rules without walking its claims again).
#[derive(Debug, Clone, Default)]
pub struct ClaimFacts {
    iss: Option<Box<str>>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    token_use: Option<Box<str>>,
    aud: Box<[Box<str>]>,
    client_id: Option<Box<str>>,
    /// `scope`, if the token has one.
    scope: Option<Box<str>>,
}

impl ClaimFacts {
    /// The facts of `claims`.
    pub fn of(claims: &serde_json::Map<String, Value>) -> Self {
        let num = |name: &str| claims.get(name).and_then(Value::as_f64).map(|v| v as u64);
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(Box::from);
        let aud = match claims.get("aud") {
            Some(Value::String(s)) => vec![Box::from(s.as_str())],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(Box::from)
                .collect(),
            _ => Vec::new(),
        };
        ClaimFacts {
            iss: text("iss"),
            exp: num("exp"),
            nbf: num("nbf"),
            iat: num("iat"),
            token_use: text("token_use"),
            aud: aud.into(),
            client_id: text("client_id"),
            scope: text("scope"),
        }
    }

    /// Bytes held (for the cache's bound).
    fn size(&self) -> usize {
        let len = |s: &Option<Box<str>>| s.as_ref().map_or(0, |s| s.len());
        len(&self.iss)
            + len(&self.token_use)
            + len(&self.client_id)
            + len(&self.scope)
            + self.aud.iter().map(|a| a.len() + 16).sum::<usize>()
            + std::mem::size_of::<ClaimFacts>()
    }
}

fn check_claims(
    claims: &serde_json::Map<String, Value>,
    rules: &Rules<'_>,
    now: u64,
) -> Result<(), Rejection> {
    check_facts(&ClaimFacts::of(claims), rules, now)
}

fn check_facts(c: &ClaimFacts, rules: &Rules<'_>, now: u64) -> Result<(), Rejection> {
    if c.iss.as_deref() != Some(rules.issuer) {
        return invalid("wrong issuer");
    }
    match c.exp {
        Some(exp) if now >= exp.saturating_add(rules.leeway_secs) => {
            return Err(Rejection::Expired)
        }
        Some(_) => {}
        None => return invalid("no exp"),
    }
    if c.nbf
        .is_some_and(|nbf| nbf > now.saturating_add(rules.leeway_secs))
    {
        return invalid("not valid yet (nbf)");
    }
    if c.iat
        .is_some_and(|iat| iat > now.saturating_add(rules.leeway_secs))
    {
        return invalid("issued in the future (iat)");
    }
    let access = if rules.cognito {
        // Cognito: an ID token without scopes, an access token with them ("Integrate a REST
        // API with an Amazon Cognito user pool": with OAuth scopes "the access token" is
        // checked, otherwise the identity token).
        let want = if rules.scopes.is_empty() {
            "id"
        } else {
            "access"
        };
        if c.token_use.as_deref() != Some(want) {
            return invalid(format!("token_use must be `{want}`"));
        }
        want == "access"
    } else {
        c.scope.is_some() || !rules.scopes.is_empty()
    };
    if !rules.audiences.is_empty() {
        let allowed = |s: &str| rules.audiences.iter().any(|a| **a == *s);
        let seen = c.aud.iter().any(|a| allowed(a))
            || (access && c.client_id.as_deref().is_some_and(allowed));
        if !seen {
            return invalid("audience not allowed");
        }
    }
    if !rules.scopes.is_empty() {
        let scope = c.scope.as_deref().unwrap_or("");
        let has = scope
            .split(' ')
            .any(|s| rules.scopes.iter().any(|want| **want == *s));
        if !has {
            return Err(Rejection::MissingScope);
        }
    }
    Ok(())
}

/// A claim as a REST API's Cognito authorizer passes it on (`$context.authorizer.claims.NAME`,
/// `requestContext.authorizer.claims`): every value a string; `exp` and `iat` as Java's
/// `Date.toString()` (`Tue Apr 04 18:39:39 UTC 2023`, as captured from real APIs: awsdocs
/// developer guide issue #158); a list of strings comma-joined (`cognito:groups`); other
/// values as JSON text.
pub fn claim_text(name: &str, v: &Value) -> String {
    match (name, v) {
        ("exp" | "iat", Value::Number(n)) => match n.as_u64() {
            Some(secs) => java_date(secs),
            None => n.to_string(),
        },
        (_, Value::String(s)) => s.clone(),
        (_, Value::Array(list)) if list.iter().all(Value::is_string) => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        (_, other) => other.to_string(),
    }
}

/// `EEE MMM dd HH:mm:ss zzz yyyy` in UTC.
fn java_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let (y, m, d) = crate::clock::civil_from_days(days);
    let t = unix_secs % 86_400;
    format!(
        "{} {} {d:02} {:02}:{:02}:{:02} UTC {y}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    struct Signer {
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Signer {
        fn new() -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            Signer { pair, rng }
        }

        fn jwks(&self, kid: &str) -> Vec<u8> {
            let point = self.pair.public_key().as_ref();
            let (x, y) = point[1..].split_at(32);
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": kid,
                "x": BASE64URL_NOPAD.encode(x), "y": BASE64URL_NOPAD.encode(y)}]})
            .to_string()
            .into_bytes()
        }

        fn token(&self, kid: &str, claims: Value) -> String {
            let header = serde_json::json!({"alg": "ES256", "kid": kid}).to_string();
            let signed = format!(
                "{}.{}",
                BASE64URL_NOPAD.encode(header.as_bytes()),
                BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
            );
            let sig = self.pair.sign(&self.rng, signed.as_bytes()).unwrap();
            format!("{signed}.{}", BASE64URL_NOPAD.encode(sig.as_ref()))
        }
    }

    const ISS: &str = "https://issuer.example/pool";

    fn rules<'a>(aud: &'a [Box<str>], scopes: &'a [Box<str>]) -> Rules<'a> {
        Rules {
            issuer: ISS,
            audiences: aud,
            leeway_secs: 5,
            scopes,
            cognito: true,
        }
    }

    #[test]
    fn a_signed_id_token_verifies_and_its_claims_come_back() {
        let s = Signer::new();
        let keys = KeySet::parse(&s.jwks("k1")).unwrap();
        let aud: Vec<Box<str>> = vec!["client-1".into()];
        let t = s.token("k1", serde_json::json!({"iss": ISS, "aud": "client-1", "exp": 1000, "token_use": "id", "sub": "u"}));
        let claims = verify(&decode(&t).unwrap(), &keys, &rules(&aud, &[]), 990).unwrap();
        assert_eq!(claims["sub"], "u");
        // Expiry, with the leeway.
        assert!(verify(&decode(&t).unwrap(), &keys, &rules(&aud, &[]), 1004).is_ok());
        assert_eq!(
            verify(&decode(&t).unwrap(), &keys, &rules(&aud, &[]), 1005),
            Err(Rejection::Expired)
        );
        // Another audience.
        let other: Vec<Box<str>> = vec!["client-2".into()];
        assert!(matches!(
            verify(&decode(&t).unwrap(), &keys, &rules(&other, &[]), 990),
            Err(Rejection::Invalid(_))
        ));
    }

    #[test]
    fn tampering_unknown_keys_and_wrong_token_use_are_refused() {
        let s = Signer::new();
        let keys = KeySet::parse(&s.jwks("k1")).unwrap();
        let t = s.token(
            "k1",
            serde_json::json!({"iss": ISS, "exp": 2000, "token_use": "id"}),
        );
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = BASE64URL_NOPAD.encode(
            br#"{"iss":"https://issuer.example/pool","exp":2000,"token_use":"id","admin":true}"#,
        );
        parts[1] = &forged;
        let forged = parts.join(".");
        assert_eq!(
            verify(&decode(&forged).unwrap(), &keys, &rules(&[], &[]), 1),
            Err(Rejection::Invalid("bad signature".into()))
        );
        let other = s.token("k2", serde_json::json!({"iss": ISS, "exp": 2000}));
        assert_eq!(
            verify(&decode(&other).unwrap(), &keys, &rules(&[], &[]), 1),
            Err(Rejection::UnknownKey("k2".into()))
        );
        let access = s.token(
            "k1",
            serde_json::json!({"iss": ISS, "exp": 2000, "token_use": "access"}),
        );
        assert!(verify(&decode(&access).unwrap(), &keys, &rules(&[], &[]), 1).is_err());
        assert!(decode("a.b").is_err());
    }

    #[test]
    fn scopes_need_an_access_token_holding_one() {
        let s = Signer::new();
        let keys = KeySet::parse(&s.jwks("k1")).unwrap();
        let scopes: Vec<Box<str>> = vec!["pets/write".into(), "pets/admin".into()];
        let read = s.token("k1", serde_json::json!({"iss": ISS, "exp": 2000, "token_use": "access", "scope": "pets/read openid"}));
        assert_eq!(
            verify(&decode(&read).unwrap(), &keys, &rules(&[], &scopes), 1),
            Err(Rejection::MissingScope)
        );
        let write = s.token("k1", serde_json::json!({"iss": ISS, "exp": 2000, "token_use": "access", "scope": "openid pets/write", "client_id": "c"}));
        assert!(verify(&decode(&write).unwrap(), &keys, &rules(&[], &scopes), 1).is_ok());
        let aud: Vec<Box<str>> = vec!["c".into()];
        assert!(verify(&decode(&write).unwrap(), &keys, &rules(&aud, &scopes), 1).is_ok());
    }

    #[test]
    fn claims_render_as_a_rest_api_passes_them_on() {
        assert_eq!(
            claim_text("exp", &serde_json::json!(1680633579)),
            "Tue Apr 04 18:39:39 UTC 2023"
        );
        assert_eq!(
            claim_text("auth_time", &serde_json::json!(1680629979)),
            "1680629979"
        );
        assert_eq!(
            claim_text("cognito:groups", &serde_json::json!(["a", "b"])),
            "a,b"
        );
        assert_eq!(
            claim_text("email_verified", &serde_json::json!(true)),
            "true"
        );
        assert_eq!(claim_text("sub", &serde_json::json!("u-1")), "u-1");
    }

    #[test]
    fn key_sets_keep_rsa_and_ec_keys_and_skip_others() {
        let set = KeySet::parse(br#"{"keys":[{"kid":"r","kty":"RSA","n":"AQAB","e":"AQAB"},{"kid":"o","kty":"oct","k":"x"},{"kid":"e","kty":"EC","crv":"P-521","x":"AA","y":"AA"}]}"#).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("r").is_some());
        assert!(KeySet::parse(b"{}").is_err());
    }
}
