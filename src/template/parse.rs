//! Scanner and recursive-descent parser for Velocity 1.7 templates, run by the control plane
//! when a configuration is compiled. Errors name the line and column in the template.
//!
//! The grammar follows Velocity 1.7's `Parser.jjt`; where this file has to decide something the
//! grammar leaves to the lexer's states (whitespace around directives, escapes), the rule is
//! written where it is applied, with the corpus file of `tests/template/corpus/` that shows
//! Velocity doing it.

use memchr::memchr3;

use super::ast::{BinOp, Expr, Macro, Node, Reference, Step};

/// Deepest nesting of blocks and expressions accepted (a template nested deeper is refused
/// rather than risking the control plane's stack).
const MAX_DEPTH: usize = 100;

/// A template that does not parse, with the place in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line in the template.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

/// A parsed template: its nodes and the macros it defines (Velocity registers inline macros
/// when the template is parsed, wherever they appear).
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The top-level nodes.
    pub nodes: Vec<Node>,
    /// `#macro` definitions by name; a later definition replaces an earlier one.
    pub macros: Vec<(Box<str>, Macro)>,
}

/// Parses a whole template.
pub fn parse(src: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser::new(src, true);
    let (nodes, end) = p.block()?;
    match end {
        End::Eof => Ok(Parsed {
            nodes,
            macros: p.macros,
        }),
        End::End(at) => Err(p.error_at(
            at,
            "#end without a matching #if, #foreach, #macro or #define",
        )),
        End::Else(at) | End::ElseIf(at, _) => Err(p.error_at(at, "#else or #elseif outside #if")),
    }
}

/// What ended a block.
#[allow(clippy::enum_variant_names)]
enum End {
    Eof,
    End(usize),
    Else(usize),
    ElseIf(usize, Expr),
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
    macros: Vec<(Box<str>, Macro)>,
    /// Where a `##` directly follows a directive (it is then no comment).
    glued_hash: Option<usize>,
    /// The template itself, not a string literal's contents: a lone `$`, `$!`, `#` or `#*`
    /// at its very end is a lexical error in Velocity 1.7 (corpus 317, 662, 664, 721, 722).
    top: bool,
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// Velocity 1.7 identifiers: a letter or `_`, then letters, digits, `-` and `_`.
fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Directive names: letters, digits and `_` (a `-` ends them).
fn word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Parser<'a> {
    /// A parser at the start of `src` (`top`: the template itself, not a string's contents).
    fn new(src: &'a str, top: bool) -> Self {
        Parser {
            s: src,
            b: src.as_bytes(),
            pos: 0,
            depth: 0,
            macros: Vec::new(),
            top,
            glued_hash: None,
        }
    }

