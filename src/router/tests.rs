//! Unit tests for the router: validation, precedence, backtracking, greedy, parameters.

use super::*;

use HttpMethod::{Any, Delete, Get, Post};

/// Builds a router whose values are `"METHOD resource"` so a hit shows what matched.
fn router(routes: &[(HttpMethod, &str)]) -> Router<String> {
    let mut r = Router::new();
    for (m, path) in routes {
        let inserted = r.insert(*m, path, format!("{m} {path}"));
        assert_eq!(inserted, Ok(()), "{m} {path}");
    }
    r
}

/// Matches and returns the value plus the captured parameters.
fn hit(
    r: &Router<String>,
    m: Option<HttpMethod>,
    path: &str,
) -> Option<(String, Vec<(String, String)>)> {
    let mut params = Params::new();
    let value = r.find(m, path, &mut params)?;
    let pairs = params
        .iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Some((value.clone(), pairs))
}

/// Just the value that serves `m path`.
fn serves(r: &Router<String>, m: Option<HttpMethod>, path: &str) -> Option<String> {
    hit(r, m, path).map(|(v, _)| v)
}

/// Owned `(name, value)` pairs for comparisons.
fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// The `reason` of an `InvalidPath` error.
fn invalid_reason(path: &str) -> &'static str {
    match Router::<()>::new().insert(Get, path, ()) {
        Err(RouteError::InvalidPath { path: p, reason }) => {
            assert_eq!(p, path);
            reason
        }
        other => panic!("{path}: expected InvalidPath, got {other:?}"),
    }
}

// ---- methods -------------------------------------------------------------------------------

