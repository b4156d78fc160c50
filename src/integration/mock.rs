//! `MOCK`: the gateway answers from the configuration, without a backend.

use crate::exchange::{Body, Headers, Reply};
use crate::snapshot::MockIntegration;

/// The configured answer, borrowed from the snapshot (no allocation).
pub fn reply(mock: &MockIntegration) -> Reply<'_> {
    Reply {
        status: mock.status,
        headers: Headers::Config(&mock.headers),
        body: Body::Config(&mock.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_is_the_configuration() {
        let mock = MockIntegration {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"ok\":true}".to_vec().into_boxed_slice(),
        };
        let r = reply(&mock);
        assert_eq!(r.status, 201);
        assert_eq!(
            r.headers.iter().collect::<Vec<_>>(),
            vec![("content-type", "application/json")]
        );
        assert_eq!(r.body.bytes(), b"{\"ok\":true}");
    }
}
