//! Cost of each authorization decision a shard makes per request, beside what the same
//! request costs to parse and route in the same run (`auth/none`): what a method with no
//! authorization pays for those steps.
//!
//! - `auth/lambda_cached`: a Lambda authorizer's cached grant — the method ARN written, the
//!   shard's grant cache looked up, the cached policy evaluated against the ARN.
//! - `auth/jwt_cached`: a JWT (RS256) the shard verified before — the token cache looked up and
//!   the claims checked against the method's rules.
//! - `auth/jwt_rs256`: the same token verified from scratch with the key set warm (a token's
//!   first request on a shard).
//! - `auth/sigv4`: a SigV4-signed `GET` verified (canonical request, string to sign, HMAC),
//!   the day's signing key cached as it is after a caller's first request;
//!   `auth/sigv4_hashes_only`: the hashing in it that no verifier can avoid (SHA-256 of the
//!   canonical request, HMAC-SHA256 of the string to sign), alone.
//!
//! Whole-request ratios (kernel included) come from `loadtest/auth.sh`; these pin each step's
//! user-space cost so a regression in one shows up on its own.

use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use data_encoding::BASE64URL_NOPAD;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use tollgate::auth::cache::DecisionCache;
use tollgate::auth::iam::{self, AccessKey, IamUser, Identities, SignedRequest, SigningKeys};
use tollgate::auth::jwt::{self, KeySet, Rules, VerifiedToken};
use tollgate::auth::policy::{AsWritten, Decision, PolicyRequest};
use tollgate::auth::{arn, lambda, Policy};
use tollgate::clock::Clock;
use tollgate::http::RequestHead;
use tollgate::router::{HttpMethod, Params, Router};
use tollgate::upstream::sigv4::{self, Credentials, Scope, SigningTime};

/// 2026-12-01T12:00:00Z.
const NOW: u64 = 1_796_126_400;
const HOST: &str = "api.example.com";
const REGION: &str = "us-east-1";
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench";

/// A request as clients send one, the authorization header added per case.
fn request(authorization: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET /prod/pets/42 HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: bench/1.0\r\n\
         Accept: application/json\r\nAuthorization: {authorization}\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// The stage's routes: a few methods beside the one requested.
fn router() -> Router<usize> {
    let mut router = Router::new();
    for (i, path) in ["/pets", "/pets/{id}", "/pets/{id}/toys", "/{proxy+}"]
        .iter()
        .enumerate()
    {
        if let Err(e) = router.insert(HttpMethod::Get, path, i) {
            panic!("bench route {path}: {e}");
        }
    }
    router
}

/// What every case pays too: the head parsed and the route found.
fn parse_and_route(head: &mut RequestHead, router: &Router<usize>, raw: &[u8]) -> usize {
    if head.parse(raw, 8192).is_err() {
        panic!("the bench request does not parse");
    }
    let path = std::str::from_utf8(head.path.get(raw)).unwrap_or("/");
    let mut params = Params::new();
    let hit = router.find(Some(HttpMethod::Get), &path[5..], &mut params);
    black_box(&params);
    hit.copied().unwrap_or(usize::MAX)
}

fn facts(resource: &str) -> PolicyRequest<'_> {
    PolicyRequest {
        action: "execute-api:Invoke",
        resource,
        principal: None,
        source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        secure: false,
        user_agent: None,
        referer: None,
    }
}

/// An authorizer's typical answer: allow the stage, a few context values.
fn grant() -> lambda::Grant {
    let result = serde_json::json!({
        "principalId": "user-1234",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke",
             "Resource": "arn:aws:execute-api:us-east-1:111122223333:petstore/prod/GET/*"},
            {"Effect": "Deny", "Action": "execute-api:Invoke",
             "Resource": "arn:aws:execute-api:us-east-1:111122223333:petstore/prod/DELETE/*"}]},
        "context": {"tier": "gold", "userId": 1234, "admin": false},
    });
    match lambda::parse_result(result.to_string().as_bytes()) {
        Ok(g) => g,
        Err(e) => panic!("the bench grant does not parse: {e}"),
    }
}

