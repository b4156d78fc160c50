//! Reading the configuration directory: `gateway.toml`, then every `*.toml` of `apis_dir` in
//! name order, each parsed into its [`model`](super::model) struct.
//!
//! A file that cannot be read, is not UTF-8 or is not valid TOML for its model yields exactly
//! one error (serde stops at the first) and is left out; the other files are still read so
//! that one run reports problems in every file.

use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::error::{join_key, line_of, ConfigError, Sink};
use super::model::{ApiFile, GatewayFile};

/// Name of the node configuration file inside the configuration directory.
pub const GATEWAY_FILE: &str = "gateway.toml";
/// `server.apis_dir` when not set.
pub const DEFAULT_APIS_DIR: &str = "apis";

/// One parsed file, with its text kept so later checks can turn spans into line numbers.
#[derive(Debug)]
pub struct Source<T> {
    /// Path as reached from the configuration directory (used in error messages).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// The parsed file.
    pub model: T,
}

impl<T> Source<T> {
    /// 1-based line of a value or key read from this file.
    pub fn line<U>(&self, spanned: &Spanned<U>) -> Option<usize> {
        Some(line_of(&self.text, spanned.span().start))
    }

    /// 1-based line of the key at dotted `path` (quoted as `join_key` writes it), for fields the
    /// model does not keep a span of; `None` when the key is not found.
    pub fn key_line(&self, path: &str) -> Option<usize> {
        key_positions(&self.text)
            .iter()
            .find(|k| k.path == path)
            .map(|k| line_of(&self.text, k.start))
    }
}

/// Everything read from a configuration directory.
#[derive(Debug)]
pub struct Sources {
    /// `gateway.toml`; `None` when it could not be read or parsed (already reported).
    pub gateway: Option<Source<GatewayFile>>,
    /// Path of `gateway.toml`, for errors about settings it would have held.
    pub gateway_path: PathBuf,
    /// The API folder that was read.
    pub apis_dir: PathBuf,
    /// API files that parsed, in file-name order.
    pub apis: Vec<Source<ApiFile>>,
    /// True when some API file could not be read or parsed: its id is unknown, so checks
    /// that need the set of all ids (`server.default_api`) must not guess.
    pub apis_incomplete: bool,
}

/// An API definition that is not a file of the folder: the control plane's APIs, written in
/// the API file format (`crate::control::emit`) so that one compile serves both. `path` names
/// it in errors (`control-plane/restapis/{id}.toml`); nothing is read from or written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraSource {
    /// What it defines.
    pub kind: ExtraKind,
    /// Its name in errors.
    pub path: PathBuf,
    /// Its text, in the format of the file it stands beside.
    pub text: String,
}

/// Which file an [`ExtraSource`] stands beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraKind {
    /// An API (the API file format).
    Api,
    /// Usage plans (`usage_plans.toml`'s format).
    Plans,
    /// API keys (`api_keys.toml`'s format).
    Keys,
}

/// Reads and parses every file of the configuration in `dir`, then `extra`, reporting
/// problems to `sink`.
pub(crate) fn read_sources(dir: &Path, extra: &[ExtraSource], sink: &mut Sink) -> Sources {
    let gateway_path = dir.join(GATEWAY_FILE);
    let gateway = read_file::<GatewayFile>(&gateway_path, sink);
    let apis_dir = apis_dir(dir, gateway.as_ref());
    let files = list_api_files(&apis_dir, &gateway_path, gateway.as_ref(), sink);
    let mut apis: Vec<Source<ApiFile>> = files
        .iter()
        .filter_map(|f| {
            if is_openapi(f) {
                read_openapi(f, sink)
            } else {
                read_file::<ApiFile>(f, sink)
            }
        })
        .collect();
    let from_files = apis.len();
    let extra: Vec<&ExtraSource> = extra.iter().filter(|e| e.kind == ExtraKind::Api).collect();
    for source in &extra {
        sink.file_seen(&source.path);
        if let Some(model) = parse_text::<ApiFile>(&source.path, &source.text, sink) {
            apis.push(Source {
                path: source.path.clone(),
                text: source.text.clone(),
                model,
            });
        }
    }
    Sources {
        gateway,
        gateway_path,
        apis_dir,
        apis_incomplete: from_files != files.len() || apis.len() != from_files + extra.len(),
        apis,
    }
}

