//! Cost of matching one request against a stage's resource tree, at three tree sizes.
//!
//! Each tree has `k` services shaped like a real API (`GET /svc{i}/items/{id}` and
//! `GET /svc{i}/items/{id}/tags`) plus a `GET /{proxy+}` catch-all, so 3, 101 and 10,001
//! routes. The numbers should be flat across sizes: matching walks the path, not the routes.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use tollgate::router::{HttpMethod, Params, Router};

/// Builds the tree for `services` services; values are route numbers.
fn build(services: usize) -> Router<usize> {
    let mut router = Router::new();
    let mut add = |method, path: &str| {
        let n = router.len();
        if let Err(e) = router.insert(method, path, n) {
            panic!("bench route {path}: {e}");
        }
    };
    for i in 0..services {
        add(HttpMethod::Get, &format!("/svc{i}/items/{{id}}"));
        add(HttpMethod::Get, &format!("/svc{i}/items/{{id}}/tags"));
    }
    add(HttpMethod::Get, "/{proxy+}");
    router
}

/// Matches `path` with a fresh `Params`, as the request pipeline does per request.
fn route(router: &Router<usize>, method: Option<HttpMethod>, path: &str) -> Option<usize> {
    let mut params = Params::new();
    let hit = router.find(method, path, &mut params).copied();
    black_box(&params);
    hit
}

fn bench_find(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    for services in [1, 50, 5_000] {
        let router = build(services);
        let routes = router.len();
        let last = services - 1;
        let cases = [
            (
                "literal_param_hit",
                Some(HttpMethod::Get),
                format!("/svc{last}/items/12345/tags"),
            ),
            (
                "greedy_hit",
                Some(HttpMethod::Get),
                "/static/css/site.css".to_owned(),
            ),
            // Walks to the deepest resource, finds no POST, backtracks and misses the greedy.
            (
                "miss",
                Some(HttpMethod::Post),
                format!("/svc{last}/items/12345/tags"),
            ),
        ];
        for (name, method, path) in &cases {
            let expect_hit = *name != "miss";
            assert_eq!(
                route(&router, *method, path).is_some(),
                expect_hit,
                "{name} {path}"
            );
            group.bench_with_input(BenchmarkId::new(*name, routes), path, |b, path| {
                b.iter(|| route(&router, black_box(*method), black_box(path)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_find);
criterion_main!(benches);
