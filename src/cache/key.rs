//! The cache key of a request, as API Gateway composes it: HTTP method, resource path, path
//! parameter values, then the values of the query strings and headers configured as cache key
//! parameters. Everything else (other headers, other query strings, the body) does not vary
//! the entry.
//!
//! The key is written into a reusable buffer as length-prefixed parts, so two different
//! requests can never produce the same bytes (`a=b&c` vs `a=b%26c` ...), and hashed with ahash
//! for the map; the full bytes are kept in the entry and compared on lookup.

use crate::http::RequestHead;
use crate::router::Params;

/// One configured cache key parameter (`method.request.querystring.NAME`,
/// `method.request.header.NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyParam {
    /// A query string parameter, matched by its name as sent (not decoded).
    Query(Box<str>),
    /// A request header, name stored lower case and matched case-insensitively.
    Header(Box<str>),
}

/// Writes the key of a request into `out` (cleared first). `stage_id` comes first so that
/// keys (and their hashes, which also key the fetches in flight) never meet across stages.
#[allow(clippy::too_many_arguments)]
pub fn compose(
    out: &mut Vec<u8>,
    stage_id: &str,
    method: &[u8],
    resource_path: &str,
    params: &Params<'_, '_>,
    key_params: &[KeyParam],
    head: &RequestHead,
    base: &[u8],
) {
    out.clear();
    part(out, b's', stage_id.as_bytes());
    part(out, b'm', method);
    part(out, b'r', resource_path.as_bytes());
    for (name, value) in params.iter() {
        part(out, b'p', name.as_bytes());
        part(out, b'v', value.as_bytes());
    }
    let query = head.query.map_or(&b""[..], |q| q.get(base));
    for kp in key_params {
        match kp {
            KeyParam::Query(name) => {
                part(out, b'q', name.as_bytes());
                for value in query_values(query, name.as_bytes()) {
                    part(out, b'v', value);
                }
            }
            KeyParam::Header(name) => {
                part(out, b'h', name.as_bytes());
                for h in &head.headers {
                    if h.name.get(base).eq_ignore_ascii_case(name.as_bytes()) {
                        part(out, b'v', h.value.get(base));
                    }
                }
            }
        }
    }
}

/// Appends a tagged, length-prefixed part.
fn part(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Values of query parameter `name` in a raw query string, in order (`a` alone has the empty
/// value).
fn query_values<'q>(query: &'q [u8], name: &'q [u8]) -> impl Iterator<Item = &'q [u8]> + 'q {
    query.split(|&b| b == b'&').filter_map(move |pair| {
        let (n, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        (n == name).then_some(v)
    })
}

/// Whether the request asks for a fresh answer (`Cache-Control: max-age=0`), which refetches
/// and refills the entry when the caller may invalidate the cache.
pub fn wants_refresh(head: &RequestHead, base: &[u8]) -> bool {
    head.headers
        .iter()
        .filter(|h| h.name.get(base).eq_ignore_ascii_case(b"cache-control"))
        .any(|h| crate::http::contains_token(h.value.get(base), "max-age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Parsed;
    use crate::router::{HttpMethod, Router};

    fn key_of(raw: &str, key_params: &[KeyParam]) -> Vec<u8> {
        let raw = raw.as_bytes();
        let mut head = RequestHead::new();
        assert_eq!(head.parse(raw, 8192), Ok(Parsed::Complete));
        let mut router = Router::default();
        router.insert(HttpMethod::Get, "/pets/{id}", ()).unwrap();
        let mut params = Params::default();
        let path = std::str::from_utf8(head.path.get(raw)).unwrap();
        let path = path.strip_prefix("/prod").unwrap();
        router
            .find(Some(HttpMethod::Get), path, &mut params)
            .unwrap();
        let mut out = Vec::new();
        compose(
            &mut out,
            "api/prod",
            head.method.get(raw),
            "/pets/{id}",
            &params,
            key_params,
            &head,
            raw,
        );
        out
    }

    const KP: &[KeyParam] = &[];

    #[test]
    fn path_parameters_vary_the_key() {
        let a = key_of("GET /prod/pets/1 HTTP/1.1\r\nHost: x\r\n\r\n", KP);
        let b = key_of("GET /prod/pets/2 HTTP/1.1\r\nHost: x\r\n\r\n", KP);
        assert_ne!(a, b);
    }

    #[test]
    fn only_configured_query_strings_and_headers_vary_the_key() {
        let kp = [
            KeyParam::Query("type".into()),
            KeyParam::Header("accept".into()),
        ];
        let base = key_of(
            "GET /prod/pets/1?type=dog&page=1 HTTP/1.1\r\nHost: x\r\nAccept: a\r\nX-Other: 1\r\n\r\n",
            &kp,
        );
        let other_query = key_of(
            "GET /prod/pets/1?page=2&type=dog HTTP/1.1\r\nHost: x\r\nAccept: a\r\nX-Other: 2\r\n\r\n",
            &kp,
        );
        assert_eq!(base, other_query, "page and X-Other are not key parameters");
        let other_type = key_of(
            "GET /prod/pets/1?type=cat HTTP/1.1\r\nHost: x\r\nAccept: a\r\n\r\n",
            &kp,
        );
        assert_ne!(base, other_type);
        let other_accept = key_of(
            "GET /prod/pets/1?type=dog HTTP/1.1\r\nHost: x\r\naccept: b\r\n\r\n",
            &kp,
        );
        assert_ne!(base, other_accept);
        // Without key parameters, the query does not matter at all.
        assert_eq!(
            key_of("GET /prod/pets/1?type=dog HTTP/1.1\r\nHost: x\r\n\r\n", KP),
            key_of("GET /prod/pets/1?type=cat HTTP/1.1\r\nHost: x\r\n\r\n", KP)
        );
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        let kp = [KeyParam::Query("a".into())];
        let one = key_of("GET /prod/pets/1?a=x&a=y HTTP/1.1\r\nHost: x\r\n\r\n", &kp);
        let two = key_of("GET /prod/pets/1?a=xa HTTP/1.1\r\nHost: x\r\n\r\n", &kp);
        let absent = key_of("GET /prod/pets/1 HTTP/1.1\r\nHost: x\r\n\r\n", &kp);
        let empty = key_of("GET /prod/pets/1?a= HTTP/1.1\r\nHost: x\r\n\r\n", &kp);
        assert_ne!(one, two);
        assert_ne!(absent, empty);
    }

    #[test]
    fn max_age_zero_is_recognised_among_directives() {
        let check = |raw: &str| {
            let mut head = RequestHead::new();
            assert_eq!(head.parse(raw.as_bytes(), 8192), Ok(Parsed::Complete));
            wants_refresh(&head, raw.as_bytes())
        };
        assert!(check(
            "GET / HTTP/1.1\r\nHost: x\r\nCache-Control: no-transform, Max-Age=0\r\n\r\n"
        ));
        assert!(!check(
            "GET / HTTP/1.1\r\nHost: x\r\nCache-Control: max-age=10\r\n\r\n"
        ));
        assert!(!check("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
}
