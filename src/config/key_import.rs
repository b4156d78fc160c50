//! `tollgate keys import FILE`: API keys from a CSV file in AWS's import format
//! (`Name,Key,Enabled,Description,UsagePlanIds`, header row first, columns in any order,
//! names case-insensitive; `Name` and `Key` are required).
//!
//! All or nothing: when any row is bad, nothing is imported and the error lists every bad
//! line. Good files become `api_keys/imported-<unix time>.toml` in the configuration folder,
//! which the running gateway picks up on the next `SIGHUP` (or start). The whole configuration
//! is checked again with the new file before the command reports success, so an import can
//! never leave a configuration that the next reload would refuse.
//!
//! Imported keys get the id `k` + 16 hex digits of a hash of the key value: stable, so
//! importing a key that was removed earlier finds its usage counters (and quota) again.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::traffic::{check_key_value, KEYS_DIR};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The CSV file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Some rows are bad; nothing was imported.
    #[error("{file}: nothing imported, {} bad line(s):\n{}", .lines.len(), .lines.join("\n"))]
    BadRows {
        /// File.
        file: PathBuf,
        /// `line N: problem`, one per bad line.
        lines: Vec<String>,
    },
    /// The configuration (before or with the new keys) is invalid.
    #[error("configuration check failed; nothing imported:\n{0}")]
    Config(#[from] super::ConfigErrors),
    /// The keys file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// One good row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedKey {
    /// Generated id.
    pub id: String,
    /// `Name`.
    pub name: String,
    /// `Key`.
    pub value: String,
    /// `Enabled`.
    pub enabled: bool,
    /// `Description`.
    pub description: String,
    /// `UsagePlanIds`.
    pub plans: Vec<String>,
}

/// Imports `csv` into the configuration folder `dir`; returns the file written and the
/// number of keys.
pub fn import(csv: &Path, dir: &Path) -> Result<(PathBuf, usize), ImportError> {
    let text = std::fs::read_to_string(csv).map_err(|source| ImportError::Read {
        path: csv.to_path_buf(),
        source,
    })?;
    let loaded = super::load(dir, 0)?;
    let traffic = &loaded.snapshot.traffic;
    let plan_known = |p: &str| traffic.plans.iter().any(|plan| &*plan.id == p);
    let key_known = |v: &str| traffic.keys.find(v.as_bytes()).is_some();
    let keys = parse(&text, plan_known, key_known).map_err(|lines| ImportError::BadRows {
        file: csv.to_path_buf(),
        lines,
    })?;
    let path = write_keys(dir, &keys)?;
    if let Err(errors) = super::load(dir, 0) {
        let _ = std::fs::remove_file(&path);
        return Err(ImportError::Config(errors));
    }
    Ok((path, keys.len()))
}

