//! Cost of the traffic phase per request: a method with only the account and stage throttles,
//! and a keyed method (API key lookup + constant-time compare, per-key-method, per-key, stage
//! and account buckets, quota, usage count). Limits are high so every request is admitted:
//! this is the common path, leases hitting the shared word once per lease.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tollgate::clock::Clock;
use tollgate::pipeline::request_filter::route;
use tollgate::pipeline::throttle_filter::check;
use tollgate::router::Params;
use tollgate::snapshot::Snapshot;
use tollgate::throttle::TrafficNode;

const KEY: &[u8] = b"benchbenchbenchbenchbench";
const HIGH: &str = "{ rate_limit = 1000000000, burst_limit = 1000000000 }";

fn snapshot(dir: &std::path::Path) -> Snapshot {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "gateway.toml",
        "[server]\ndefault_api = \"b\"\n[throttle]\nrate_limit = 1000000000\nburst_limit = 1000000000\n"
            .to_string(),
    );
    write(
        "apis/b.toml",
        format!(
            "id = \"b\"\n[stages.s]\ndeployment = \"d\"\nthrottle = {HIGH}\n\
             [deployments.d.methods.\"GET /plain\"]\nintegration = {{ type = \"MOCK\" }}\n\
             [deployments.d.methods.\"GET /keyed\"]\napi_key_required = true\nintegration = {{ type = \"MOCK\" }}\n"
        ),
    );
    write(
        "usage_plans.toml",
        format!(
            "[plans.p]\nthrottle = {HIGH}\nquota = {{ limit = 1000000000000, period = \"MONTH\" }}\n\
             [[plans.p.stages]]\napi = \"b\"\nstage = \"s\"\nmethod_throttle = {{ \"GET /keyed\" = {HIGH} }}\n"
        ),
    );
    write(
        "api_keys.toml",
        format!(
            "[keys.k]\nvalue = \"{}\"\nusage_plans = [\"p\"]\n",
            std::str::from_utf8(KEY).unwrap()
        ),
    );
    let mut s = tollgate::config::load(dir, 1)
        .expect("bench config")
        .snapshot;
    TrafficNode::in_memory(1, Clock::default()).link(&mut s);
    s
}

fn bench_check(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let s = snapshot(dir.path());
    let mut group = c.benchmark_group("throttle_check");
    for (name, path, key) in [
        ("plain", "/s/plain", None),
        ("keyed", "/s/keyed", Some(KEY)),
    ] {
        let mut params = Params::default();
        let r = route(&s, None, b"GET", path, &mut params, 0).expect("route");
        group.bench_function(name, |b| {
            b.iter(|| check(0, black_box(&s), black_box(&r), black_box(key)).expect("admitted"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
