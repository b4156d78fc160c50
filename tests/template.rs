//! The template engine (`tollgate::template`) against real Apache Velocity 1.7: every template
//! of `tests/template/corpus/` and a generated corpus are rendered by both, with the same fixed
//! context (`tests/template/Runner.java` documents it), and the outputs compared. A difference
//! that is deliberate is listed, with its reason, in `tests/template/differences.txt`.
//!
//! Needs Debian's `velocity` and a JDK (`.ci/run` installs them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use tollgate::template::gateway::Plain;
use tollgate::template::{Budget, Template, Value};

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/template")
}

/// The context `Runner.java` gives every template.
fn fixed_context() -> Vec<(Rc<str>, Value)> {
    let s = Value::str;
    vec![
        ("name".into(), s("World")),
        ("n".into(), Value::int(3)),
        ("f".into(), Value::Float(2.5)),
        ("t".into(), Value::Bool(true)),
        ("empty".into(), s("")),
        ("list".into(), Value::list(vec![s("a"), s("b"), s("c")])),
        (
            "nums".into(),
            Value::list((1..=5).map(Value::int).collect()),
        ),
        (
            "map".into(),
            Value::map(vec![("k1".into(), s("v1")), ("k2".into(), s("v2"))]),
        ),
        (
            "nested".into(),
            Value::map(vec![(
                "inner".into(),
                Value::map(vec![
                    ("x".into(), Value::int(1)),
                    ("list".into(), Value::list(vec![s("p"), s("q")])),
                ]),
            )]),
        ),
    ]
}

/// What one engine made of one template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok(String),
    Error(String),
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Every `*.vtl` of `dir` rendered by Apache Velocity 1.7.
fn velocity(dir: &Path) -> BTreeMap<String, Outcome> {
    let out = Command::new("bash")
        .arg(here().join("velocity.sh"))
        .arg(dir)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "Apache Velocity 1.7 could not run (apt-get install velocity default-jdk-headless): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 from the runner");
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let name = parts.next().unwrap_or_default().to_string();
            let status = parts.next().unwrap_or_default();
            let body = unescape(parts.next().unwrap_or_default());
            let outcome = if status == "ok" {
                Outcome::Ok(body)
            } else {
                Outcome::Error(body)
            };
            (name, outcome)
        })
        .collect()
}

fn ours(src: &str) -> Outcome {
    match Template::parse(src) {
        Err(e) => Outcome::Error(format!("parse: {e}")),
        Ok(t) => match t.render_with(&mut Plain, fixed_context(), Budget::default()) {
            Ok(s) => Outcome::Ok(s),
            Err(e) => Outcome::Error(format!("render: {e}")),
        },
    }
}

fn agree(velocity: &Outcome, ours: &Outcome) -> bool {
    match (velocity, ours) {
        (Outcome::Ok(a), Outcome::Ok(b)) => a == b,
        (Outcome::Error(_), Outcome::Error(_)) => true,
        _ => false,
    }
}

/// `differences.txt`: `file<TAB>reason` per deliberate difference.
fn deliberate() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(here().join("differences.txt")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(f, why)| (f.trim().to_string(), why.trim().to_string()))
        .collect()
}

/// Compares both engines on every template of `dir`; returns the report of disagreements.
fn compare(dir: &Path, allowed: &BTreeMap<String, String>) -> (usize, Vec<String>) {
    let reference = velocity(dir);
    let mut report = Vec::new();
    for (name, expected) in &reference {
        let src = std::fs::read_to_string(dir.join(name)).expect("template readable");
        let got = ours(&src);
        let same = agree(expected, &got);
        match (same, allowed.contains_key(name)) {
            (true, true) => report.push(format!(
                "{name}: listed as a deliberate difference but both engines agree"
            )),
            (false, false) => report.push(format!(
                "{name}:\n  template: {src:?}\n  velocity: {expected:?}\n  tollgate: {got:?}"
            )),
            _ => {}
        }
    }
    (reference.len(), report)
}