/// A fresh RSA-2048 key from `openssl` (ring verifies RSA but does not generate it).
fn rsa_key() -> RsaKeyPair {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .args(["-outform", "DER"])
        .output();
    let der = match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => panic!("openssl genpkey: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("openssl genpkey: {e}"),
    };
    // `-outform DER` writes PKCS#1 `RSAPrivateKey`, which `from_der` reads.
    match RsaKeyPair::from_der(&der) {
        Ok(k) => k,
        Err(e) => panic!("the generated key: {e}"),
    }
}

/// The key set holding `key` as `kid` and an RS256 ID token it signed.
fn jwt_fixture(key: &RsaKeyPair) -> (KeySet, String) {
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
    let jwks = serde_json::json!({"keys": [{
        "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
        "n": BASE64URL_NOPAD.encode(&public.n), "e": BASE64URL_NOPAD.encode(&public.e),
    }]});
    let keys = match KeySet::parse(jwks.to_string().as_bytes()) {
        Ok(k) => k,
        Err(e) => panic!("the bench key set: {e}"),
    };
    let header = serde_json::json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
    let claims = serde_json::json!({
        "sub": "8b1e2c3d-0000-4000-8000-000000000001", "iss": ISSUER, "aud": "client-1",
        "token_use": "id", "iat": NOW - 60, "exp": NOW + 3600, "email": "a@example.com",
        "cognito:username": "alice", "email_verified": true,
    });
    let signed = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; key.public().modulus_len()];
    if key
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signed.as_bytes(),
            &mut sig,
        )
        .is_err()
    {
        panic!("signing the bench token failed");
    }
    let token = format!("{signed}.{}", BASE64URL_NOPAD.encode(&sig));
    (keys, token)
}

fn bench_none(c: &mut Criterion, group: &str) {
    let (router, raw) = (router(), request("none", ""));
    let mut head = RequestHead::new();
    c.bench_function(&format!("{group}/none"), |b| {
        b.iter(|| parse_and_route(&mut head, &router, black_box(&raw)))
    });
}

fn bench_lambda_cached(c: &mut Criterion, group: &str) {
    let cache = DecisionCache::new(Clock::fixed(NOW * 1000), 8 << 20);
    let key = "petstore\0prod\0tokens\0Bearer allow-user-1234";
    cache.put(key, Rc::new(grant()), 300_000);
    let (router, raw) = (router(), request("Bearer allow-user-1234", ""));
    let mut head = RequestHead::new();
    let mut method_arn = String::with_capacity(128);
    c.bench_function(&format!("{group}/lambda_cached"), |b| {
        b.iter(|| {
            parse_and_route(&mut head, &router, black_box(&raw));
            let path = "/pets/42";
            arn::method_arn(
                &mut method_arn,
                REGION,
                "111122223333",
                "petstore",
                "prod",
                "GET",
                path,
            );
            let Some(grant) = cache.get(black_box(key)) else {
                panic!("the cached grant is gone");
            };
            let decision = grant.policy.evaluate(&facts(&method_arn));
            assert_eq!(decision, Decision::Allow);
        })
    });
}

fn bench_jwt(c: &mut Criterion, group: &str) {
    let key = rsa_key();
    let (keys, token) = jwt_fixture(&key);
    let audiences: Vec<Box<str>> = vec!["client-1".into()];
    let rules = Rules {
        issuer: ISSUER,
        audiences: &audiences,
        leeway_secs: 0,
        scopes: &[],
        cognito: true,
    };
    let (router, raw) = (router(), request(&format!("Bearer {token}"), ""));
    let mut head = RequestHead::new();
    c.bench_function(&format!("{group}/jwt_rs256"), |b| {
        b.iter(|| {
            parse_and_route(&mut head, &router, black_box(&raw));
            let decoded = jwt::decode(black_box(&token)).map_err(|e| format!("{e:?}"));
            let claims = decoded
                .and_then(|d| jwt::verify(&d, &keys, &rules, NOW).map_err(|e| format!("{e:?}")));
            if let Err(e) = claims {
                panic!("the bench token is refused: {e}");
            }
        })
    });
    let Ok(claims) = jwt::decode(&token).and_then(|d| jwt::verify(&d, &keys, &rules, NOW)) else {
        panic!("the bench token is refused");
    };
    // Nothing listens on port 1: the source's background fetch fails quietly.
    let source = tollgate::auth::jwks::source("http://127.0.0.1:1/.well-known/jwks.json");
    let tokens = jwt::VerifiedTokens::new(Clock::fixed(NOW * 1000), 8 << 20);
    tokens.put(
        jwt::cache_key(&token),
        Rc::new(VerifiedToken::new(&token, &claims, &source)),
        3_600_000,
    );
    c.bench_function(&format!("{group}/jwt_cached"), |b| {
        b.iter(|| {
            parse_and_route(&mut head, &router, black_box(&raw));
            let Some(hit) = tokens.get(jwt::cache_key(black_box(&token))) else {
                panic!("the cached token is gone");
            };
            assert!(*hit.token == *token && *hit.source == *source.uri);
            assert!(hit.check(&rules, NOW).is_ok());
        })
    });
}