/// `server.apis_dir` resolved against the configuration directory.
fn apis_dir(dir: &Path, gateway: Option<&Source<GatewayFile>>) -> PathBuf {
    let configured = gateway.and_then(|g| g.model.server.apis_dir.as_ref());
    dir.join(configured.map_or(DEFAULT_APIS_DIR, |s| s.get_ref().as_str()))
}

/// The `*.toml` files of the API folder, sorted by name. Hidden files (editor lock and swap
/// files such as `.#petstore.toml`) and folders are skipped.
fn list_api_files(
    apis_dir: &Path,
    gateway_path: &Path,
    gateway: Option<&Source<GatewayFile>>,
    sink: &mut Sink,
) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(apis_dir) {
        Ok(entries) => entries,
        Err(e) => {
            // Without a readable gateway.toml we only guessed the folder: stay quiet.
            if let Some(g) = gateway {
                let line = g.model.server.apis_dir.as_ref().and_then(|s| g.line(s));
                let message = format!("cannot read API folder {}: {e}", apis_dir.display());
                sink.at(gateway_path, line, "server.apis_dir", message);
            }
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| is_api_file(path))
        .collect();
    files.sort();
    files
}

/// True for `name.toml` files that are neither hidden nor folders.
fn is_api_file(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return false;
    };
    let known = [".toml", ".yaml", ".yml", ".json"];
    known.iter().any(|ext| name.ends_with(ext)) && !name.starts_with('.') && !path.is_dir()
}

/// Whether `path` is an OpenAPI document rather than an API file.
fn is_openapi(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

/// An OpenAPI file of the API folder, translated into the API file format
/// (`crate::control::openapi::file_definition`; its id is the file's name). Problems are
/// the file's; its checks' line numbers are those of the translation, which `tollgate
/// import FILE` prints.
fn read_openapi(path: &Path, sink: &mut Sink) -> Option<Source<ApiFile>> {
    sink.file_seen(path);
    let text = read_text(path, sink)?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (definition, warnings) = match crate::control::openapi::file_definition(&id, &text) {
        Ok(done) => done,
        Err(e) => {
            sink.at(path, None, "", e.message);
            return None;
        }
    };
    for warning in warnings {
        tracing::warn!("{}: {warning}", path.display());
    }
    let model = parse_text::<ApiFile>(path, &definition, sink)?;
    Some(Source {
        path: path.to_path_buf(),
        text: definition,
        model,
    })
}

/// Reads `path` and parses it as `T`; problems go to `sink`.
pub(crate) fn read_file<T: DeserializeOwned>(path: &Path, sink: &mut Sink) -> Option<Source<T>> {
    sink.file_seen(path);
    let text = read_text(path, sink)?;
    let model = parse_text::<T>(path, &text, sink)?;
    Some(Source {
        path: path.to_path_buf(),
        text,
        model,
    })
}

/// The file's text; unreadable or non-UTF-8 files are reported.
fn read_text(path: &Path, sink: &mut Sink) -> Option<String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            sink.at(path, None, "", format!("cannot read file: {e}"));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) => {
            let bad = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..bad].iter().filter(|&&b| b == b'\n').count() + 1;
            sink.at(path, Some(line), "", "file is not valid UTF-8");
            None
        }
    }
}

/// Parses TOML `text` as `T`, turning the toml crate's error into a [`ConfigError`] with a
/// line and a field path.
pub(crate) fn parse_text<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    sink: &mut Sink,
) -> Option<T> {
    match toml::from_str::<T>(text) {
        Ok(model) => Some(model),
        Err(e) => {
            sink.push(describe_toml_error(path, text, &e));
            None
        }
    }
}