    /// At a lone `$`: whether a directive follows it directly, or blanks and `#set`.
    fn dollar_vanishes(&self) -> bool {
        let mut p = self.pos + 1;
        while matches!(self.b.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        if self.b.get(p) != Some(&b'#') {
            return false;
        }
        let mut at = Parser::new(self.s, false);
        at.pos = p;
        match at.word_after_hash() {
            Some(("set", _)) => true,
            Some((w, _)) if p == self.pos + 1 => matches!(
                w,
                "if" | "elseif" | "else" | "end" | "foreach" | "break" | "stop" | "define"
            ),
            _ => false,
        }
    }

    /// Fails when a token started at `self.pos` runs to the end of the template.
    fn not_at_end(&self, len: usize) -> Result<(), ParseError> {
        if self.top && self.pos + len >= self.b.len() {
            return Err(self.error_at(
                self.b.len(),
                "the template ends inside a reference or directive",
            ));
        }
        Ok(())
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> ParseError {
        let at = at.min(self.s.len());
        let before = &self.s[..at];
        let line = before.bytes().filter(|&c| c == b'\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() as u32 + 1;
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.b.get(self.pos + off).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.b[self.pos..].starts_with(s.as_bytes())
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Text and nodes up to the end of input or a `#end` / `#else` / `#elseif`.
    fn block(&mut self) -> Result<(Vec<Node>, End), ParseError> {
        self.enter()?;
        let mut out = Out::default();
        let end = loop {
            let rest = &self.b[self.pos..];
            let Some(i) = memchr3(b'$', b'#', b'\\', rest) else {
                out.text.push_str(&self.s[self.pos..]);
                self.pos = self.b.len();
                break End::Eof;
            };
            out.text.push_str(&self.s[self.pos..self.pos + i]);
            self.pos += i;
            match self.b[self.pos] {
                b'\\' => self.backslashes(&mut out)?,
                b'$' => match self.reference()? {
                    Some(r) => {
                        // Right after a reference ending in a property, `##` is text, not a
                        // comment (generated corpus: `$foreach.count## c` prints `## c`,
                        // `$z## c` and `$a.b()## c` do not).
                        let prop =
                            matches!(r.steps.last(), Some(Step::Prop(_))) && !r.raw.ends_with('}');
                        out.node(Node::Ref(r));
                        if prop && self.starts_with("##") {
                            out.text.push_str("##");
                            self.pos += 2;
                        }
                    }
                    // A lone `$` directly before a directive vanishes, and before blanks and
                    // `#set` it goes with the blanks (generated corpus: `$#end`, `$  #set`).
                    None if self.dollar_vanishes() => {
                        self.pos += 1;
                        out.token();
                    }
                    // `$!` before anything but a name or `{` prints `$` and drops the `!`
                    // (corpus 660, 661).
                    None if self.peek_at(1) == Some(b'!') && self.peek_at(2) != Some(b'{') => {
                        self.not_at_end(2)?;
                        out.text.push('$');
                        self.pos += 2;
                    }
                    None => {
                        self.not_at_end(1)?;
                        out.text.push('$');
                        self.pos += 1;
                    }
                },
                _ => {
                    if let Some(end) = self.hash(&mut out)? {
                        break end;
                    }
                }
            }
        };
        self.leave();
        Ok((out.finish(), end))
    }

    /// A run of backslashes: before a reference or a directive it escapes it (see
    /// `Node::EscapedRef`); elsewhere it is text.
    fn backslashes(&mut self, out: &mut Out) -> Result<(), ParseError> {
        let start = self.pos;
        while self.peek() == Some(b'\\') {
            self.pos += 1;
        }
        let slashes = (self.pos - start) as u32;
        match self.peek() {
            Some(b'$') => {
                if let Some(reference) = self.reference()? {
                    out.node(Node::EscapedRef { slashes, reference });
                } else {
                    out.text.push_str(&self.s[start..self.pos]);
                }
            }
            Some(b'#') if self.directive_word_here().is_some() => {
                // `\#if`, `\#m()` for a macro defined above: the backslashes are halved; an odd
                // run makes the directive text (corpus 307-311). Before other names they stay.
                out.text
                    .push_str(&self.s[start..start + (slashes / 2) as usize]);
                if slashes % 2 == 1 {
                    let (_, len) = self.directive_word_here().unwrap_or_default();
                    out.text.push_str(&self.s[self.pos..self.pos + len]);
                    self.pos += len;
                }
            }
            _ => out.text.push_str(&self.s[start..self.pos]),
        }
        out.token();
        Ok(())
    }

    /// At a `#`: the directive word there and the length of `#word` / `#{word}`, when it is
    /// a known directive.
    fn directive_word_here(&self) -> Option<(&'a str, usize)> {
        let (word, len) = self.word_after_hash()?;
        (matches!(
            word,
            "set"
                | "if"
                | "elseif"
                | "else"
                | "end"
                | "foreach"
                | "break"
                | "stop"
                | "define"
                | "macro"
                | "include"
                | "parse"
                | "evaluate"
        ) || self.macros.iter().any(|(n, _)| &**n == word))
        .then_some((word, len))
    }

    /// `#word` or `#{word}` at the cursor: the word and the length including `#` and braces.
    fn word_after_hash(&self) -> Option<(&'a str, usize)> {
        let mut p = self.pos + 1;
        let braced = self.b.get(p) == Some(&b'{');
        if braced {
            p += 1;
        }
        let start = p;
        if !self.b.get(p).is_some_and(|&c| c.is_ascii_alphabetic()) {
            return None;
        }
        while self.b.get(p).is_some_and(|&c| word_char(c)) {
            p += 1;
        }
        let word = &self.s[start..p];
        if braced {
            if self.b.get(p) != Some(&b'}') {
                return None;
            }
            p += 1;
        }
        Some((word, p - self.pos))
    }

    /// At a `#`: a comment, an unparsed block, a directive, a macro call, or text.
    fn hash(&mut self, out: &mut Out) -> Result<Option<End>, ParseError> {
        let at = self.pos;
        if self.glued_hash == Some(at) {
            // `##` right after a directive is no comment: the first `#` is text (generated
            // corpus: `#end##set(..)` runs the `#set`).
            out.text.push('#');
            self.pos += 1;
            return Ok(None);
        }
        if self.starts_with("##") {
            // A line comment runs to the end of the line and takes the newline with it.
            let rest = &self.b[self.pos..];
            self.pos += memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            out.token();
            return Ok(None);
        }
        if self.starts_with("#*") {
            // Comments do not nest; one never closed swallows the rest (corpus 286, 296).
            self.not_at_end(2)?;
            let rest = &self.s[self.pos + 2..];
            self.pos = rest
                .find("*#")
                .map_or(self.b.len(), |i| self.pos + 2 + i + 2);
            out.token();
            return Ok(None);
        }
        if self.starts_with("#[[") {
            let rest = &self.s[self.pos + 3..];
            let Some(i) = rest.find("]]#") else {
                return Err(self.error("#[[ without its closing ]]#"));
            };
            out.text.push_str(&rest[..i]);
            self.pos += 3 + i + 3;
            out.token();
            return Ok(None);
        }
        if self.starts_with("#@") {
            return self.block_call(out).map(|()| None);
        }
        let Some((word, len)) = self.word_after_hash() else {
            self.not_at_end(1)?;
            out.lone_hash();
            self.pos += 1;
            return Ok(None);
        };
        if matches!(word, "set" | "foreach" | "define" | "macro") && !self.paren_follows(len) {
            // `#set $a = 1` is text (corpus 534).
            out.text.push_str(&self.s[self.pos..self.pos + len]);
            self.pos += len;
            return Ok(None);
        }
        match word {
            "end" => {
                self.pos += len;
                Ok(Some(End::End(at)))
            }
            "else" => {
                self.pos += len;
                Ok(Some(End::Else(at)))
            }
            "elseif" => {
                self.pos += len;
                let cond = self.paren_expr("#elseif")?;
                Ok(Some(End::ElseIf(at, cond)))
            }
            "set" => {
                self.pos += len;
                out.trim_indent();
                let node = self.set()?;
                out.node(node);
                Ok(None)
            }
            "if" => {
                self.pos += len;
                let node = self.if_(at)?;
                out.node(node);
                Ok(None)
            }
            "foreach" => {
                self.pos += len;
                let node = self.foreach(at)?;
                out.node(node);
                Ok(None)
            }
            "break" => {
                self.pos += len;
                let target = self.optional_arg()?;
                out.node(Node::Break(target));
                Ok(None)
            }
            "stop" => {
                self.pos += len;
                self.optional_arg()?;
                out.node(Node::Stop);
                Ok(None)
            }
            "define" => {
                self.pos += len;
                let node = self.define(at)?;
                out.node(node);
                Ok(None)
            }
            "macro" => {
                self.pos += len;
                self.macro_(at)?;
                out.token();
                Ok(None)
            }
            "include" | "parse" | "evaluate" => Err(self.error(format!(
                "#{word} is not available in API Gateway mapping templates"
            ))),
            _ => {
                // `#name(args)` or `#name`: a macro call, resolved when rendering (a macro may
                // be defined after its first use, corpus 259, 625); text when none exists.
                if !self.paren_follows(len) {
                    self.pos += len;
                    out.node(Node::Call {
                        name: word.into(),
                        args: Vec::new().into(),
                        raw: self.s[at..self.pos].into(),
                        body: None,
                    });
                    return Ok(None);
                }
                self.skip_to_paren(len);
                let args = self.args(b')', false)?;
                let raw = self.s[at..self.pos].into();
                self.eat_line_end();
                out.node(Node::Call {
                    name: word.into(),
                    args: args.into(),
                    raw,
                    body: None,
                });
                Ok(None)
            }
        }
    }

    /// Whether `(` follows the `#word` of length `len` (spaces and tabs between allowed).
    fn paren_follows(&self, len: usize) -> bool {
        let mut p = self.pos + len;
        while matches!(self.b.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        self.b.get(p) == Some(&b'(')
    }

    /// Moves past `#word` and the spaces to just after its `(`.
    fn skip_to_paren(&mut self, len: usize) {
        self.pos += len;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos += 1;
    }

    /// `#break` / `#stop` may take `()` or `($foreach.parent)`.
    fn optional_arg(&mut self) -> Result<Option<Expr>, ParseError> {
        if self.peek() != Some(b'(') {
            return Ok(None);
        }
        self.pos += 1;
        let mut args = self.args(b')', true)?;
        Ok(args.pop())
    }

    /// `#@name(args)...#end`: a macro call with a body, which the macro renders as
    /// `$bodyContent`.
    fn block_call(&mut self, out: &mut Out) -> Result<(), ParseError> {
        let at = self.pos;
        self.pos += 1;
        let Some((word, len)) = self.word_after_hash() else {
            out.text.push_str("#@");
            self.pos += 1;
            return Ok(());
        };
        if !self.paren_follows(len) {
            out.text.push_str("#@");
            self.pos += 1;
            return Ok(());
        }
        self.skip_to_paren(len);
        let args = self.args(b')', false)?;
        let raw = self.s[at..self.pos].into();
        self.eat_line_end();
        let body = self.end_block(at, "#@ call")?;
        out.node(Node::Call {
            name: word.into(),
            args: args.into(),
            raw,
            body: Some(body.into()),
        });
        Ok(())
    }

    /// After a directive's closing `)`, or a `#else`/`#end`: Velocity 1.7 takes the rest of the
    /// line when it is only spaces and tabs and a newline.
    fn eat_line_end(&mut self) {
        let start = self.pos;
        self.eat_blank_line();
        if self.pos != start && self.starts_with("##") {
            self.glued_hash = Some(self.pos);
        }
    }

    /// After `#end` and `#else`: the rest of a blank line goes, and a `##` right after is no
    /// comment (generated corpus: `#end##set(..)`; after `#set(..)` it is, corpus 783).
    fn after_keyword(&mut self) {
        self.eat_blank_line();
        if self.starts_with("##") {
            self.glued_hash = Some(self.pos);
        }
    }

    fn eat_blank_line(&mut self) {
        let mut p = self.pos;
        while matches!(self.b.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        match self.b.get(p) {
            Some(b'\n') => self.pos = p + 1,
            Some(b'\r') => {
                self.pos = p + 1;
                if self.b.get(self.pos) == Some(&b'\n') {
                    self.pos += 1;
                }
            }
            _ => {}
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), ParseError> {
        self.skip_ws();
        if self.peek() != Some(c) {
            return Err(self.error(format!("expected `{}` {what}", c as char)));
        }
        self.pos += 1;
        Ok(())
    }

    /// `( expr )` after `#if` / `#elseif`.
    fn paren_expr(&mut self, what: &str) -> Result<Expr, ParseError> {
        self.expect(b'(', &format!("after {what}"))?;
        let e = self.expr()?;
        self.expect(b')', &format!("to close {what}"))?;
        self.eat_line_end();
        Ok(e)
    }

    fn set(&mut self) -> Result<Node, ParseError> {
        self.expect(b'(', "after #set")?;
        self.skip_ws();
        if self.peek() != Some(b'$') {
            return Err(self.error("#set needs a reference on the left of `=`"));
        }
        let Some(target) = self.reference()? else {
            return Err(self.error("#set needs a reference on the left of `=`"));
        };
        if matches!(target.steps.last(), Some(Step::Method(..))) {
            return Err(self.error("#set cannot assign to a method call"));
        }
        self.expect(b'=', "in #set")?;
        let value = self.expr()?;
        self.expect(b')', "to close #set")?;
        self.eat_line_end();
        Ok(Node::Set { target, value })
    }

    fn if_(&mut self, at: usize) -> Result<Node, ParseError> {
        let mut cond = self.paren_expr("#if")?;
        let mut branches = Vec::new();
        loop {
            let (body, end) = self.block()?;
            match end {
                End::Eof => return Err(self.error_at(at, "#if without its #end")),
                End::End(_) => {
                    self.after_keyword();
                    branches.push((cond, body));
                    return Ok(Node::If {
                        branches,
                        otherwise: None,
                    });
                }
                End::ElseIf(_, next) => {
                    branches.push((cond, body));
                    cond = next;
                }
                End::Else(_) => {
                    self.after_keyword();
                    branches.push((cond, body));
                    let (otherwise, end) = self.block()?;
                    return match end {
                        End::End(_) => {
                            self.after_keyword();
                            Ok(Node::If {
                                branches,
                                otherwise: Some(otherwise),
                            })
                        }
                        End::Eof => Err(self.error_at(at, "#if without its #end")),
                        End::Else(p) | End::ElseIf(p, _) => {
                            Err(self.error_at(p, "#else or #elseif after #else"))
                        }
                    };
                }
            }
        }
    }

    /// A block ending in `#end` (for `#foreach`, `#define`, `#macro`).
    fn end_block(&mut self, at: usize, what: &str) -> Result<Vec<Node>, ParseError> {
        let (body, end) = self.block()?;
        match end {
            End::End(_) => {
                self.after_keyword();
                Ok(body)
            }
            End::Eof => Err(self.error_at(at, format!("{what} without its #end"))),
            End::Else(p) | End::ElseIf(p, _) => {
                Err(self.error_at(p, format!("#else or #elseif inside {what}")))
            }
        }
    }

    fn foreach(&mut self, at: usize) -> Result<Node, ParseError> {
        self.expect(b'(', "after #foreach")?;
        self.skip_ws();
        // Velocity 1.7 checks neither the variable nor the `in` word: `#foreach(1 in $l)` and
        // `#foreach($i of $l)` iterate (corpus 221, 545).
        let var = match self.primary()? {
            Expr::Ref(r) if r.steps.is_empty() && !r.silent => Some(r.root),
            _ => None,
        };
        self.skip_ws();
        let word = self.pos;
        while self.peek().is_some_and(ident_char) {
            self.pos += 1;
        }
        if word == self.pos {
            return Err(self.error("expected `in` in #foreach"));
        }
        let iterable = self.expr()?;
        self.expect(b')', "to close #foreach")?;
        self.eat_line_end();
        let body = self.end_block(at, "#foreach")?;
        Ok(Node::Foreach {
            var,
            iterable,
            body,
        })
    }

    fn define(&mut self, at: usize) -> Result<Node, ParseError> {
        self.expect(b'(', "after #define")?;
        self.skip_ws();
        let name = match self.reference()? {
            Some(r) if r.steps.is_empty() => r.root,
            _ => return Err(self.error("#define needs a name: #define($block)")),
        };
        self.expect(b')', "to close #define")?;
        self.eat_line_end();
        let body = self.end_block(at, "#define")?;
        Ok(Node::Define {
            name,
            body: body.into(),
        })
    }

    fn macro_(&mut self, at: usize) -> Result<(), ParseError> {
        self.expect(b'(', "after #macro")?;
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(word_char) {
            self.pos += 1;
        }
        if start == self.pos || !self.b[start].is_ascii_alphabetic() || self.peek() == Some(b'-') {
            return Err(
                self.error("#macro needs a name of letters, digits and _: #macro(name $arg)")
            );
        }
        let name: Box<str> = self.s[start..self.pos].into();
        let mut params = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                Some(b',') => self.pos += 1,
                Some(b'$') => match self.reference()? {
                    Some(r) if r.steps.is_empty() => params.push(r.root),
                    _ => return Err(self.error("a #macro parameter is a plain $name")),
                },
                _ => return Err(self.error("expected a $parameter or `)` in #macro")),
            }
        }
        self.eat_line_end();
        let body = self.end_block(at, "#macro")?;
        // The first definition of a name wins (`velocimacro.permissions.allow.inline.to.
        // replace.global` is false; corpus 277).
        if !self.macros.iter().any(|(n, _)| *n == name) {
            self.macros.push((
                name,
                Macro {
                    params: params.into(),
                    body: body.into(),
                },
            ));
        }
        Ok(())
    }

    /// A reference at `$`, or `None` (cursor unmoved) when the `$` starts none.
    fn reference(&mut self) -> Result<Option<Reference>, ParseError> {
        let start = self.pos;
        let mut p = start + 1;
        let silent = self.b.get(p) == Some(&b'!');
        if silent {
            p += 1;
        }
        let braced = self.b.get(p) == Some(&b'{');
        if braced {
            p += 1;
        }
        if !self.b.get(p).is_some_and(|&c| ident_start(c)) {
            return Ok(None);
        }
        let name_start = p;
        while self.b.get(p).is_some_and(|&c| ident_char(c)) {
            p += 1;
        }
        let root: Box<str> = self.s[name_start..p].into();
        self.pos = p;
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') if self.peek_at(1).is_some_and(ident_start) => {
                    self.pos += 1;
                    let s = self.pos;
                    while self.peek().is_some_and(ident_char) {
                        self.pos += 1;
                    }
                    let name: Box<str> = self.s[s..self.pos].into();
                    if self.peek() == Some(b'(') {
                        self.pos += 1;
                        let args = self.args(b')', true)?;
                        steps.push(Step::Method(name, args));
                    } else {
                        steps.push(Step::Prop(name));
                    }
                }
                Some(b'[') => {
                    // After a name, `[` always opens an index (corpus 547: `$list[0` fails).
                    self.pos += 1;
                    self.enter()?;
                    let e = self.expr();
                    self.leave();
                    let e = e?;
                    self.skip_ws();
                    if self.peek() != Some(b']') {
                        return Err(self.error("expected `]` to close an index"));
                    }
                    self.pos += 1;
                    steps.push(Step::Index(e));
                }
                _ => break,
            }
        }
        if braced {
            if self.peek() != Some(b'}') {
                // `${name and more`: Velocity expects `}` (corpus 029, 745).
                return Err(self.error("expected `}` to close `${`"));
            }
            self.pos += 1;
        }
        Ok(Some(Reference {
            silent,
            root,
            steps,
            raw: self.s[start..self.pos].into(),
        }))
    }

    /// Arguments up to `close`: comma-separated for method calls, space- or comma-separated
    /// for macro calls.
    fn args(&mut self, close: u8, commas: bool) -> Result<Vec<Expr>, ParseError> {
        self.enter()?;
        let mut args = Vec::new();
        let mut separated = true;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.error(format!("expected `{}`", close as char))),
                Some(b',') if !separated => {
                    self.pos += 1;
                    separated = true;
                    continue;
                }
                _ => {}
            }
            if commas && !separated {
                return Err(self.error("expected `,` between arguments"));
            }
            args.push(self.expr()?);
            separated = false;
        }
        self.leave();
        Ok(args)
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.binary(0);
        self.leave();
        e
    }

    /// The operator at the cursor (after whitespace) and its length.
    fn operator(&mut self) -> Option<(BinOp, usize)> {
        self.skip_ws();
        let rest = &self.b[self.pos..];
        // Symbols, and the word forms that must not run on into a name.
        const OPS: [(&str, BinOp, bool); 21] = [
            ("||", BinOp::Or, false),
            ("or", BinOp::Or, true),
            ("&&", BinOp::And, false),
            ("and", BinOp::And, true),
            ("==", BinOp::Eq, false),
            ("eq", BinOp::Eq, true),
            ("!=", BinOp::Ne, false),
            ("ne", BinOp::Ne, true),
            ("<=", BinOp::Le, false),
            ("le", BinOp::Le, true),
            (">=", BinOp::Ge, false),
            ("ge", BinOp::Ge, true),
            ("<", BinOp::Lt, false),
            ("lt", BinOp::Lt, true),
            (">", BinOp::Gt, false),
            ("gt", BinOp::Gt, true),
            ("+", BinOp::Add, false),
            ("-", BinOp::Sub, false),
            ("*", BinOp::Mul, false),
            ("/", BinOp::Div, false),
            ("%", BinOp::Rem, false),
        ];
        OPS.iter()
            .find(|(text, _, word)| {
                rest.starts_with(text.as_bytes())
                    && !(*word && rest.get(text.len()).is_some_and(|&c| ident_char(c)))
            })
            .map(|(text, op, _)| (*op, text.len()))
    }

    /// Precedence climbing: `or` < `and` < equality < relational < additive < multiplicative.
    fn binary(&mut self, min: u8) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        loop {
            let save = self.pos;
            let Some((op, len)) = self.operator() else {
                self.pos = save;
                break;
            };
            let prec = precedence(op);
            if prec < min {
                self.pos = save;
                break;
            }
            self.pos += len;
            self.enter()?;
            let right = self.binary(prec + 1);
            self.leave();
            left = Expr::Binary(op, Box::new(left), Box::new(right?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let rest = &self.b[self.pos..];
        if rest.starts_with(b"!") && !rest.starts_with(b"!=") {
            self.pos += 1;
            self.enter()?;
            let e = self.unary();
            self.leave();
            return Ok(Expr::Not(Box::new(e?)));
        }
        if rest.starts_with(b"not") && !rest.get(3).is_some_and(|&c| ident_char(c)) {
            self.pos += 3;
            self.enter()?;
            let e = self.unary();
            self.leave();
            return Ok(Expr::Not(Box::new(e?)));
        }
        // Unary minus exists only on number literals (`-$n` is an error, corpus 121).
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err(self.error("expected a value"));
        };
        match c {
            b'$' => match self.reference()? {
                Some(r) => Ok(Expr::Ref(r)),
                None => Err(self.error("expected a reference after `$`")),
            },
            b'"' => self.double_quoted(),
            b'\'' => self.single_quoted(),
            b'0'..=b'9' | b'-' => self.number(),
            b'.' if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => self.number(),
            b'[' => self.list(),
            b'{' => self.map(),
            b'(' => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(b')', "to close `(`")?;
                Ok(e)
            }
            _ if self.starts_with("true") && !self.peek_at(4).is_some_and(ident_char) => {
                self.pos += 4;
                Ok(Expr::Bool(true))
            }
            _ if self.starts_with("false") && !self.peek_at(5).is_some_and(ident_char) => {
                self.pos += 5;
                Ok(Expr::Bool(false))
            }
            _ => Err(self.error(format!(
                "unexpected `{}`",
                self.s[self.pos..].chars().next().unwrap_or(' ')
            ))),
        }
    }

    /// Integer and floating literals as Velocity 1.7 lexes them: `7`, `-7`, `007`, `1.5`,
    /// `1.`, `.5`, `1e3`, `2E-2` (corpus 686, 687); `1..` is the integer before a range's `..`.
    fn number(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos - s
        };
        let int_digits = digits(self);
        let mut float = false;
        if self.peek() == Some(b'.') && self.peek_at(1) != Some(b'.') {
            let save = self.pos;
            self.pos += 1;
            let frac = digits(self);
            if int_digits + frac == 0 {
                self.pos = save;
            } else {
                float = true;
            }
        }
        if int_digits == 0 && !float {
            return Err(self.error_at(start, "expected a number"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                self.pos = save;
            } else {
                float = true;
            }
        }
        let text = &self.s[start..self.pos];
        if float {
            return text
                .parse()
                .map(Expr::Float)
                .map_err(|_| self.error_at(start, "not a number"));
        }
        text.parse()
            .map(Expr::Int)
            .map_err(|_| self.error_at(start, "integer out of range"))
    }

    /// `"..."`: a doubled `""` is a quote; a backslash keeps the next character inside the
    /// string. With `$` or `#` inside, the contents are a template rendered at each use.
    fn double_quoted(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, "string without its closing `\"`")),
                Some(b'"') if self.peek_at(1) == Some(b'"') => {
                    text.push('"');
                    self.pos += 2;
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') if self.peek_at(1).is_some() => {
                    let ch_len = self.s[self.pos + 1..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                    text.push_str(&self.s[self.pos..self.pos + 1 + ch_len]);
                    self.pos += 1 + ch_len;
                }
                Some(_) => {
                    let ch = self.s[self.pos..].chars().next().unwrap_or(' ');
                    text.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        let text = unicode_escapes(&text);
        if !text.contains(['$', '#']) {
            return Ok(Expr::Str(text.into()));
        }
        let mut inner = Parser::new(&text, false);
        inner.depth = self.depth;
        let parsed = inner.block();
        let (nodes, end) = parsed.map_err(|e| ParseError {
            message: format!("in a string: {}", e.message),
            ..self.error_at(start, "")
        })?;
        if !matches!(end, End::Eof) {
            return Err(self.error_at(start, "in a string: #end, #else or #elseif out of place"));
        }
        Ok(Expr::Interpolated(nodes))
    }

    /// `'...'`: literal text; a doubled `''` is a quote.
    fn single_quoted(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            let rest = &self.s[self.pos..];
            let Some(i) = rest.find('\'') else {
                return Err(self.error_at(start, "string without its closing `'`"));
            };
            text.push_str(&rest[..i]);
            self.pos += i + 1;
            if self.peek() == Some(b'\'') {
                text.push('\'');
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(Expr::Str(text.into()))
    }

    /// `[a, b]`, `[]` or `[a..b]`.
    fn list(&mut self) -> Result<Expr, ParseError> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Expr::List(Vec::new()));
        }
        let first = self.expr()?;
        self.skip_ws();
        if self.starts_with("..") {
            // Range bounds are integer literals or references (corpus 098, 681).
            self.pos += 2;
            let last = self.expr()?;
            for bound in [&first, &last] {
                if !matches!(bound, Expr::Int(_) | Expr::Ref(_)) {
                    return Err(self.error("a range's bounds are integers or references"));
                }
            }
            self.expect(b']', "to close a range")?;
            return Ok(Expr::Range(Box::new(first), Box::new(last)));
        }
        let mut items = vec![first];
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    items.push(self.expr()?);
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Expr::List(items));
                }
                _ => return Err(self.error("expected `,` or `]` in a list")),
            }
        }
    }

    /// `{k: v, ...}`.
    fn map(&mut self) -> Result<Expr, ParseError> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Expr::Map(entries));
            }
            if !entries.is_empty() {
                // After an entry: `,` and another entry (no trailing comma, corpus 766).
                self.expect(b',', "between map entries")?;
            }
            let key = self.expr()?;
            self.expect(b':', "between a map key and its value")?;
            let value = self.expr()?;
            entries.push((key, value));
            self.skip_ws();
            if !matches!(self.peek(), Some(b',' | b'}')) {
                return Err(self.error("expected `,` or `}` in a map"));
            }
        }
    }
}

fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Eq | BinOp::Ne => 3,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
        BinOp::Add | BinOp::Sub => 5,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 6,
    }
}

/// `\uXXXX` in a double-quoted string is the character (corpus 573); other backslashes stay.
fn unicode_escapes(text: &str) -> String {
    if !text.contains("\\u") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 6);
        match hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) if hex.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())) => {
                out.push(c);
                rest = &rest[i + 6..];
            }
            _ => {
                out.push_str("\\u");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Nodes being collected: text is gathered into one `Text` node between other nodes.
///
/// Velocity's lexer reads ordinary characters as *text runs*; a run ends at every token
/// (reference, directive, comment, backslash run). `#set` eats the blanks in front of it only
/// when they are a run of their own (corpus 341 against 704): `run` is where the current run
/// began in `text`.
#[derive(Default)]
struct Out {
    nodes: Vec<Node>,
    text: String,
    run: usize,
    /// The current run began with a lone `#` (which `#set` eats with the blanks, corpus 741).
    run_hash: bool,
}

impl Out {
    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.nodes
                .push(Node::Text(std::mem::take(&mut self.text).into_boxed_str()));
        }
        self.run = 0;
        self.run_hash = false;
    }

    fn node(&mut self, node: Node) {
        self.flush();
        self.nodes.push(node);
    }

    /// A token that is not a node (a comment, a backslash run) ended the text run.
    fn token(&mut self) {
        self.run = self.text.len();
        self.run_hash = false;
    }

    /// A `#` that starts nothing: text, but it begins a run of its own.
    fn lone_hash(&mut self) {
        self.run = self.text.len();
        self.text.push('#');
        self.run_hash = true;
    }

    /// Before `#set`: drops the blanks that form a run of their own.
    fn trim_indent(&mut self) {
        let run = &self.text[self.run..];
        let blanks = run
            .strip_prefix('#')
            .filter(|_| self.run_hash)
            .unwrap_or(run);
        if blanks.bytes().all(|c| c == b' ' || c == b'\t') {
            self.text.truncate(self.run);
        }
    }

    fn finish(mut self) -> Vec<Node> {
        self.flush();
        self.nodes
    }
}