fn bench_sigv4(c: &mut Criterion, group: &str) {
    let user = Arc::new(IamUser {
        name: "alice".into(),
        arn: "arn:aws:iam::111122223333:user/alice".into(),
        user_id: iam::user_id("arn:aws:iam::111122223333:user/alice"),
        account: "111122223333".into(),
        policy: Policy::parse(
            r#"{"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]}"#,
            &AsWritten,
        )
        .ok(),
    });
    let creds = Credentials {
        access_key_id: "AKIAALICE0000000001".into(),
        secret_access_key: "alice-secret-key/0123456789".into(),
        session_token: None,
    };
    let identities = Identities::new([(
        creds.access_key_id.as_str().into(),
        AccessKey {
            secret: creds.secret_access_key.as_str().into(),
            session_token: None,
            user,
        },
    )]);
    let scope = Scope {
        region: REGION,
        service: iam::SERVICE,
    };
    let headers = [("host", HOST)];
    let added = sigv4::sign(
        "GET",
        "/prod/pets/42",
        "",
        &headers,
        b"",
        &creds,
        &scope,
        &SigningTime::from_unix(NOW),
    );
    let header = |name: &str| {
        added
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    };
    let authorization = header("authorization");
    let extra = format!("X-Amz-Date: {}\r\n", header("x-amz-date"));
    let (router, raw) = (router(), request(authorization, &extra));
    let keys = SigningKeys::new(Clock::fixed(NOW * 1000), 1 << 20);
    // The floor: only the hashing a verification cannot avoid, on the same request's canonical
    // request and string to sign (SHA-256 of one, HMAC-SHA256 of the other).
    let text_headers = [("host", HOST), ("x-amz-date", header("x-amz-date"))];
    let time = SigningTime::from_unix(NOW);
    let creq = sigv4::canonical_request(
        "GET",
        "/prod/pets/42",
        "",
        &text_headers,
        &["host", "x-amz-date"],
        sigv4::EMPTY_SHA256,
        true,
    );
    let sts = sigv4::string_to_sign(&time, &scope, &creq);
    let key = sigv4::signing_key(&creds.secret_access_key, time.date(), &scope);
    c.bench_function(&format!("{group}/sigv4_hashes_only"), |b| {
        b.iter(|| {
            let hash = ring::digest::digest(&ring::digest::SHA256, black_box(creq.as_bytes()));
            black_box(hash);
            ring::hmac::sign(&key, black_box(sts.as_bytes()))
        })
    });
    let mut head = RequestHead::new();
    c.bench_function(&format!("{group}/sigv4"), |b| {
        b.iter(|| {
            parse_and_route(&mut head, &router, black_box(&raw));
            let list: Vec<(&str, &str)> = head
                .headers
                .iter()
                .map(|h| (text(h.name.get(&raw)), text(h.value.get(&raw))))
                .collect();
            let req = SignedRequest {
                method: "GET",
                path: "/prod/pets/42",
                query: None,
                headers: &list,
                body: b"",
            };
            if let Err(e) = iam::verify(&identities, &keys, &req, REGION, NOW) {
                panic!("the bench signature is refused: {e:?}");
            }
        })
    });
}

/// Header bytes as text (the bench's are ASCII).
fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

fn bench_auth(c: &mut Criterion) {
    let group = "auth";
    bench_none(c, group);
    bench_lambda_cached(c, group);
    bench_jwt(c, group);
    bench_sigv4(c, group);
}

criterion_group!(benches, bench_auth);
criterion_main!(benches);
