//! A real browser: Debian's headless Chromium loads a page and the DOM it ends with is read
//! back (`--dump-dom`, after `--virtual-time-budget` lets the page's fetches finish). CORS is
//! enforced by the browser itself, which is the point of the tests that use it.

use std::process::Command;

/// The Chromium binary: `TOLLGATE_CHROMIUM` or Debian's `chromium` (`.ci/run` installs it).
pub fn chromium() -> String {
    std::env::var("TOLLGATE_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Loads `url` in a fresh headless Chromium profile and returns the final DOM.
pub fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("a profile directory");
    let out = Command::new("timeout")
        .arg("60")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (install Debian's chromium): {e}", chromium()));
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element with `id` in a dumped DOM (`<p id="ID">text</p>`), unescaped.
pub fn element_text(dom: &str, id: &str) -> String {
    let open = format!("id=\"{id}\">");
    let start = dom
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let end = dom[start..].find("</").map_or(dom.len(), |e| start + e);
    dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
