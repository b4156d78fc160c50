//! Configuration errors, shaped like a linter's: `file:line: field: message`.
//!
//! Every problem found in the files becomes one [`ConfigError`]; loading collects all of them
//! into [`ConfigErrors`] instead of stopping at the first, so `tollgate --check` (and a failed
//! reload's log line) shows everything an operator has to fix in one go.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one configuration file.
///
/// Displayed as `{file}:{line}: {field}: {message}`; `:{line}` is omitted when the position is
/// unknown (unreadable file, a key that is missing altogether) and `{field}: ` when no field is
/// involved (TOML syntax errors, unreadable files).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file the problem is in, as reached from the configuration directory given by the
    /// operator, so the path can be pasted into an editor.
    pub file: PathBuf,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// Dotted path of the offending field, with keys quoted as TOML would need them, e.g.
    /// `deployments.v2.methods."GET /pets/{petId}".integration.uri`; empty when the problem is
    /// not about one field.
    pub field: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl ConfigError {
    /// Builds an error; `field` may be empty.
    pub fn new(
        file: &Path,
        line: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one load, in file order and then line order.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no problem was found (a load never returns an empty `ConfigErrors`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in report order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Collects the errors of one load and remembers the order files were read in, so the final
/// report lists files in load order (gateway.toml first) and each file's errors by line.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    errors: Vec<ConfigError>,
    files: Vec<PathBuf>,
}

impl Sink {
    /// Records that `file` is being read, fixing its place in the report.
    pub(crate) fn file_seen(&mut self, file: &Path) {
        if !self.files.iter().any(|f| f == file) {
            self.files.push(file.to_path_buf());
        }
    }

    /// Records one error.
    pub(crate) fn push(&mut self, error: ConfigError) {
        self.file_seen(&error.file);
        self.errors.push(error);
    }

    /// Records an error at `line` of `file`.
    pub(crate) fn at(
        &mut self,
        file: &Path,
        line: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(ConfigError::new(file, line, field, message));
    }

    /// Number of errors recorded so far (lets a check tell whether its part added any).
    pub(crate) fn len(&self) -> usize {
        self.errors.len()
    }

    /// The errors sorted for the report, or `Ok` when there are none.
    pub(crate) fn finish(self) -> Result<(), ConfigErrors> {
        let Sink { mut errors, files } = self;
        if errors.is_empty() {
            return Ok(());
        }
        let rank = |f: &Path| files.iter().position(|x| x == f).unwrap_or(usize::MAX);
        errors.sort_by_key(|e| (rank(&e.file), e.line.unwrap_or(0)));
        errors.dedup();
        Err(ConfigErrors(errors))
    }
}

/// Appends `key` to the dotted field path `base`, quoting it as TOML would need
/// (`methods."GET /pets"`), so the path can be searched for in the file.
pub(crate) fn join_key(base: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        toml::Value::String(key.to_string()).to_string()
    };
    if base.is_empty() {
        key
    } else {
        format!("{base}.{key}")
    }
}

/// 1-based line of byte offset `pos` in `text` (offsets past the end count as the last line).
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    let end = pos.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
