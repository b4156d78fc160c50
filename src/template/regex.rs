//! Java regexes for `replaceAll`, `replaceFirst`, `matches` and `split`.
//!
//! Patterns are compiled by the `regex` crate, whose syntax matches `java.util.regex` for what
//! templates use (classes, quantifiers, groups, anchors, `\s\d\w`); Java's look-around and
//! back-references are not available and fail the render with a clear message. Compiled
//! patterns are kept per thread (a shard compiles a template's literal pattern once).
//! Replacement strings follow `Matcher.appendReplacement`: `$n` and `${name}` insert a group,
//! `\x` inserts `x`.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

/// Patterns kept per thread before the cache starts over.
const CACHE: usize = 128;

thread_local! {
    /// Compiled patterns by source: searching (`replaceAll`, `split`) and whole-string
    /// (`matches`, compiled anchored). Looked up by `&str`, so a hit allocates nothing.
    static PATTERNS: [RefCell<HashMap<String, Result<Regex, String>>>; 2] =
        [RefCell::new(HashMap::new()), RefCell::new(HashMap::new())];
}

fn compiled<T>(pattern: &str, whole: bool, f: impl FnOnce(&Regex) -> T) -> Result<T, String> {
    PATTERNS.with(|caches| {
        let mut cache = caches[usize::from(whole)].borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= CACHE {
                cache.clear();
            }
            let source = if whole {
                format!("^(?:{pattern})$")
            } else {
                pattern.to_string()
            };
            let re = Regex::new(&source).map_err(|e| {
                format!("java.util.regex.PatternSyntaxException (as Tollgate reads it): {e}")
            });
            cache.insert(pattern.to_string(), re);
        }
        match &cache[pattern] {
            Ok(re) => Ok(f(re)),
            Err(e) => Err(e.clone()),
        }
    })
}

/// `String.matches`: the whole string matches.
pub fn matches(s: &str, pattern: &str) -> Result<bool, String> {
    compiled(pattern, true, |re| re.is_match(s))
}

/// `replaceAll` / `replaceFirst`.
pub fn replace(s: &str, pattern: &str, with: &str, all: bool) -> Result<String, String> {
    compiled(pattern, false, |re| {
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for caps in re.captures_iter(s) {
            let m = caps.get(0).map_or(0..0, |m| m.range());
            out.push_str(&s[last..m.start]);
            append_replacement(&mut out, &caps, with, re)?;
            last = m.end;
            if !all {
                break;
            }
        }
        out.push_str(&s[last..]);
        Ok(out)
    })?
}

/// `Matcher.appendReplacement`'s reading of the replacement string.
fn append_replacement(
    out: &mut String,
    caps: &regex::Captures,
    with: &str,
    re: &Regex,
) -> Result<(), String> {
    let b = with.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let c = with[i + 1..]
                    .chars()
                    .next()
                    .ok_or("character to be escaped is missing")?;
                out.push(c);
                i += 1 + c.len_utf8();
            }
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    let end = with[i..]
                        .find('}')
                        .ok_or("named capturing group is missing trailing '}'")?;
                    let name = &with[i + 1..i + end];
                    if re.capture_names().flatten().all(|n| n != name) {
                        return Err(format!("No group with name {{{name}}}"));
                    }
                    out.push_str(caps.name(name).map_or("", |m| m.as_str()));
                    i += end + 1;
                    continue;
                }
                // The first digit always belongs to the reference; more digits join while the
                // group number stays valid.
                let d = b
                    .get(i)
                    .filter(|c| c.is_ascii_digit())
                    .ok_or("Illegal group reference")?;
                let mut group = (d - b'0') as usize;
                i += 1;
                while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
                    let next = group * 10 + (d - b'0') as usize;
                    if next >= caps.len() {
                        break;
                    }
                    group = next;
                    i += 1;
                }
                if group >= caps.len() {
                    return Err(format!("No group {group}"));
                }
                out.push_str(caps.get(group).map_or("", |m| m.as_str()));
            }
            _ => {
                let c = with[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Ok(())
}

/// `String.split(regex, limit)`: no leading empty string for a zero-width match at the start;
/// with `limit` 0 trailing empty strings are dropped; with `limit` > 0 at most `limit` parts.
pub fn split(s: &str, pattern: &str, limit: i64) -> Result<Vec<String>, String> {
    compiled(pattern, false, |re| {
        let mut parts = Vec::new();
        let mut index = 0;
        for m in re.find_iter(s) {
            if limit > 0 && parts.len() as i64 >= limit - 1 {
                break;
            }
            if m.end() == 0 {
                continue;
            }
            parts.push(s[index..m.start()].to_string());
            index = m.end();
        }
        if index == 0 && parts.is_empty() {
            return vec![s.to_string()];
        }
        parts.push(s[index..].to_string());
        if limit == 0 {
            while parts.last().is_some_and(String::is_empty) {
                parts.pop();
            }
        }
        parts
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_read_groups_as_java_does() {
        assert_eq!(replace("a-b", "(\\w)-(\\w)", "$2+$1", true).unwrap(), "b+a");
        assert_eq!(replace("aaa", "a", "\\$", false).unwrap(), "$aa");
        assert_eq!(replace("ab", "(a)", "$12", true).unwrap(), "a2b");
        assert!(replace("ab", "a", "$", true).is_err());
    }

    #[test]
    fn split_drops_trailing_empty_strings() {
        assert_eq!(split("a,b,,", ",", 0).unwrap(), ["a", "b"]);
        assert_eq!(split("a,b,,", ",", -1).unwrap(), ["a", "b", "", ""]);
        assert_eq!(split("a,b,c", ",", 2).unwrap(), ["a", "b,c"]);
        assert_eq!(split("", ",", 0).unwrap(), [""]);
        assert_eq!(split(",a", ",", 0).unwrap(), ["", "a"]);
    }

    #[test]
    fn matches_is_a_whole_match() {
        assert!(matches("abc", "a.c").unwrap());
        assert!(!matches("abcd", "a.c").unwrap());
    }
}
