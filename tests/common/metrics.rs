//! Reading `GET /metrics` (Prometheus text format) in tests.

use std::time::{Duration, Instant};

use super::{Gateway, Req, LOG_TIMEOUT};

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    pub text: String,
}

impl Scrape {
    /// Sum of the samples named `name` whose labels include every pair of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Like [`Scrape::sum`], as an integer (counters).
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.sum(name, labels) as u64
    }

    /// Number of samples named `name` (any labels).
    pub fn samples_named(&self, name: &str) -> usize {
        self.samples.iter().filter(|s| s.name == name).count()
    }
}

/// `GET /metrics` on the admin listener; panics unless it answers 200 with Prometheus text.
pub fn scrape(gw: &Gateway) -> Scrape {
    let resp = Req::get("/metrics").send(gw.admin_addr());
    assert_eq!(resp.status, 200, "admin /metrics: {resp:?}");
    let ctype = resp.header("content-type").unwrap_or("");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let text = resp.body_str();
    let samples = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("bad exposition line {l:?}")))
        .collect();
    Scrape { samples, text }
}

/// Scrapes until `ready` holds for a scrape (at most [`LOG_TIMEOUT`]) and returns that scrape.
///
/// A shard counts a request just after its last response byte is written, so a client that
/// has read a response may scrape a moment before the count lands; waiting for the expected
/// total (never for a time) removes that race.
pub fn scrape_when(gw: &Gateway, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + LOG_TIMEOUT;
    loop {
        let m = scrape(gw);
        if ready(&m) || Instant::now() >= deadline {
            return m;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Scrapes once `total` requests were counted, routed or not.
pub fn scrape_after(gw: &Gateway, total: u64) -> Scrape {
    scrape_when(gw, |m| {
        m.count("tollgate_count", &[]) + m.count("tollgate_unrouted_count", &[]) >= total
    })
}

/// `name{k="v",...} value` or `name value`.
fn parse_line(line: &str) -> Option<Sample> {
    let (head, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().ok()?,
    };
    let Some(open) = head.find('{') else {
        return Some(Sample {
            name: head.to_string(),
            labels: Vec::new(),
            value,
        });
    };
    let name = head[..open].to_string();
    let body = head[open + 1..].strip_suffix('}')?;
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut val = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => val.push('\n'),
                    c => val.push(c),
                },
                '"' => break,
                c => val.push(c),
            }
        }
        labels.push((key, val));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some(Sample {
        name,
        labels,
        value,
    })
}