#[test]
fn parse_accepts_exactly_the_aws_spellings() {
    for m in HttpMethod::ALL {
        assert_eq!(HttpMethod::parse(m.as_str()), Some(m));
        assert_eq!(m.to_string(), m.as_str());
    }
    for bad in ["get", "Any", "any", "TRACE", "CONNECT", "", " GET", "GET "] {
        assert_eq!(HttpMethod::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn from_request_accepts_the_seven_request_methods_case_sensitively() {
    for m in HttpMethod::ALL.into_iter().filter(|m| *m != Any) {
        assert_eq!(HttpMethod::from_request(m.as_str().as_bytes()), Some(m));
    }
    for bad in [
        &b"ANY"[..],
        b"get",
        b"Get",
        b"TRACE",
        b"CONNECT",
        b"PROPFIND",
        b"",
        b"\xff",
    ] {
        assert_eq!(HttpMethod::from_request(bad), None, "{bad:?}");
    }
}

// ---- validation ------------------------------------------------------------------------------

#[test]
fn paths_must_start_with_a_slash() {
    assert!(invalid_reason("").contains("start with '/'"));
    assert!(invalid_reason("pets").contains("start with '/'"));
}

#[test]
fn only_the_root_may_end_with_a_slash() {
    assert!(invalid_reason("/pets/").contains("end with '/'"));
    assert!(invalid_reason("/pets/{id}/").contains("end with '/'"));
    assert_eq!(Router::new().insert(Get, "/", ()), Ok(()));
}

#[test]
fn empty_segments_are_refused() {
    for path in ["//", "//pets", "/pets//x"] {
        let reason = invalid_reason(path);
        assert!(
            reason.contains("empty segment") || reason.contains("end with '/'"),
            "{path}"
        );
    }
    assert!(invalid_reason("/pets//x").contains("empty segment"));
}

#[test]
fn parameter_names_are_restricted() {
    for path in [
        "/{}", "/{+}", "/{a b}", "/{a*}", "/{a}}", "/{{a}}", "/{é}", "/{a++}",
    ] {
        let reason = invalid_reason(path);
        assert!(reason.contains("parameter names"), "{path}: {reason}");
    }
    let mut r = Router::new();
    assert_eq!(r.insert(Get, "/{A-z_0.9}", ()), Ok(()));
}

#[test]
fn greedy_must_be_last() {
    assert!(invalid_reason("/{proxy+}/x").contains("last segment"));
    assert!(invalid_reason("/a/{p+}/{q}").contains("last segment"));
}

#[test]
fn braces_inside_literals_are_refused() {
    for path in ["/a{b}", "/{a}b", "/a}", "/{a", "/x/pre{id}post"] {
        assert!(invalid_reason(path).contains("inside a literal"), "{path}");
    }
}

#[test]
fn literals_that_no_request_could_match_are_refused() {
    for path in ["/a b", "/a?b", "/a#b", "/a\tb", "/a\u{7f}"] {
        assert!(
            invalid_reason(path).contains("literal segment cannot"),
            "{path:?}"
        );
    }
}

#[test]
fn duplicate_parameter_names_in_one_path_are_refused() {
    assert!(invalid_reason("/a/{id}/b/{id}").contains("used twice"));
    assert!(invalid_reason("/{id}/{id+}").contains("used twice"));
}

#[test]
fn at_most_sixteen_parameters() {
    let path = |n: usize| (0..n).map(|i| format!("/{{p{i}}}")).collect::<String>();
    let mut r = Router::new();
    assert_eq!(r.insert(Get, &path(MAX_PARAMS), ()), Ok(()));
    let err = r.insert(Get, &path(MAX_PARAMS + 1), ());
    assert_eq!(
        err,
        Err(RouteError::TooManyParams {
            path: path(17),
            count: 17,
            max: 16
        })
    );
}

#[test]
fn segment_count_is_bounded() {
    let path = |n: usize| "/s".repeat(n);
    assert_eq!(Router::new().insert(Get, &path(MAX_SEGMENTS), ()), Ok(()));
    assert!(invalid_reason(&path(MAX_SEGMENTS + 1)).contains("segments"));
}

#[test]
fn differently_named_sibling_parameters_conflict() {
    let mut r = router(&[(Get, "/pets/{id}"), (Get, "/files/{path+}")]);
    assert_eq!(
        r.insert(Get, "/pets/{petId}", String::new()),
        Err(RouteError::ConflictingParam {
            path: "/pets/{petId}".into(),
            name: "petId".into(),
            existing: "id".into(),
        })
    );
    let deep = r.insert(Post, "/pets/{petId}/tags", String::new());
    assert!(
        matches!(deep, Err(RouteError::ConflictingParam { .. })),
        "{deep:?}"
    );
    let greedy = r.insert(Get, "/files/{proxy+}", String::new());
    assert!(
        matches!(greedy, Err(RouteError::ConflictingParam { .. })),
        "{greedy:?}"
    );
    // Same name again is fine, and a param and a greedy param may be siblings.
    assert_eq!(r.insert(Post, "/pets/{id}", String::new()), Ok(()));
    assert_eq!(r.insert(Get, "/pets/{rest+}", String::new()), Ok(()));
}

#[test]
fn a_method_may_be_declared_once_per_resource() {
    let mut r = router(&[(Get, "/pets"), (Any, "/pets")]);
    assert_eq!(
        r.insert(Get, "/pets", String::new()),
        Err(RouteError::Duplicate {
            method: "GET".into(),
            path: "/pets".into()
        })
    );
    assert!(matches!(
        r.insert(Any, "/pets", String::new()),
        Err(RouteError::Duplicate { .. })
    ));
    assert_eq!(r.insert(Post, "/pets", String::new()), Ok(()));
}

#[test]
fn a_failed_insert_leaves_the_router_unchanged() {
    let mut r = router(&[(Get, "/pets/{id}")]);
    let before: Vec<_> = r
        .iter()
        .map(|(m, p, v)| (m, p.to_owned(), v.clone()))
        .collect();
    assert!(r
        .insert(Get, "/pets/{petId}/new/deep", String::new())
        .is_err());
    assert!(r.insert(Get, "/other/{a}/{a}", String::new()).is_err());
    assert!(r.insert(Get, "/pets/{id}", String::new()).is_err());
    let after: Vec<_> = r
        .iter()
        .map(|(m, p, v)| (m, p.to_owned(), v.clone()))
        .collect();
    assert_eq!(before, after);
    assert_eq!(r.len(), 1);
    // No half-built `/other` resource either: only the original route's nodes exist.
    assert!(format!("{r:?}").contains("\"/pets/{id}\""));
    assert!(!format!("{r:?}").contains("/other"));
}

#[test]
fn errors_render_with_the_path() {
    let e = Router::<()>::new().insert(Get, "pets", ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid resource path \"pets\": a resource path must start with '/'"
    );
    let mut r = router(&[(Get, "/p/{a}")]);
    let e = r.insert(Get, "/p/{b}", String::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource path \"/p/{b}\" names parameter {b} where a sibling already uses {a}"
    );
    let e = r.insert(Get, "/p/{a}", String::new()).unwrap_err();
    assert_eq!(e.to_string(), "duplicate method GET on /p/{a}");
}

// ---- precedence ------------------------------------------------------------------------------

#[test]
fn root_matches_only_the_root() {
    let r = router(&[(Get, "/"), (Get, "/pets")]);
    assert_eq!(serves(&r, Some(Get), "/").as_deref(), Some("GET /"));
    assert_eq!(serves(&r, Some(Get), "/pets").as_deref(), Some("GET /pets"));
    assert_eq!(serves(&r, Some(Get), "/cats"), None);
    assert_eq!(serves(&r, Some(Get), ""), None);
    assert_eq!(serves(&r, Some(Get), "pets"), None);
    assert_eq!(serves(&r, Some(Post), "/"), None);
}

#[test]
fn literal_beats_param_beats_greedy() {
    let r = router(&[
        (Get, "/pets/mine"),
        (Get, "/pets/{id}"),
        (Get, "/pets/{rest+}"),
        (Get, "/{proxy+}"),
    ]);
    assert_eq!(
        hit(&r, Some(Get), "/pets/mine"),
        Some(("GET /pets/mine".into(), vec![]))
    );
    assert_eq!(
        hit(&r, Some(Get), "/pets/7"),
        Some(("GET /pets/{id}".into(), pairs(&[("id", "7")])))
    );
    assert_eq!(
        hit(&r, Some(Get), "/pets/7/x"),
        Some(("GET /pets/{rest+}".into(), pairs(&[("rest", "7/x")])))
    );
    assert_eq!(
        hit(&r, Some(Get), "/cats/7"),
        Some(("GET /{proxy+}".into(), pairs(&[("proxy", "cats/7")])))
    );
}

#[test]
fn literal_beats_greedy_at_the_same_node() {
    let r = router(&[(Get, "/{proxy+}"), (Get, "/health")]);
    assert_eq!(
        serves(&r, Some(Get), "/health").as_deref(),
        Some("GET /health")
    );
    assert_eq!(
        serves(&r, Some(Get), "/healthz").as_deref(),
        Some("GET /{proxy+}")
    );
}

#[test]
fn specific_method_beats_any_on_the_same_resource() {
    let r = router(&[(Any, "/pets"), (Get, "/pets")]);
    assert_eq!(serves(&r, Some(Get), "/pets").as_deref(), Some("GET /pets"));
    assert_eq!(
        serves(&r, Some(Post), "/pets").as_deref(),
        Some("ANY /pets")
    );
    assert_eq!(serves(&r, None, "/pets").as_deref(), Some("ANY /pets"));
}

#[test]
fn resource_precedence_comes_before_method_precedence() {
    // The literal resource matches through ANY, so the parameter's exact GET is not consulted.
    let r = router(&[(Any, "/pets/mine"), (Get, "/pets/{id}")]);
    assert_eq!(
        serves(&r, Some(Get), "/pets/mine").as_deref(),
        Some("ANY /pets/mine")
    );
}

#[test]
fn unknown_request_methods_match_only_any() {
    let r = router(&[(Get, "/pets"), (Any, "/{proxy+}")]);
    assert_eq!(serves(&r, None, "/pets").as_deref(), Some("ANY /{proxy+}"));
    let only_get = router(&[(Get, "/pets")]);
    assert_eq!(serves(&only_get, None, "/pets"), None);
    assert_eq!(serves(&only_get, Some(HttpMethod::Head), "/pets"), None);
}

// ---- backtracking ----------------------------------------------------------------------------

#[test]
fn literal_without_usable_method_falls_back_to_param() {
    let r = router(&[(Post, "/pets/mine"), (Get, "/pets/{id}")]);
    assert_eq!(
        hit(&r, Some(Get), "/pets/mine"),
        Some(("GET /pets/{id}".into(), pairs(&[("id", "mine")])))
    );
    assert_eq!(
        hit(&r, Some(Post), "/pets/mine"),
        Some(("POST /pets/mine".into(), vec![]))
    );
}

#[test]
fn literal_branch_dead_end_deeper_down_falls_back() {
    let r = router(&[(Get, "/a/b/c"), (Get, "/a/{x}/d")]);
    assert_eq!(
        hit(&r, Some(Get), "/a/b/d"),
        Some(("GET /a/{x}/d".into(), pairs(&[("x", "b")])))
    );
    assert_eq!(
        hit(&r, Some(Get), "/a/b/c"),
        Some(("GET /a/b/c".into(), vec![]))
    );
    assert_eq!(hit(&r, Some(Get), "/a/b/e"), None);
}

#[test]
fn param_branch_dead_end_falls_back_to_greedy_without_stale_params() {
    let r = router(&[(Get, "/{x}/y"), (Get, "/{proxy+}")]);
    assert_eq!(
        hit(&r, Some(Get), "/q/z"),
        Some(("GET /{proxy+}".into(), pairs(&[("proxy", "q/z")])))
    );
}

#[test]
fn dead_end_falls_back_to_an_ancestors_greedy() {
    let r = router(&[(Any, "/{proxy+}"), (Get, "/pets/{id}")]);
    assert_eq!(
        hit(&r, Some(Delete), "/pets/1"),
        Some(("ANY /{proxy+}".into(), pairs(&[("proxy", "pets/1")])))
    );
    assert_eq!(
        hit(&r, Some(Get), "/pets/1"),
        Some(("GET /pets/{id}".into(), pairs(&[("id", "1")])))
    );
    // `/pets` itself declares nothing, so the greedy ancestor serves it.
    assert_eq!(
        serves(&r, Some(Get), "/pets").as_deref(),
        Some("ANY /{proxy+}")
    );
}

#[test]
fn intermediate_resources_without_methods_do_not_match() {
    let r = router(&[(Get, "/pets/{id}")]);
    assert_eq!(serves(&r, Some(Get), "/pets"), None);
    assert_eq!(serves(&r, Some(Get), "/"), None);
}

// ---- greedy ----------------------------------------------------------------------------------

#[test]
fn greedy_takes_one_or_more_segments_raw() {
    let r = router(&[(Get, "/files/{proxy+}")]);
    let proxy = |path| hit(&r, Some(Get), path).map(|(_, p)| p);
    assert_eq!(proxy("/files/a"), Some(pairs(&[("proxy", "a")])));
    assert_eq!(proxy("/files/a/b/c"), Some(pairs(&[("proxy", "a/b/c")])));
    assert_eq!(proxy("/files/a/b/"), Some(pairs(&[("proxy", "a/b")])));
    assert_eq!(
        proxy("/files/a%20b/c%2F"),
        Some(pairs(&[("proxy", "a%20b/c%2F")]))
    );
    assert_eq!(proxy("/files"), None);
    assert_eq!(proxy("/files/"), None);
    assert_eq!(proxy("/files//"), None);
    assert_eq!(proxy("/files//a"), None);
}

#[test]
fn root_greedy_does_not_match_the_root() {
    let r = router(&[(Any, "/{proxy+}")]);
    assert_eq!(serves(&r, Some(Get), "/"), None);
    assert_eq!(serves(&r, Some(Get), "//"), None);
    assert_eq!(
        hit(&r, Some(Get), "/x"),
        Some(("ANY /{proxy+}".into(), pairs(&[("proxy", "x")])))
    );
}

#[test]
fn greedy_and_its_parent_are_separate_resources() {
    let r = router(&[(Get, "/files"), (Post, "/files/{key+}")]);
    assert_eq!(
        serves(&r, Some(Get), "/files").as_deref(),
        Some("GET /files")
    );
    assert_eq!(serves(&r, Some(Get), "/files/a"), None);
    assert_eq!(
        serves(&r, Some(Post), "/files/a").as_deref(),
        Some("POST /files/{key+}")
    );
}

#[test]
fn greedy_after_params_collects_all() {
    let r = router(&[(Get, "/u/{user}/f/{path+}")]);
    assert_eq!(
        hit(&r, Some(Get), "/u/ann/f/x/y.txt").map(|(_, p)| p),
        Some(pairs(&[("user", "ann"), ("path", "x/y.txt")]))
    );
}

// ---- request path details --------------------------------------------------------------------

#[test]
fn one_trailing_slash_is_ignored() {
    let r = router(&[(Get, "/pets"), (Get, "/pets/{id}")]);
    assert_eq!(
        serves(&r, Some(Get), "/pets/").as_deref(),
        Some("GET /pets")
    );
    assert_eq!(
        hit(&r, Some(Get), "/pets/7/"),
        Some(("GET /pets/{id}".into(), pairs(&[("id", "7")])))
    );
    assert_eq!(serves(&r, Some(Get), "/pets//"), None);
}

#[test]
fn empty_request_segments_match_neither_literals_nor_params() {
    let r = router(&[(Get, "/pets/{id}/x"), (Get, "/pets/x")]);
    assert_eq!(serves(&r, Some(Get), "/pets//x"), None);
    assert_eq!(serves(&r, Some(Get), "//pets/x"), None);
    let greedy = router(&[(Get, "/{proxy+}")]);
    assert_eq!(
        hit(&greedy, Some(Get), "/pets//x").map(|(_, p)| p),
        Some(pairs(&[("proxy", "pets//x")]))
    );
    assert_eq!(serves(&greedy, Some(Get), "//x"), None);
}

#[test]
fn literals_compare_raw_and_case_sensitively() {
    let r = router(&[(Get, "/Pets"), (Get, "/caf%C3%A9")]);
    assert_eq!(serves(&r, Some(Get), "/Pets").as_deref(), Some("GET /Pets"));
    assert_eq!(serves(&r, Some(Get), "/pets"), None);
    assert_eq!(
        serves(&r, Some(Get), "/caf%C3%A9").as_deref(),
        Some("GET /caf%C3%A9")
    );
    assert_eq!(serves(&r, Some(Get), "/caf%c3%a9"), None);
    assert_eq!(serves(&r, Some(Get), "/café"), None);
}

#[test]
fn parameter_values_stay_percent_encoded() {
    let r = router(&[(Get, "/pets/{id}")]);
    assert_eq!(
        hit(&r, Some(Get), "/pets/a%2Fb%20c").map(|(_, p)| p),
        Some(pairs(&[("id", "a%2Fb%20c")]))
    );
    assert_eq!(
        hit(&r, Some(Get), "/pets/%E2%9C%93").map(|(_, p)| p),
        Some(pairs(&[("id", "%E2%9C%93")]))
    );
}

// ---- parameters ------------------------------------------------------------------------------

#[test]
fn params_are_returned_in_path_order_and_found_by_name() {
    let r = router(&[(Get, "/orgs/{org}/repos/{repo}/issues/{n}")]);
    let mut params = Params::new();
    let path = String::from("/orgs/acme/repos/gw/issues/42");
    assert!(r.find(Some(Get), &path, &mut params).is_some());
    assert_eq!(params.len(), 3);
    assert!(!params.is_empty());
    assert_eq!(params.get("org"), Some("acme"));
    assert_eq!(params.get("repo"), Some("gw"));
    assert_eq!(params.get("n"), Some("42"));
    assert_eq!(params.get("missing"), None);
    let names: Vec<_> = params.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["org", "repo", "n"]);
    assert_eq!(
        format!("{params:?}"),
        r#"{"org": "acme", "repo": "gw", "n": "42"}"#
    );
}

#[test]
fn find_starts_from_empty_params() {
    let r = router(&[(Get, "/pets/{id}"), (Get, "/pets")]);
    let (a, b) = (String::from("/pets/1"), String::from("/pets"));
    let mut params = Params::default();
    assert!(r.find(Some(Get), &a, &mut params).is_some());
    assert_eq!(params.len(), 1);
    assert!(r.find(Some(Get), &b, &mut params).is_some());
    assert!(params.is_empty());
    assert_eq!(params.get("id"), None);
    assert!(r.find(Some(Get), &a, &mut params).is_some());
    params.clear();
    assert!(params.is_empty());
}

#[test]
fn sixteen_params_fit() {
    let resource: String = (0..MAX_PARAMS).map(|i| format!("/{{p{i}}}")).collect();
    let path: String = (0..MAX_PARAMS).map(|i| format!("/v{i}")).collect();
    let r = router(&[(Get, &resource)]);
    let (_, got) = hit(&r, Some(Get), &path).expect("match");
    assert_eq!(got.len(), MAX_PARAMS);
    assert_eq!(got[15], ("p15".into(), "v15".into()));
}

// ---- scale, iteration, traits ----------------------------------------------------------------

#[test]
fn ten_thousand_routes_all_match_correctly() {
    let mut r = Router::new();
    for i in 0..5_000 {
        r.insert(Get, &format!("/svc{i}/items/{{id}}"), i * 2)
            .unwrap();
        r.insert(Get, &format!("/svc{i}/items/{{id}}/tags"), i * 2 + 1)
            .unwrap();
    }
    r.insert(Any, "/{proxy+}", usize::MAX).unwrap();
    assert_eq!(r.len(), 10_001);
    for i in 0..5_000 {
        let path = format!("/svc{i}/items/x{i}");
        let mut params = Params::new();
        assert_eq!(r.find(Some(Get), &path, &mut params), Some(&(i * 2)));
        assert_eq!(params.get("id"), Some(format!("x{i}").as_str()));
        let tags = format!("/svc{i}/items/{i}/tags");
        assert_eq!(
            r.find(Some(Get), &tags, &mut Params::new()),
            Some(&(i * 2 + 1))
        );
        let post = format!("/svc{i}/items/{i}/tags");
        let mut params = Params::new();
        assert_eq!(r.find(Some(Post), &post, &mut params), Some(&usize::MAX));
        assert_eq!(params.get("proxy"), Some(&post[1..]));
    }
    assert_eq!(
        r.find(Some(Get), "/svc5000/items/1", &mut Params::new()),
        Some(&usize::MAX)
    );
    assert_eq!(r.find(Some(Get), "/", &mut Params::new()), None);
    assert_eq!(r.iter().count(), 10_001);
}

#[test]
fn literal_lookup_survives_the_switch_to_a_hash_index() {
    let mut r = Router::new();
    for n in 0..20 {
        r.insert(Get, &format!("/k{n}"), n).unwrap();
        for m in 0..=n {
            assert_eq!(
                r.find(Some(Get), &format!("/k{m}"), &mut Params::new()),
                Some(&m)
            );
        }
        assert_eq!(r.find(Some(Get), "/k99", &mut Params::new()), None);
    }
}

#[test]
fn iter_lists_routes_parents_first_in_configuration_order() {
    let r = router(&[
        (Post, "/pets"),
        (Get, "/pets/{id}"),
        (Get, "/pets"),
        (Any, "/{proxy+}"),
        (Get, "/users"),
        (Get, "/"),
    ]);
    let listed: Vec<_> = r.iter().map(|(m, p, v)| (m, p, v.as_str())).collect();
    assert_eq!(
        listed,
        [
            (Get, "/", "GET /"),
            (Get, "/pets", "GET /pets"),
            (Post, "/pets", "POST /pets"),
            (Get, "/pets/{id}", "GET /pets/{id}"),
            (Get, "/users", "GET /users"),
            (Any, "/{proxy+}", "ANY /{proxy+}"),
        ]
    );
    assert_eq!((&r).into_iter().count(), r.len());
    assert!(!r.is_empty());
    assert!(Router::<()>::new().is_empty());
    assert_eq!(Router::<()>::new().iter().count(), 0);
}

#[test]
fn router_is_send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Router<std::sync::Arc<String>>>();
    assert_send_sync::<Params<'static, 'static>>();
    let r = router(&[(Get, "/pets/{id}")]);
    let shown = format!("{r:?}");
    assert!(shown.contains("GET /pets/{id}"), "{shown}");
    assert!(format!("{:?}", r.iter()).starts_with("Iter"));
}

#[test]
fn no_input_panics() {
    // A small deterministic generator over the characters that matter to the parser.
    const ALPHABET: &[&str] = &[
        "/", "/", "a", "b", "{", "}", "+", "%2F", "é", "", "{a}", "{b+}",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut word = |len: u64| -> String {
        (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect()
    };
    let mut r = Router::new();
    let mut inserted = 0;
    for i in 0..2_000 {
        let path = word(i % 9);
        inserted += usize::from(r.insert(HttpMethod::ALL[i as usize % 8], &path, i).is_ok());
    }
    assert_eq!(r.len(), inserted);
    assert!(inserted > 0);
    for i in 0..20_000 {
        let path = word(i % 12);
        let mut params = Params::new();
        if r.find(HttpMethod::from_request(b"GET"), &path, &mut params)
            .is_some()
        {
            assert!(params.len() <= MAX_PARAMS);
        }
        let _ = r.find(None, &path, &mut params);
    }
}
