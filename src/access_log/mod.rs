//! Access logs as API Gateway writes them: per stage, a `format` of `$context` variables
//! (JSON by default), to a file or stdout.
//!
//! The format is compiled with the configuration ([`template`]); a shard renders each record
//! into a recycled buffer and hands it to one writer thread through its own bounded queue
//! ([`writer`]): file writes never run on a shard, and a full queue drops the record and
//! counts it (`tollgate_access_log_dropped_total`) rather than slowing requests down.
//! SIGUSR1 makes the writer reopen its files, for logrotate. A reload that moves or removes a
//! stage's log closes the old file once the requests still running on the old configuration
//! have logged to it ([`writer::DestinationTracker`]).

pub mod template;
pub mod writer;

use std::ops::Range;
use std::time::SystemTime;

use crate::http::RequestHead;
pub use template::{Record, Template};
pub use writer::{AccessLogQueue, ShardLog};

/// A stage's compiled access-log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageAccessLog {
    /// `stdout`, `stderr` or an absolute path.
    pub destination: Box<str>,
    /// [`writer::destination_id`] of `destination`.
    pub destination_id: u32,
    /// The compiled format.
    pub template: Template,
}

impl StageAccessLog {
    /// Checks and compiles a stage's `access_log` table; the error says what is wrong with
    /// which field (`destination` or `format`).
    pub fn compile(
        destination: &str,
        format: Option<&str>,
    ) -> Result<Self, (&'static str, String)> {
        let path = std::path::Path::new(destination);
        if !matches!(destination, "stdout" | "stderr") {
            if !path.is_absolute() {
                return Err((
                    "destination",
                    format!(
                        "`{destination}` is not \"stdout\", \"stderr\" or an absolute file path"
                    ),
                ));
            }
            // As `nginx -t`: a log that cannot be created is a configuration error, not a
            // runtime surprise.
            match path.parent() {
                Some(dir) if dir.is_dir() => {}
                _ => {
                    return Err((
                        "destination",
                        format!("the folder of `{destination}` does not exist"),
                    ))
                }
            }
        }
        let template = Template::parse(format.unwrap_or(template::DEFAULT_FORMAT))
            .map_err(|e| ("format", e))?;
        Ok(StageAccessLog {
            destination: destination.into(),
            destination_id: writer::destination_id(destination),
            template,
        })
    }
}

/// Request details a log record needs that live in the receive buffer, copied while the head
/// is still there (the buffer is reused once the response is under way). Kept per
/// connection, so its buffer is allocated once and reused by every request.
#[derive(Debug, Default)]
pub struct RequestFacts {
    buf: Vec<u8>,
    method: Range<usize>,
    path: Range<usize>,
    user_agent: Option<Range<usize>>,
    host: Option<Range<usize>>,
    /// Wall-clock time the request was taken in.
    pub time: Option<SystemTime>,
    /// HTTP minor version.
    pub minor: u8,
}

impl RequestFacts {
    /// Copies what a record needs from the head of the current request.
    pub fn capture(&mut self, head: &RequestHead, base: &[u8]) {
        self.buf.clear();
        self.method = push(&mut self.buf, head.method.get(base));
        self.path = push(&mut self.buf, head.path.get(base));
        self.user_agent = head
            .header(base, "user-agent")
            .map(|v| push(&mut self.buf, v));
        self.host = head.host.map(|h| push(&mut self.buf, h.get(base)));
        self.time = Some(SystemTime::now());
        self.minor = head.minor_version;
    }

    /// The request method.
    pub fn method(&self) -> &[u8] {
        self.get(&self.method)
    }

    /// The request path (no query).
    pub fn path(&self) -> &[u8] {
        self.get(&self.path)
    }

    /// `User-Agent`.
    pub fn user_agent(&self) -> Option<&[u8]> {
        self.user_agent.as_ref().map(|r| self.get(r))
    }

    /// `Host`.
    pub fn host(&self) -> Option<&[u8]> {
        self.host.as_ref().map(|r| self.get(r))
    }

    fn get(&self, r: &Range<usize>) -> &[u8] {
        self.buf.get(r.clone()).unwrap_or_default()
    }
}

fn push(buf: &mut Vec<u8>, v: &[u8]) -> Range<usize> {
    let start = buf.len();
    buf.extend_from_slice(v);
    start..buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_must_be_stdout_stderr_or_absolute() {
        assert!(StageAccessLog::compile("stdout", None).is_ok());
        assert!(StageAccessLog::compile("/tmp/x.log", None).is_ok());
        let (field, e) = StageAccessLog::compile("/no/such/folder/x.log", None).unwrap_err();
        assert_eq!(field, "destination");
        assert!(e.contains("does not exist"), "{e}");
        let (field, e) = StageAccessLog::compile("logs/x.log", None).unwrap_err();
        assert_eq!(field, "destination");
        assert!(e.contains("absolute"), "{e}");
        let (field, _) = StageAccessLog::compile("stdout", Some("$context.bogus")).unwrap_err();
        assert_eq!(field, "format");
    }

    #[test]
    fn facts_are_copied_from_the_head() {
        let raw = b"POST /prod/pets?x=1 HTTP/1.0\r\nHost: api.example\r\nUser-Agent: t/1\r\n\r\n";
        let mut head = RequestHead::new();
        head.parse(raw, 8192).unwrap();
        let mut facts = RequestFacts::default();
        facts.capture(&head, raw);
        assert_eq!(facts.method(), b"POST");
        assert_eq!(facts.path(), b"/prod/pets");
        assert_eq!(facts.user_agent(), Some(&b"t/1"[..]));
        assert_eq!(facts.host(), Some(&b"api.example"[..]));
        assert_eq!(facts.minor, 0);
    }
}