#[test]
fn the_corpus_renders_as_velocity_1_7_renders_it() {
    let dir = here().join("corpus");
    let (n, report) = compare(&dir, &deliberate());
    assert!(n >= 300, "the corpus has {n} templates");
    assert!(
        report.is_empty(),
        "{} of {n} templates differ from Apache Velocity 1.7:\n{}",
        report.len(),
        report.join("\n")
    );
}

/// A small grammar of Velocity, expanded at random: references, directives, literals,
/// arithmetic, whitespace and the characters that make scanning hard (`$`, `#`, `\`).
struct Generator {
    rng: fastrand::Rng,
}

impl Generator {
    /// A template, avoiding the token sequences after which Velocity 1.7's lexer is in states
    /// this engine does not copy (the handwritten corpus covers each construct on its own):
    /// a lone `$` glued to a backslash, `$` or `#`; a lone `#` before `$` or `\`; `\` before a
    /// macro definition; `\$a` naming a macro parameter; `##` or `}` right after a `#set`
    /// line. None of them is a construct a mapping template is written with.
    fn template(&mut self) -> String {
        loop {
            let len = self.rng.usize(1..6);
            let src = self.block(2, len);
            let b = src.as_bytes();
            let glued = (0..b.len()).any(|i| {
                let lone_dollar = b[i] == b'$'
                    && !b.get(i + 1).is_some_and(|&c| {
                        c.is_ascii_alphabetic() || matches!(c, b'_' | b'{' | b'!')
                    });
                lone_dollar
                    && (i > 0 && b[i - 1] == b'\\'
                        || matches!(b.get(i + 1), Some(b'$' | b'#' | b'\\')))
            });
            let odd = ["\\\n#macro", "#$", "#\\", "\\$a", "##", "(#"];
            let after_set = src.match_indices("#set(").any(|(i, _)| {
                src[i..].find(")\n").is_some_and(|j| {
                    let rest = &src[i + j + 2..];
                    rest.starts_with("##") || rest.starts_with('}')
                })
            });
            if !glued && !after_set && !odd.iter().any(|o| src.contains(o)) {
                return src;
            }
        }
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.rng.usize(..options.len())]
    }

    fn reference(&mut self) -> String {
        let root = self.pick(&[
            "name", "n", "f", "t", "empty", "list", "nums", "map", "nested", "nothing", "x", "y",
        ]);
        let tail = self.pick(&[
            "",
            "",
            "",
            ".size()",
            ".get(0)",
            ".k1",
            ".inner.x",
            "[1]",
            ".length()",
            ".toUpperCase()",
            ".isEmpty()",
            ".keySet()",
            ".substring(1)",
            ".contains(\"a\")",
            ".inner.list[0]",
        ]);
        let form = self.rng.usize(..4);
        match form {
            0 => format!("${root}{tail}"),
            1 => format!("${{{root}{tail}}}"),
            2 => format!("$!{root}{tail}"),
            _ => format!("$!{{{root}{tail}}}"),
        }
    }

    fn expr(&mut self, depth: u32) -> String {
        if depth == 0 || self.rng.bool() {
            // List literals only as whole expressions: a null operand that is not a reference
            // prints, in string concatenation, as Velocity's token text (not copied here).
            let leaves = if depth == 2 { 6 } else { 4 };
            return match self.rng.usize(..leaves) {
                0 => self.reference().replace('!', ""),
                1 => self.rng.i32(-20..100).to_string(),
                2 => format!("{}.{}", self.rng.u8(0..10), self.rng.u8(0..100)),
                3 => self.pick(&["true", "false", "$n", "$f"]).into(),
                4 => self.pick(&["\"s\"", "'q'", "\"$name!\"", "\"\""]).into(),
                5 => self.pick(&["[1, 2]", "[1..3]", "[]", "[$n..1]"]).into(),
                _ => self.reference().replace('!', ""),
            };
        }
        let op = self.pick(&[
            " + ", " - ", " * ", " / ", " % ", " == ", " != ", " < ", " >= ", " && ", " || ",
            " eq ",
        ]);
        let (a, b) = (self.expr(depth - 1), self.expr(depth - 1));
        if self.rng.u8(..4) == 0 {
            format!("!({a}{op}{b})")
        } else {
            format!("{a}{op}{b}")
        }
    }

    fn text(&mut self) -> String {
        self.pick(&[
            "a", " ", "  ", "\n", "\t", "x y", "$", "#", "\\", "$5", "# ", "a#b", "\\$", ".", "(",
            ")", "\"", "'", "=", "\n  ",
        ])
        .into()
    }

    fn block(&mut self, depth: u32, len: usize) -> String {
        let mut s = String::new();
        for _ in 0..len {
            let pick = if depth == 0 {
                self.rng.usize(..3)
            } else {
                self.rng.usize(..9)
            };
            match pick {
                0 | 1 => s.push_str(&self.text()),
                // A space after each reference keeps the next piece out of the reference
                // lexer's state (`$a.b(`, `$a.b{`, `$a.b##` and `$a.b x #set` are lexed
                // specially; the handwritten corpus covers those).
                2 => {
                    s.push_str(&self.reference());
                    s.push(' ');
                }
                3 => {
                    let var = self.pick(&["x", "y", "name", "n"]);
                    let e = self.expr(2);
                    let ws = self.pick(&["", " ", "  "]);
                    let nl = self.pick(&["", "\n", " \n"]);
                    s.push_str(&format!("{ws}#set(${var} = {e}){nl}"));
                }
                4 => {
                    let c = self.expr(2);
                    let body = self.block(depth - 1, 2);
                    let nl = self.pick(&["", "\n"]);
                    s.push_str(&format!("#if({c}){nl}{body}"));
                    if self.rng.bool() {
                        let other = self.block(depth - 1, 2);
                        let e = self.pick(&["#else", "#{else}", "#elseif($t)"]);
                        s.push_str(&format!("{e}{nl}{other}"));
                    }
                    s.push_str(self.pick(&["#end", "#end\n", "#{end}", "  #end\n"]));
                }
                5 => {
                    let over = self.pick(&[
                        "$list",
                        "$nums",
                        "$map",
                        "[1..3]",
                        "$map.keySet()",
                        "$nothing",
                        "[]",
                    ]);
                    let body = self.block(depth - 1, 3);
                    let extra = self.pick(&[
                        "",
                        "$foreach.index",
                        "$foreach.count",
                        "$foreach.hasNext",
                        "$velocityCount",
                        "#if($foreach.hasNext),#end",
                    ]);
                    s.push_str(&format!("#foreach($i in {over})$i {extra} {body}#end"));
                }
                6 => s.push_str(self.pick(&["#[[ $raw #if ]]#", "\\#if", "\\\\$name"])),
                7 => {
                    let e = self.expr(2);
                    s.push_str(&format!("#set($z = {e})$z "));
                }
                _ => {
                    let body = self.block(depth - 1, 2);
                    s.push_str(&format!("\n#macro(m $a)<$a>{body}#end#m($name)#m(\"x\")"));
                }
            }
        }
        s
    }
}

#[test]
fn generated_templates_render_as_velocity_1_7_renders_them() {
    let seed = std::env::var("TEMPLATE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261202);
    let mut g = Generator {
        rng: fastrand::Rng::with_seed(seed),
    };
    let dir = std::env::temp_dir().join(format!("tollgate-vtl-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for i in 0..400 {
        let src = g.template();
        std::fs::write(dir.join(format!("{i:04}.vtl")), src).expect("write");
    }
    let (n, report) = compare(&dir, &BTreeMap::new());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(n, 400);
    assert!(
        report.is_empty(),
        "seed {seed}: {} of {n} generated templates differ from Apache Velocity 1.7:\n{}",
        report.len(),
        report.join("\n")
    );
}