/// Parses and checks every row; `Err` lists each bad line.
pub fn parse(
    text: &str,
    plan_known: impl Fn(&str) -> bool,
    key_known: impl Fn(&str) -> bool,
) -> Result<Vec<ImportedKey>, Vec<String>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(vec![
            "line 1: empty file: expected the header Name,Key,Enabled,Description,UsagePlanIds"
                .into(),
        ]);
    };
    let header: Vec<String> = match split_csv(header.trim_start_matches('\u{feff}')) {
        Ok(cols) => cols.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(name_col), Some(key_col)) = (col("name"), col("key")) else {
        return Err(vec![
            "line 1: the header must name at least the columns Name and Key".into(),
        ]);
    };
    let (enabled_col, desc_col, plans_col) =
        (col("enabled"), col("description"), col("usageplanids"));
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let fields = match split_csv(line) {
            Ok(f) => f,
            Err(e) => {
                bad.push(format!("line {n}: {e}"));
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|c| fields.get(c)).map_or("", |s| s.trim());
        match row(
            get(Some(name_col)),
            get(Some(key_col)),
            get(enabled_col),
            get(desc_col),
            get(plans_col),
            &plan_known,
        ) {
            Ok(k)
                if key_known(&k.value) || out.iter().any(|o: &ImportedKey| o.value == k.value) =>
            {
                bad.push(format!("line {n}: this key value already exists"));
            }
            Ok(k) => out.push(k),
            Err(e) => bad.push(format!("line {n}: {e}")),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

fn row(
    name: &str,
    value: &str,
    enabled: &str,
    description: &str,
    plans: &str,
    plan_known: &impl Fn(&str) -> bool,
) -> Result<ImportedKey, String> {
    if name.is_empty() {
        return Err("Name is empty".into());
    }
    check_key_value(value).map_err(|e| format!("Key: {e}"))?;
    let enabled = match enabled.to_ascii_lowercase().as_str() {
        "" | "true" => true,
        "false" => false,
        other => return Err(format!("Enabled must be true or false, got `{other}`")),
    };
    let plans: Vec<String> = plans
        .split([',', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    if let Some(p) = plans.iter().find(|p| !plan_known(p)) {
        return Err(format!("usage plan `{p}` is not defined"));
    }
    Ok(ImportedKey {
        id: key_id(value),
        name: name.to_string(),
        value: value.to_string(),
        enabled,
        description: description.to_string(),
        plans,
    })
}

/// `k` + FNV-1a-64 of the value in hex.
pub fn key_id(value: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in value.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("k{h:016x}")
}

/// Splits one CSV record (RFC 4180 quoting, no line breaks inside fields).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => return Err("stray quote inside a field".into()),
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(field);
    Ok(out)
}

/// Writes `api_keys/imported-<unix time>[-n].toml`.
fn write_keys(dir: &Path, keys: &[ImportedKey]) -> Result<PathBuf, ImportError> {
    let folder = dir.join(KEYS_DIR);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Write { path, source }
    };
    std::fs::create_dir_all(&folder).map_err(write_err(&folder))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut path = folder.join(format!("imported-{now}.toml"));
    let mut n = 2;
    while path.exists() {
        path = folder.join(format!("imported-{now}-{n}.toml"));
        n += 1;
    }
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut text = String::from("# Written by `tollgate keys import`; apply with SIGHUP.\n");
    for k in keys {
        let plans: Vec<String> = k.plans.iter().map(|p| q(p)).collect();
        let _ = write!(
            text,
            "\n[keys.{}]\nname = {}\nvalue = {}\nenabled = {}\ndescription = {}\nusage_plans = [{}]\n",
            k.id,
            q(&k.name),
            q(&k.value),
            k.enabled,
            q(&k.description),
            plans.join(", ")
        );
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(write_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(write_err(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn quoted_fields_and_plan_lists() {
        let csv = format!(
            "Name,Key,Enabled,Description,UsagePlanIds\nalice,{GOOD},TRUE,\"hello, world\",\"gold,silver\"\n"
        );
        let keys = parse(&csv, |_| true, |_| false).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].description, "hello, world");
        assert_eq!(keys[0].plans, vec!["gold", "silver"]);
        assert!(keys[0].enabled);
        assert_eq!(keys[0].id, key_id(GOOD));
    }

    #[test]
    fn every_bad_line_is_named_and_nothing_is_kept() {
        let csv = format!(
            "Name,Key,Enabled,Description,UsagePlanIds\n\
             ok,{GOOD},true,,gold\n\
             short,abc,true,,gold\n\
             bob,bbbbbbbbbbbbbbbbbbbbbbbb,maybe,,gold\n\
             carol,cccccccccccccccccccccccc,false,,nope\n\
             dup,{GOOD},true,,gold\n"
        );
        let err = parse(&csv, |p| p == "gold", |_| false).unwrap_err();
        assert_eq!(err.len(), 4, "{err:?}");
        assert!(err[0].starts_with("line 3: Key"), "{err:?}");
        assert!(err[1].starts_with("line 4: Enabled"), "{err:?}");
        assert!(err[2].starts_with("line 5: usage plan `nope`"), "{err:?}");
        assert!(
            err[3].starts_with("line 6: this key value already exists"),
            "{err:?}"
        );
    }

    #[test]
    fn header_must_name_name_and_key() {
        let err = parse("Foo,Bar\nx,y\n", |_| true, |_| false).unwrap_err();
        assert!(err[0].contains("Name and Key"), "{err:?}");
    }
}