/// Converts a toml error: the line comes from its span, the field path from the key the span
/// falls on (the toml crate does not expose the key path it knows, so it is recovered from a
/// second, structure-only parse of the file).
fn describe_toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e
        .message()
        .trim()
        .replace('\n', "; ")
        .replace("expected i64", "expected an integer");
    let Some(span) = e.span() else {
        return ConfigError::new(path, None, "", message);
    };
    let keys = key_positions(text);
    let missing = missing_field(&message);
    let (line, field) = locate(text, &keys, span.start, missing.is_some());
    let field = match missing {
        Some(name) => join_key(&field, name),
        None => field,
    };
    ConfigError::new(path, line, field, message)
}

/// The `x` of serde's ``missing field `x` `` message.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split('`')
        .next()
        .filter(|s| !s.is_empty())
}

/// Line and field path of an error at byte `pos`.
///
/// - an error on a key (unknown field) is exactly that key;
/// - an error on a `[table]` header belongs to the header's last key (a table missing a field);
/// - any other error is on a value (an inline table missing a field, too), which belongs to
///   the nearest key before it.
///
/// The document itself has no required field (see `model::ApiFile::id`), so a missing-field
/// error always concerns a table.
fn locate(text: &str, keys: &[KeyAt], pos: usize, missing: bool) -> (Option<usize>, String) {
    let line = Some(line_of(text, pos));
    if !missing {
        if let Some(k) = keys.iter().find(|k| k.start <= pos && pos < k.end) {
            return (line, k.path.clone());
        }
    }
    if is_header(text, pos) {
        let bytes = text.as_bytes();
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        let header = keys.iter().filter(|k| k.start > pos && k.end <= end);
        if let Some(k) = header.max_by_key(|k| k.start) {
            return (line, k.path.clone());
        }
    }
    (line, key_before(keys, pos))
}

/// True when `pos` is a `[` that starts its line (a table header, not an array value).
fn is_header(text: &str, pos: usize) -> bool {
    let bytes = text.as_bytes();
    if bytes.get(pos) != Some(&b'[') {
        return false;
    }
    let line_start = bytes[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    bytes[line_start..pos]
        .iter()
        .all(|&b| b == b' ' || b == b'\t' || b == 0xEF || b == 0xBB || b == 0xBF)
}

/// Path of the last key starting at or before `pos`.
fn key_before(keys: &[KeyAt], pos: usize) -> String {
    keys.iter()
        .filter(|k| k.start <= pos)
        .max_by_key(|k| k.start)
        .map(|k| k.path.clone())
        .unwrap_or_default()
}

/// A key of the document with its byte range and full dotted path.
#[derive(Debug)]
struct KeyAt {
    start: usize,
    end: usize,
    path: String,
}

/// Every key of `text` with its path; empty when the structure-only parse fails (e.g. on a
/// TOML datetime, whose internal representation has no spanned key), in which case errors
/// just lose their field path.
fn key_positions(text: &str) -> Vec<KeyAt> {
    let mut out = Vec::new();
    let seed = CollectKeys {
        prefix: String::new(),
        out: &mut out,
    };
    match seed.deserialize(toml::Deserializer::new(text)) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// Serde seed walking any TOML value and recording every key below `prefix`.
struct CollectKeys<'a> {
    prefix: String,
    out: &'a mut Vec<KeyAt>,
}

impl<'de> DeserializeSeed<'de> for CollectKeys<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CollectKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let path = join_key(&self.prefix, key.get_ref());
            self.out.push(KeyAt {
                start: key.span().start,
                end: key.span().end,
                path: path.clone(),
            });
            map.next_value_seed(CollectKeys {
                prefix: path,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let seed = CollectKeys {
                prefix: format!("{}[{i}]", self.prefix),
                out: &mut *self.out,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}
