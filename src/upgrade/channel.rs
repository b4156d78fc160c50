//! The conversation between the old and the new process during an upgrade: one line per
//! message over a Unix socket pair the old process opens and the new one inherits.
//!
//! ```text
//! new → old   prepared           configuration loaded, listeners adopted
//! old → new   released           the usage store is closed: open it
//! new → old   serving            every shard accepts on the shared listeners
//! old → new   usage [[k,p,d,n]]  requests the old process admitted since (repeated)
//! old closes                     it has drained: nothing more will come
//! ```

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::throttle::{Delta, StoreError, UsageSink};

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The new process is ready to take the store.
    Prepared,
    /// The old process has closed the store.
    Released,
    /// The new process serves.
    Serving,
    /// Requests the old process counted after it released the store.
    Usage(Vec<Delta>),
}

/// Why the conversation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The other side closed (it exited, or is done).
    #[error("the other process closed the upgrade channel")]
    Closed,
    /// Nothing came in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A message out of turn.
    #[error("expected {expected:?}, got {got:?}")]
    Unexpected {
        /// What the conversation called for.
        expected: String,
        /// What came.
        got: String,
    },
    /// A line that is no message.
    #[error("unreadable upgrade message {0:?}")]
    Garbled(String),
    /// A socket error.
    #[error("upgrade channel: {0}")]
    Io(#[from] std::io::Error),
}

impl Message {
    /// The message as one line, newline included.
    pub fn encode(&self) -> String {
        match self {
            Message::Prepared => "prepared\n".into(),
            Message::Released => "released\n".into(),
            Message::Serving => "serving\n".into(),
            Message::Usage(deltas) => {
                let rows: Vec<_> = deltas
                    .iter()
                    .map(|(k, p, d, n)| serde_json::json!([k, p, d, n]))
                    .collect();
                format!("usage {}\n", serde_json::Value::Array(rows))
            }
        }
    }

    /// Reads a line written by [`Message::encode`].
    pub fn decode(line: &str) -> Result<Message, ChannelError> {
        let garbled = || ChannelError::Garbled(line.chars().take(80).collect());
        match line.trim_end_matches('\n') {
            "prepared" => Ok(Message::Prepared),
            "released" => Ok(Message::Released),
            "serving" => Ok(Message::Serving),
            other => {
                let json = other.strip_prefix("usage ").ok_or_else(garbled)?;
                let rows: Vec<(String, String, u32, u64)> =
                    serde_json::from_str(json).map_err(|_| garbled())?;
                Ok(Message::Usage(
                    rows.into_iter()
                        .map(|(k, p, d, n)| (k.into(), p.into(), d, n))
                        .collect(),
                ))
            }
        }
    }
}

/// One side of the channel.
#[derive(Debug)]
pub struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Channel {
    /// Wraps a connected socket. Writes have no timeout: one that expired part-way would
    /// leave half a line for the next message to be glued to; the reader reads promptly, and
    /// an exited one fails the write at once (EPIPE).
    pub fn new(socket: UnixStream) -> std::io::Result<Channel> {
        let writer = socket.try_clone()?;
        Ok(Channel {
            reader: BufReader::new(socket),
            writer,
        })
    }

    /// Sends one message.
    pub fn send(&mut self, message: &Message) -> Result<(), ChannelError> {
        self.writer.write_all(message.encode().as_bytes())?;
        Ok(())
    }

    /// Waits up to `timeout` (`None`: for ever) for the next message.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Message, ChannelError> {
        self.reader.get_ref().set_read_timeout(timeout)?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(ChannelError::Closed),
            Ok(_) if !line.ends_with('\n') => Err(ChannelError::Closed),
            Ok(_) => Message::decode(&line),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(ChannelError::Timeout(timeout.unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for `want`; anything else is an error.
    pub fn expect(&mut self, want: &Message, timeout: Duration) -> Result<(), ChannelError> {
        match self.recv(Some(timeout))? {
            got if &got == want => Ok(()),
            got => Err(ChannelError::Unexpected {
                expected: want.encode().trim_end().into(),
                got: got
                    .encode()
                    .chars()
                    .take(80)
                    .collect::<String>()
                    .trim_end()
                    .into(),
            }),
        }
    }

    /// A sink that sends the old process's counts over this channel.
    pub fn usage_sink(&self) -> std::io::Result<ChannelSink> {
        Ok(ChannelSink {
            socket: self.writer.try_clone()?,
            broken: None,
        })
    }
}

/// Sends usage deltas to the new process ([`Message::Usage`]).
#[derive(Debug)]
pub struct ChannelSink {
    socket: UnixStream,
    /// Why a write failed: it may have written part of a line, so nothing more is sent (the
    /// counts stay with the flusher, which logs each failed flush).
    broken: Option<String>,
}

impl UsageSink for ChannelSink {
    fn send(&mut self, deltas: &[Delta]) -> Result<(), StoreError> {
        let failed = |why: &str| {
            StoreError::from_display(format!(
                "cannot send usage to the new process ({why}); these counts stay unwritten"
            ))
        };
        if let Some(why) = &self.broken {
            return Err(failed(why));
        }
        if deltas.is_empty() {
            return Ok(());
        }
        let line = Message::Usage(deltas.to_vec()).encode();
        self.socket.write_all(line.as_bytes()).map_err(|e| {
            let why = e.to_string();
            let err = failed(&why);
            self.broken = Some(why);
            err
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_including_odd_ids() {
        let usage = Message::Usage(vec![
            ("key \"1\"\nx".into(), "plan\t2".into(), 20_000, 7),
            ("k".into(), "p".into(), 1, u64::MAX),
        ]);
        for m in [
            Message::Prepared,
            Message::Released,
            Message::Serving,
            usage,
        ] {
            let line = m.encode();
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            assert_eq!(Message::decode(&line).unwrap(), m);
        }
        assert!(matches!(
            Message::decode("usage [1]\n"),
            Err(ChannelError::Garbled(_))
        ));
        assert!(matches!(
            Message::decode("hello\n"),
            Err(ChannelError::Garbled(_))
        ));
    }

    #[test]
    fn a_closed_or_silent_peer_is_reported() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut ours = Channel::new(a).unwrap();
        let mut theirs = Channel::new(b).unwrap();
        assert!(matches!(
            ours.recv(Some(Duration::from_millis(20))),
            Err(ChannelError::Timeout(_))
        ));
        theirs.send(&Message::Serving).unwrap();
        ours.expect(&Message::Serving, Duration::from_secs(1))
            .unwrap();
        drop(theirs);
        assert!(matches!(ours.recv(None), Err(ChannelError::Closed)));
    }
}
