//! The cache's admin call, served on the admin thread (never on a shard):
//! `DELETE /restapis/{api}/stages/{stage}/cache/data`, AWS's `FlushStageCache`; answers
//! `202 Accepted` once the flush is published (each shard drops the stage's entries before
//! its next lookup in that stage).
//!
//! TTL expiry is tested with the node's test clock (`crate::clock`, moved by the admin's
//! `/test/clock` calls), not with anything cache-specific.

use super::CacheBoard;
use crate::snapshot::Snapshot;

/// Serves a cache admin call; `None` when `method path` is not one.
pub fn admin_request(
    method: &[u8],
    path: &[u8],
    snapshot: &Snapshot,
    board: &CacheBoard,
) -> Option<(u16, String)> {
    let path = std::str::from_utf8(path).ok()?;
    let (api, stage) = flush_target(path.strip_prefix("/restapis/")?)?;
    if method != b"DELETE" {
        return Some((405, r#"{"message":"Method Not Allowed"}"#.into()));
    }
    Some(flush(api, stage, snapshot, board))
}

/// `{api}/stages/{stage}/cache/data` → (api, stage).
fn flush_target(rest: &str) -> Option<(&str, &str)> {
    let (api, rest) = rest.split_once("/stages/")?;
    let stage = rest.strip_suffix("/cache/data")?;
    (!api.contains('/') && !stage.contains('/')).then_some((api, stage))
}

fn flush(api: &str, stage: &str, snapshot: &Snapshot, board: &CacheBoard) -> (u16, String) {
    let exists = snapshot
        .apis
        .get(api)
        .is_some_and(|a| a.stages.contains_key(stage));
    if !exists {
        return (
            404,
            r#"{"message":"Invalid stage identifier specified"}"#.into(),
        );
    }
    board.flush_everywhere(&format!("{api}/{stage}"));
    tracing::info!("cache flushed api={api} stage={stage}");
    (202, "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_paths_name_api_and_stage() {
        assert_eq!(
            flush_target("petstore/stages/prod/cache/data"),
            Some(("petstore", "prod"))
        );
        assert_eq!(flush_target("petstore/stages/prod/cache"), None);
        assert_eq!(flush_target("a/b/stages/prod/cache/data"), None);
    }

    #[test]
    fn unknown_stages_are_refused() {
        let board = CacheBoard::new(1);
        let snapshot = Snapshot::empty();
        let (status, _) = admin_request(
            b"DELETE",
            b"/restapis/x/stages/y/cache/data",
            &snapshot,
            &board,
        )
        .unwrap();
        assert_eq!(status, 404);
    }
}
