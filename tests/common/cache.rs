//! Helpers for stage cache tests: a backend that numbers its answers (so a test sees whether
//! a response came from the backend or from the cache), the admin's flush call, and a
//! gateway on the frozen test clock ([`super::clock`]) so TTLs expire only when a test
//! advances it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::clock::{day_ms, start_frozen_with_env, START_DATE};
use super::{ApiSpec, Backend, ConfigDir, Gateway, Reply, Req, Response, LOG_TIMEOUT};

/// Log line a shard writes (at debug level) when a miss waits for a fetch in flight.
pub const COALESCED_LOG: &str = "cache miss coalesced";

/// A backend answering `200` with body `#N`, N counting the requests it has served.
pub fn counting_backend() -> Backend {
    let served = Arc::new(AtomicUsize::new(0));
    Backend::start(move |_| {
        let n = served.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::ok(format!("#{n}")).header("content-type", "text/plain")
    })
}

/// API `petstore`, stage `prod` with `stage_toml` (cache settings) serving deployment `v1`,
/// whose `ANY /pets` and `ANY /pets/{id}` proxy to `backend`.
pub fn cached_api(backend: &Backend, stage_toml: &str) -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml("prod", stage_toml)
        .proxy("v1", "ANY /pets", &format!("{}/pets", backend.url()))
        .proxy(
            "v1",
            "ANY /pets/{id}",
            &format!("{}/pets/{{id}}", backend.url()),
        )
}

/// Starts a gateway with the test clock frozen at [`START_DATE`] (move it with
/// [`super::clock::advance_clock`]) and coalescing logged.
pub fn start_with_test_clock(cfg: &ConfigDir) -> Gateway {
    start_frozen_with_env(
        cfg,
        day_ms(START_DATE, 0),
        &[("RUST_LOG", "info,tollgate::pipeline::cache_filter=debug")],
    )
}

/// `DELETE /restapis/{api}/stages/{stage}/cache/data` on the admin listener.
pub fn flush_stage(gw: &Gateway, api: &str, stage: &str) -> Response {
    let path = format!("/restapis/{api}/stages/{stage}/cache/data");
    Req::new("DELETE", &path).send(gw.admin_addr())
}

/// Waits until the gateway logged `n` coalesced misses since log line `from`.
pub fn wait_coalesced(gw: &Gateway, from: usize, n: usize) -> bool {
    let deadline = std::time::Instant::now() + LOG_TIMEOUT;
    while std::time::Instant::now() < deadline {
        let seen = gw.logs()[from..]
            .iter()
            .filter(|l| l.contains(COALESCED_LOG))
            .count();
        if seen >= n {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}
