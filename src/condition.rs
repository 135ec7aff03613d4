//! Conditions: the small expression language of health rules, alert rules and selectors
//! (SPEC §4). A condition is compiled once, at load time, into a tree that is then evaluated
//! against a field lookup. The language is total: parsing and evaluation always terminate,
//! never panic, and use bounded stack.
//!
//! ```text
//! expr  := or ;  or := and ("or" and)* ;  and := not ("and" not)* ;  not := "not" not | cmp
//! cmp   := value (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "contains" | "matches") value)?
//! value := number | duration | "string" | true | false | null | [list] | path | "(" expr ")"
//! path  := name ("." name)*        e.g.  last.latency   entity.grace   consecutive_failures
//! ```
//!
//! # Syntax
//!
//! - Numbers `12`, `-3`, `1.5`. Durations are a number directly followed by humantime units:
//!   `90s`, `15m`, `1h30m`, `500ms` (`0` alone is a number; write `0s`).
//! - Strings in double or single quotes (single quotes read well inside YAML double-quoted
//!   strings), with escapes `\"`, `\'`, `\\`, `\n`, `\t`.
//! - `true`, `false`, `null`, and lists `[a, b, c]` (may be empty; elements are expressions).
//! - Paths are names `[A-Za-z_][A-Za-z0-9_]*` joined by dots, with no spaces around the dots.
//!   The lower-case keywords `and or not in contains matches true false null` are not paths.
//! - Precedence, loosest first: `or`, `and`, `not`, comparison. Comparisons do not chain:
//!   `a < b < c` is an error.
//!
//! # Semantics
//!
//! - A missing field is `null`. A comparison with a `null` operand is false, except
//!   `x == null` (true iff `x` is null) and `x != null` (true iff `x` is not null), where
//!   `null` is written literally. So a rule never fires on data that does not exist.
//! - Numbers compare with numbers, durations with durations, strings with strings (ordering
//!   is byte-wise lexicographic). Booleans and lists support only `==` and `!=`; lists are
//!   equal when their elements are pairwise equal.
//! - A duration compared with a string reads the string as a duration (`entity.grace` arrives
//!   as `"5m"`); if it does not parse, the comparison is false, `!=` included.
//! - Any other mix of types: `==` is false, `!=` is true, `<` `<=` `>` `>=` are false.
//! - `a in b`: `b` is a list with an element equal to `a`, or `b` is a string containing the
//!   string `a`. `a contains b` is `b in a`. `a matches "re"`: `a` is a string in which the
//!   regular expression (Rust `regex` syntax, unanchored) finds a match; the pattern must be a
//!   string literal and is compiled at load time.
//! - A value used as a condition (`late`, `observed`, `last.ok`) holds iff it is `true`.
//!   `not` negates; `and` and `or` short-circuit.
//! - Limits: at most 1024 bytes and 32 levels of nesting (each `not`, `(` and `[` is a level).
//!
//! # Templates
//!
//! [`render_template`] replaces each `{{ path }}` in a message with the field's value:
//! strings bare, `null` as `none`, durations like `15m`, lists like `[1, "a"]`.

use std::fmt;
use std::time::Duration;

use regex::{Regex, RegexBuilder};

/// Longest accepted condition source, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1024;
/// Deepest accepted nesting of `not`, parentheses and lists.
pub const MAX_DEPTH: usize = 32;
/// Bounds the compiled size of a `matches` pattern so a config cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Field values come from outside; formatting and conversion stop descending here so a
/// pathologically nested value cannot overflow the stack.
const MAX_VALUE_DEPTH: usize = 32;
const KEYWORDS: [&str; 9] = ["and", "or", "not", "in", "contains", "matches", "true", "false", "null"];

/// A value a condition reads or computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Duration(Duration),
    String(String),
    List(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether the value holds when used as a condition: only `true` does.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self, 0)
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &Value, depth: usize) -> fmt::Result {
    match value {
        Value::Null => f.write_str("null"),
        Value::Bool(b) => write!(f, "{b}"),
        Value::Number(n) => write!(f, "{n}"),
        Value::Duration(d) => f.write_str(&crate::duration::human(*d)),
        Value::String(s) => write_quoted(f, s),
        Value::List(_) if depth >= MAX_VALUE_DEPTH => f.write_str("[...]"),
        Value::List(items) => {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_value(f, item, depth + 1)?;
            }
            f.write_str("]")
        }
    }
}

/// Writes a string as a literal the lexer reads back unchanged.
fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl From<&serde_json::Value> for Value {
    fn from(json: &serde_json::Value) -> Self {
        from_json(json, 0)
    }
}

fn from_json(json: &serde_json::Value, depth: usize) -> Value {
    match json {
        serde_json::Value::Null | serde_json::Value::Object(_) => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n.as_f64().map_or(Value::Null, Value::Number),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(_) if depth >= MAX_VALUE_DEPTH => Value::Null,
        serde_json::Value::Array(items) => {
            Value::List(items.iter().map(|i| from_json(i, depth + 1)).collect())
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<Duration> for Value {
    fn from(d: Duration) -> Self {
        Value::Duration(d)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A syntax error, placed within the condition's own source text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Byte offset in the source.
    pub offset: usize,
    /// 1-based line within the source.
    pub line: usize,
    /// 1-based column, counted in characters, within the line.
    pub column: usize,
    pub message: String,
}

impl ParseError {
    fn new(src: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_column(src, offset);
        ParseError { offset, line, column, message: message.into() }
    }
}

fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let before = &src[..end];
    let line = 1 + before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, 1 + before[line_start..].chars().count())
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    root: Node,
}

impl Condition {
    pub fn parse(src: &str) -> Result<Condition, ParseError> {
        if src.len() > MAX_SOURCE_BYTES {
            return Err(ParseError::new(
                src,
                MAX_SOURCE_BYTES,
                format!("condition is {} bytes long; the limit is {MAX_SOURCE_BYTES} bytes", src.len()),
            ));
        }
        if src.trim().is_empty() {
            return Err(ParseError::new(src, src.len(), "empty condition; expected an expression"));
        }
        let mut parser = Parser::new(src)?;
        let root = parser.parse_expr()?;
        if parser.cur.tok != Tok::Eof {
            return Err(parser.trailing_error());
        }
        Ok(Condition { source: src.to_owned(), root })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every field path the expression reads, in order of first appearance, deduplicated.
    pub fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_paths(&self.root, &mut out);
        out
    }

    /// Evaluates against a field lookup: `fields("last.latency")` returns the value of that
    /// dotted path, `Value::Null` when missing.
    pub fn eval(&self, fields: &dyn Fn(&str) -> Value) -> bool {
        eval_bool(&self.root, fields)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Condition {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::parse(s)
    }
}

/// Renders a message template: every `{{path}}` (spaces inside the braces allowed) becomes the
/// field's value, strings unquoted and `null` as `none`. Anything else, unclosed braces
/// included, is copied as it is.
pub fn render_template(template: &str, fields: &dyn Fn(&str) -> Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let inside = &rest[i + 2..];
        match placeholder(inside) {
            Some((path, consumed)) => {
                match fields(path) {
                    Value::Null => out.push_str("none"),
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
                rest = &inside[consumed..];
            }
            None => {
                // Keep one brace and rescan, so `{{{a}}}` still renders `a` inside braces.
                out.push('{');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reads ` path }}` at the start of `s`; returns the path and the bytes consumed.
fn placeholder(s: &str) -> Option<(&str, usize)> {
    let body = s.trim_start_matches([' ', '\t']);
    let lead = s.len() - body.len();
    let end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(body.len());
    let path = &body[..end];
    if !is_path(path) {
        return None;
    }
    let tail = &body[end..];
    let after_spaces = tail.trim_start_matches([' ', '\t']);
    after_spaces.starts_with("}}").then(|| (path, lead + end + (tail.len() - after_spaces.len()) + 2))
}

fn is_path(s: &str) -> bool {
    s.split('.').all(|segment| {
        let mut chars = segment.chars();
        chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
    })
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

// ---------------------------------------------------------------------------------------------
// Tree

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Value),
    Path(String),
    List(Vec<Node>),
    Not(Box<Node>),
    /// Two or more operands; a flat list keeps long chains from deepening the tree.
    And(Vec<Node>),
    Or(Vec<Node>),
    Compare {
        op: CmpOp,
        left: Box<Node>,
        right: Box<Node>,
    },
    Matches {
        left: Box<Node>,
        pattern: Pattern,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    regex: Regex,
}

/// Two patterns are the same when written the same; `Regex` itself has no equality.
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

fn collect_paths(node: &Node, out: &mut Vec<String>) {
    match node {
        Node::Literal(_) => {}
        Node::Path(p) => {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        Node::List(items) | Node::And(items) | Node::Or(items) => {
            items.iter().for_each(|n| collect_paths(n, out));
        }
        Node::Not(inner) | Node::Matches { left: inner, .. } => collect_paths(inner, out),
        Node::Compare { left, right, .. } => {
            collect_paths(left, out);
            collect_paths(right, out);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation. Recursion follows the tree, whose depth the parser bounds; comparing field
// values (which may nest arbitrarily) is iterative.

fn eval_value(node: &Node, fields: &dyn Fn(&str) -> Value) -> Value {
    match node {
        Node::Literal(v) => v.clone(),
        Node::Path(p) => fields(p),
        Node::List(items) => Value::List(items.iter().map(|n| eval_value(n, fields)).collect()),
        _ => Value::Bool(eval_bool(node, fields)),
    }
}

fn eval_bool(node: &Node, fields: &dyn Fn(&str) -> Value) -> bool {
    match node {
        Node::Not(inner) => !eval_bool(inner, fields),
        Node::And(items) => items.iter().all(|n| eval_bool(n, fields)),
        Node::Or(items) => items.iter().any(|n| eval_bool(n, fields)),
        Node::Compare { op, left, right } => {
            let l = eval_value(left, fields);
            if l.is_null() && !is_null_literal(left) && !is_null_literal(right) {
                // A missing field never compares, whatever the other side holds.
                return false;
            }
            let r = eval_value(right, fields);
            if l.is_null() || r.is_null() {
                // Only a literal `null` asks about presence; a missing field never compares.
                let asks_presence = is_null_literal(left) || is_null_literal(right);
                return match op {
                    CmpOp::Eq if asks_presence => l.is_null() && r.is_null(),
                    CmpOp::Ne if asks_presence => !(l.is_null() && r.is_null()),
                    _ => false,
                };
            }
            compare(*op, &l, &r)
        }
        Node::Matches { left, pattern } => match eval_value(left, fields) {
            Value::String(s) => pattern.regex.is_match(&s),
            _ => false,
        },
        Node::Literal(_) | Node::Path(_) | Node::List(_) => eval_value(node, fields).is_true(),
    }
}

fn is_null_literal(node: &Node) -> bool {
    matches!(node, Node::Literal(Value::Null))
}

/// Compares two non-null values.
fn compare(op: CmpOp, l: &Value, r: &Value) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        CmpOp::Eq => scalar_eq(l, r).unwrap_or(false),
        // An unparsable duration string is incomparable: `!=` is false too.
        CmpOp::Ne => scalar_eq(l, r).is_some_and(|eq| !eq),
        CmpOp::Lt => ordering(l, r) == Some(Less),
        CmpOp::Le => matches!(ordering(l, r), Some(Less | Equal)),
        CmpOp::Gt => ordering(l, r) == Some(Greater),
        CmpOp::Ge => matches!(ordering(l, r), Some(Greater | Equal)),
        CmpOp::In => contains(r, l),
        CmpOp::Contains => contains(l, r),
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::List(items), _) => items.iter().any(|item| values_eq(item, needle)),
        (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
        _ => false,
    }
}

/// Equality of two values; `None` when a duration meets a string that is not a duration.
/// Lists compare element-wise without recursion, so any nesting is safe.
fn scalar_eq(l: &Value, r: &Value) -> Option<bool> {
    match (l, r) {
        (Value::Null, Value::Null) => Some(true),
        (Value::Bool(a), Value::Bool(b)) => Some(a == b),
        (Value::Number(a), Value::Number(b)) => Some(a == b),
        (Value::Duration(a), Value::Duration(b)) => Some(a == b),
        (Value::Duration(d), Value::String(s)) | (Value::String(s), Value::Duration(d)) => {
            humantime::parse_duration(s).ok().map(|parsed| parsed == *d)
        }
        (Value::String(a), Value::String(b)) => Some(a == b),
        (Value::List(_), Value::List(_)) => Some(values_eq(l, r)),
        _ => Some(false),
    }
}

fn values_eq(l: &Value, r: &Value) -> bool {
    let mut pending = vec![(l, r)];
    while let Some(pair) = pending.pop() {
        match pair {
            (Value::List(a), Value::List(b)) => {
                if a.len() != b.len() {
                    return false;
                }
                pending.extend(a.iter().zip(b));
            }
            (a, b) => {
                if scalar_eq(a, b) != Some(true) {
                    return false;
                }
            }
        }
    }
    true
}

fn ordering(l: &Value, r: &Value) -> Option<std::cmp::Ordering> {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::String(s)) => humantime::parse_duration(s).ok().map(|b| a.cmp(&b)),
        (Value::String(s), Value::Duration(b)) => humantime::parse_duration(s).ok().map(|a| a.cmp(b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Number(f64),
    Duration(Duration),
    Str(String),
    Path(String),
    And,
    Or,
    Not,
    True,
    False,
    Null,
    Op(Op),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Cmp(CmpOp),
    Matches,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek_byte(&self, at: usize) -> Option<u8> {
        self.src.as_bytes().get(at).copied()
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.src, offset, message)
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        while self.peek_byte(self.pos).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.peek_byte(start) else {
            return Ok(Token { tok: Tok::Eof, start, end: start });
        };
        let next = self.peek_byte(start + 1);
        let single = |tok: Tok| (tok, 1);
        let (tok, len) = match c {
            b'(' => single(Tok::LParen),
            b')' => single(Tok::RParen),
            b'[' => single(Tok::LBracket),
            b']' => single(Tok::RBracket),
            b',' => single(Tok::Comma),
            b'=' if next == Some(b'=') => (Tok::Op(Op::Cmp(CmpOp::Eq)), 2),
            b'=' => return Err(self.error(start, "unexpected \"=\"; use \"==\"")),
            b'!' if next == Some(b'=') => (Tok::Op(Op::Cmp(CmpOp::Ne)), 2),
            b'!' => return Err(self.error(start, "unexpected \"!\"; use \"not\"")),
            b'<' if next == Some(b'=') => (Tok::Op(Op::Cmp(CmpOp::Le)), 2),
            b'<' => single(Tok::Op(Op::Cmp(CmpOp::Lt))),
            b'>' if next == Some(b'=') => (Tok::Op(Op::Cmp(CmpOp::Ge)), 2),
            b'>' => single(Tok::Op(Op::Cmp(CmpOp::Gt))),
            b'&' | b'|' => {
                let text =
                    if next == Some(c) { &self.src[start..start + 2] } else { &self.src[start..start + 1] };
                let word = if c == b'&' { "and" } else { "or" };
                return Err(self.error(start, format!("unexpected \"{text}\"; use \"{word}\"")));
            }
            b'"' | b'\'' => return self.string(c),
            b'-' | b'0'..=b'9' => return self.number(),
            c if is_name_start(char::from(c)) => return self.word(),
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or(' ');
                return Err(self.error(start, format!("unexpected character \"{}\"", ch.escape_debug())));
            }
        };
        self.pos += len;
        Ok(Token { tok, start, end: self.pos })
    }

    fn string(&mut self, quote: u8) -> Result<Token, ParseError> {
        let start = self.pos;
        let quote = char::from(quote);
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    self.pos = start + 1 + i + 1;
                    return Ok(Token { tok: Tok::Str(out), start, end: self.pos });
                }
                '\\' => match chars.next() {
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\'')) => out.push('\''),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, other)) => {
                        return Err(self.error(
                            start + 1 + i,
                            format!(
                                "unknown escape \"\\{}\" in string; use \\\", \\', \\\\, \\n or \\t",
                                other.escape_debug()
                            ),
                        ));
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.error(start, format!("unterminated string; add the closing {quote}")))
    }

    fn number(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        let negative = self.peek_byte(start) == Some(b'-');
        let digits_start = if negative { start + 1 } else { start };
        let is_digit = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit());
        if !is_digit(self.peek_byte(digits_start)) {
            return Err(self.error(start, "expected a digit after \"-\""));
        }
        let mut pos = digits_start;
        while is_digit(self.peek_byte(pos)) {
            pos += 1;
        }
        if self.peek_byte(pos) == Some(b'.') && is_digit(self.peek_byte(pos + 1)) {
            pos += 1;
            while is_digit(self.peek_byte(pos)) {
                pos += 1;
            }
        }
        if self.peek_byte(pos).is_some_and(|b| b.is_ascii_alphabetic()) {
            // A unit follows: the whole alphanumeric run is one duration, e.g. `1h30m`.
            while self.peek_byte(pos).is_some_and(|b| b.is_ascii_alphanumeric()) {
                pos += 1;
            }
            self.pos = pos;
            if negative {
                return Err(self.error(start, "durations cannot be negative"));
            }
            let text = &self.src[digits_start..pos];
            let d = humantime::parse_duration(text)
                .map_err(|e| self.error(start, format!("invalid duration \"{text}\": {e}")))?;
            return Ok(Token { tok: Tok::Duration(d), start, end: pos });
        }
        self.pos = pos;
        let text = &self.src[start..pos];
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Token { tok: Tok::Number(n), start, end: pos }),
            _ => Err(self.error(start, format!("number {text} is out of range"))),
        }
    }

    fn word(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        let name_end = |lexer: &Self, mut pos: usize| {
            while lexer.peek_byte(pos).is_some_and(|b| is_name_char(char::from(b))) {
                pos += 1;
            }
            pos
        };
        let mut pos = name_end(self, start);
        let first = &self.src[start..pos];
        let is_keyword = KEYWORDS.contains(&first);
        if is_keyword && self.peek_byte(pos) == Some(b'.') {
            return Err(self.error(start, format!("\"{first}\" is a keyword and cannot start a field path")));
        }
        while self.peek_byte(pos) == Some(b'.') {
            if !self.peek_byte(pos + 1).is_some_and(|b| is_name_start(char::from(b))) {
                return Err(self.error(pos, "expected a field name after \".\""));
            }
            pos = name_end(self, pos + 1);
        }
        self.pos = pos;
        let text = &self.src[start..pos];
        let tok = match text {
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "true" => Tok::True,
            "false" => Tok::False,
            "null" => Tok::Null,
            "in" => Tok::Op(Op::Cmp(CmpOp::In)),
            "contains" => Tok::Op(Op::Cmp(CmpOp::Contains)),
            "matches" => Tok::Op(Op::Matches),
            _ => Tok::Path(text.to_owned()),
        };
        Ok(Token { tok, start, end: pos })
    }
}

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent with one token of lookahead. Every recursive entry (`not`, `(`,
// `[`) passes through `enter`, so hostile input fails on depth long before the stack does.

struct Parser<'a> {
    lexer: Lexer<'a>,
    cur: Token,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self, ParseError> {
        let mut lexer = Lexer { src, pos: 0 };
        let cur = lexer.next_token()?;
        Ok(Parser { lexer, cur, depth: 0 })
    }

    fn src(&self) -> &'a str {
        self.lexer.src
    }

    fn bump(&mut self) -> Result<(), ParseError> {
        self.cur = self.lexer.next_token()?;
        Ok(())
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.src(), self.cur.start, message)
    }

    /// The current token as an error message shows it.
    fn found(&self) -> String {
        if self.cur.tok == Tok::Eof {
            return "end of input".to_owned();
        }
        let text = &self.src()[self.cur.start..self.cur.end];
        let shown: String = text.chars().take(40).collect();
        let ellipsis = if shown.len() < text.len() { "..." } else { "" };
        match self.cur.tok {
            // A string token already shows its quotes.
            Tok::Str(_) => format!("{shown}{ellipsis}"),
            _ => format!("\"{shown}{ellipsis}\""),
        }
    }

    /// Suggests the lower-case spelling when a path looks like a capitalised keyword.
    fn keyword_hint(&self) -> &'static str {
        match &self.cur.tok {
            Tok::Path(p) if KEYWORDS.contains(&p.to_ascii_lowercase().as_str()) => {
                "; keywords are lower-case"
            }
            _ => "",
        }
    }

    fn place(&self, offset: usize) -> String {
        let (line, column) = line_column(self.src(), offset);
        format!("line {line}, column {column}")
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!(
                "nesting is deeper than {MAX_DEPTH} levels (each \"not\", \"(\" and \"[\" is a level)"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn parse_expr(&mut self) -> Result<Node, ParseError> {
        let first = self.parse_and()?;
        if self.cur.tok != Tok::Or {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.cur.tok == Tok::Or {
            self.bump()?;
            items.push(self.parse_and()?);
        }
        Ok(Node::Or(items))
    }

    fn parse_and(&mut self) -> Result<Node, ParseError> {
        let first = self.parse_not()?;
        if self.cur.tok != Tok::And {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.cur.tok == Tok::And {
            self.bump()?;
            items.push(self.parse_not()?);
        }
        Ok(Node::And(items))
    }

    fn parse_not(&mut self) -> Result<Node, ParseError> {
        if self.cur.tok != Tok::Not {
            return self.parse_cmp();
        }
        self.enter()?;
        self.bump()?;
        let inner = self.parse_not()?;
        self.leave();
        Ok(Node::Not(Box::new(inner)))
    }

    fn parse_cmp(&mut self) -> Result<Node, ParseError> {
        let left = Box::new(self.parse_value()?);
        let Tok::Op(op) = self.cur.tok else {
            return Ok(*left);
        };
        self.bump()?;
        let node = match op {
            Op::Matches => {
                let Tok::Str(source) = &self.cur.tok else {
                    return Err(self.error_here(format!(
                        "\"matches\" needs a quoted regular expression, found {}",
                        self.found()
                    )));
                };
                let regex = RegexBuilder::new(source).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| {
                    self.error_here(format!("invalid regular expression: {}", regex_reason(&e)))
                })?;
                let pattern = Pattern { source: source.clone(), regex };
                self.bump()?;
                Node::Matches { left, pattern }
            }
            Op::Cmp(op) => Node::Compare { op, left, right: Box::new(self.parse_value()?) },
        };
        if let Tok::Op(_) = self.cur.tok {
            return Err(self.error_here(format!(
                "unexpected {}; comparisons do not chain, use \"and\" or parentheses",
                self.found()
            )));
        }
        Ok(node)
    }

    fn parse_value(&mut self) -> Result<Node, ParseError> {
        let literal = match &self.cur.tok {
            Tok::Number(n) => Value::Number(*n),
            Tok::Duration(d) => Value::Duration(*d),
            Tok::Str(s) => Value::String(s.clone()),
            Tok::True => Value::Bool(true),
            Tok::False => Value::Bool(false),
            Tok::Null => Value::Null,
            Tok::Path(p) => {
                let node = Node::Path(p.clone());
                self.bump()?;
                return Ok(node);
            }
            Tok::LParen => return self.parse_parenthesised(),
            Tok::LBracket => return self.parse_list(),
            _ => {
                return Err(self.error_here(format!("expected a value, found {}", self.found())));
            }
        };
        self.bump()?;
        Ok(Node::Literal(literal))
    }

    fn parse_parenthesised(&mut self) -> Result<Node, ParseError> {
        let open = self.cur.start;
        self.enter()?;
        self.bump()?;
        let inner = self.parse_expr()?;
        if self.cur.tok != Tok::RParen {
            return Err(self.error_here(format!(
                "expected \")\" to close the \"(\" at {}, found {}{}",
                self.place(open),
                self.found(),
                self.keyword_hint()
            )));
        }
        self.bump()?;
        self.leave();
        Ok(inner)
    }

    fn parse_list(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        self.bump()?;
        let mut items = Vec::new();
        // A trailing comma is accepted: lists are often written one element per line.
        while self.cur.tok != Tok::RBracket {
            items.push(self.parse_expr()?);
            match self.cur.tok {
                Tok::Comma => self.bump()?,
                Tok::RBracket => {}
                _ => {
                    return Err(self.error_here(format!(
                        "expected \",\" or \"]\" in a list, found {}{}",
                        self.found(),
                        self.keyword_hint()
                    )));
                }
            }
        }
        self.bump()?;
        self.leave();
        Ok(Node::List(items))
    }

    fn trailing_error(&self) -> ParseError {
        let message = match self.cur.tok {
            Tok::RParen => "unexpected \")\" with no matching \"(\"".to_owned(),
            Tok::Not => "unexpected \"not\"; negate the whole comparison, e.g. not (a in b)".to_owned(),
            _ => format!(
                "expected \"and\", \"or\" or end of input, found {}{}",
                self.found(),
                self.keyword_hint()
            ),
        };
        self.error_here(message)
    }
}

/// The one-line reason of a regex error; its full text spans lines and repeats the pattern.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map_or_else(|| text.trim().to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fixture(path: &str) -> Value {
        let list =
            Value::List(vec![Value::Number(1.0), Value::String("a".into()), Value::Duration(ms(300_000))]);
        match path {
            "n" => Value::Number(5.0),
            "m" => Value::Number(10.0),
            "d" => Value::Duration(ms(90_000)),
            "grace" | "entity.grace" => Value::String("5m".into()),
            "bad" => Value::String("soon".into()),
            "s" => Value::String("hello world".into()),
            "yes" | "late" | "last.ok" => Value::Bool(true),
            "no" | "observed" => Value::Bool(false),
            "list" => list,
            "empty" => Value::List(vec![]),
            "last.latency" => Value::Duration(ms(250)),
            "last.status" => Value::Number(502.0),
            "last.error" => Value::String("connection refused".into()),
            "one" => Value::Number(1.0),
            _ => Value::Null,
        }
    }

    fn eval(src: &str) -> bool {
        match Condition::parse(src) {
            Ok(c) => c.eval(&fixture),
            Err(e) => panic!("{src:?} failed to parse: {e} at {}:{}", e.line, e.column),
        }
    }

    #[test]
    fn evaluates() {
        let cases: &[(&str, bool)] = &[
            // numbers, every ordering operator
            ("n == 5", true),
            ("n != 5", false),
            ("n < 10", true),
            ("n <= 5", true),
            ("n > 5", false),
            ("n >= 5", true),
            ("n < m", true),
            ("-3 < 1.5", true),
            ("1.5 == 1.50", true),
            // durations
            ("d == 90s", true),
            ("d == 1m30s", true),
            ("d > 1m", true),
            ("d < 500ms", false),
            ("last.latency <= 250ms", true),
            ("1h30m == 90m", true),
            ("0s < d", true),
            // duration against a string field
            ("d < entity.grace", true),
            ("entity.grace > d", true),
            ("grace == 5m", true),
            ("grace != 5m", false),
            ("grace >= 300s", true),
            ("bad > 1s", false),
            ("bad < 1s", false),
            ("bad == 1s", false),
            ("bad != 1s", false),
            // strings
            ("s == \"hello world\"", true),
            ("s == 'hello world'", true),
            ("s < \"i\"", true),
            ("\"b\" > \"a\"", true),
            ("\"a\\\"b\" == 'a\"b'", true),
            ("'it\\'s' == \"it's\"", true),
            ("\"tab\\there\" contains \"\\t\"", true),
            // booleans
            ("yes == true", true),
            ("yes != false", true),
            ("yes < true", false),
            ("yes > false", false),
            // type mismatches
            ("n == \"5\"", false),
            ("n != \"5\"", true),
            ("n < \"6\"", false),
            ("d == 90", false),
            ("d != 90", true),
            ("yes == 1", false),
            // nulls
            ("missing == null", true),
            ("missing != null", false),
            ("n == null", false),
            ("n != null", true),
            ("null == missing", true),
            ("null == null", true),
            ("null != null", false),
            ("(null) == missing", true),
            ("missing == 5", false),
            ("missing != 5", false),
            ("missing < 5", false),
            ("missing > 5", false),
            ("missing == missing", false),
            ("missing != missing", false),
            ("missing in list", false),
            ("list contains missing", false),
            ("missing", false),
            ("not missing", true),
            // bare values as booleans
            ("late", true),
            ("observed", false),
            ("last.ok", true),
            ("n", false),
            ("s", false),
            ("true", true),
            ("false", false),
            ("null", false),
            ("[true]", false),
            // not, and, or, precedence
            ("not late", false),
            ("not not late", true),
            ("not observed", true),
            ("not n == 5", false),
            ("late and observed", false),
            ("late or observed", true),
            ("yes or no and no", true),
            ("(yes or no) and no", false),
            ("no and no or yes", true),
            ("not yes or yes", true),
            ("not (yes or yes)", false),
            ("yes and yes and yes and not no", true),
            ("no or no or no or yes", true),
            ("(n == 5) == true", true),
            ("(n == 6) == false", true),
            // lists
            ("[] == []", true),
            ("list == [1, 'a', 5m]", true),
            ("list == [1, 'a', '5m']", true),
            ("list != [1, 'a']", true),
            ("list == [1, 'a', 5m,]", true),
            ("[1, [2, 3]] == [1, [2, 3]]", true),
            ("[1, [2, 3]] == [1, [2, 4]]", false),
            ("[n == 5, n] == [true, 5]", true),
            ("empty == []", true),
            ("list < [2]", false),
            // in, contains
            ("1 in list", true),
            ("'a' in list", true),
            ("'5m' in list", true),
            ("300s in list", true),
            ("2 in list", false),
            ("n in [1, 5, 9]", true),
            ("last.status in [500, 502, 503]", true),
            ("last.status in []", false),
            ("'ell' in s", true),
            ("'xyz' in s", false),
            ("5 in s", false),
            ("list contains 'a'", true),
            ("list contains 'b'", false),
            ("s contains \"world\"", true),
            ("s contains 5", false),
            ("n contains 5", false),
            ("not ('a' in list)", false),
            // matches
            ("last.error matches \"refused$\"", true),
            ("last.error matches '^conn'", true),
            ("last.error matches \"^refused\"", false),
            ("s matches '(?i)HELLO'", true),
            ("n matches '5'", false),
            ("missing matches '.*'", false),
            ("s matches ''", true),
            ("s matches '\\\\w+ \\\\w+'", true),
            // whitespace and layout
            ("  n==5  ", true),
            ("n == 5\nand\n  late", true),
        ];
        for (src, want) in cases {
            assert_eq!(eval(src), *want, "{src}");
        }
    }

    #[test]
    fn short_circuits() {
        use std::cell::RefCell;
        let seen = RefCell::new(Vec::new());
        let fields = |p: &str| {
            seen.borrow_mut().push(p.to_owned());
            fixture(p)
        };
        for (src, reads) in
            [("no and late", vec!["no"]), ("yes or late", vec!["yes"]), ("no or late", vec!["no", "late"])]
        {
            seen.borrow_mut().clear();
            Condition::parse(src).unwrap().eval(&fields);
            assert_eq!(*seen.borrow(), reads, "{src}");
        }
    }

    #[test]
    fn lists_paths_in_order_of_appearance() {
        let c = Condition::parse(
            "last.latency > entity.grace and (age > 5m or last.latency > 1s) and x in [y, age]",
        )
        .unwrap();
        assert_eq!(c.paths(), ["last.latency", "entity.grace", "age", "x", "y"]);
        assert!(Condition::parse("1 == 1").unwrap().paths().is_empty());
        assert_eq!(Condition::parse("not s matches 'a'").unwrap().paths(), ["s"]);
    }

    #[test]
    fn keeps_its_source() {
        let src = "late and not observed";
        let c: Condition = src.parse().unwrap();
        assert_eq!(c.source(), src);
        assert_eq!(c.to_string(), src);
    }

    #[test]
    fn reports_errors_with_position() {
        let huge_number = "1".repeat(400);
        // (source, line, column, message fragment)
        let cases: &[(&str, usize, usize, &str)] = &[
            ("", 1, 1, "empty condition"),
            ("   \n ", 2, 2, "empty condition"),
            ("n == )", 1, 6, "expected a value, found \")\""),
            ("n ==", 1, 5, "expected a value, found end of input"),
            ("a && b", 1, 3, "unexpected \"&&\"; use \"and\""),
            ("a || b", 1, 3, "unexpected \"||\"; use \"or\""),
            ("a & b", 1, 3, "unexpected \"&\"; use \"and\""),
            ("a = 1", 1, 3, "unexpected \"=\"; use \"==\""),
            ("!a", 1, 1, "unexpected \"!\"; use \"not\""),
            ("a == 1 b", 1, 8, "expected \"and\", \"or\" or end of input, found \"b\""),
            ("a AND b", 1, 3, "keywords are lower-case"),
            ("a == 1)", 1, 7, "no matching \"(\""),
            ("(a == 1", 1, 8, "expected \")\" to close the \"(\" at line 1, column 1"),
            ("a not in b", 1, 3, "not (a in b)"),
            ("a < b < c", 1, 7, "comparisons do not chain"),
            ("\"abc", 1, 1, "unterminated string"),
            ("'abc\"", 1, 1, "unterminated string"),
            ("'a\\q'", 1, 3, "unknown escape \"\\q\""),
            ("a == 5x", 1, 6, "invalid duration \"5x\""),
            ("a == -5m", 1, 6, "durations cannot be negative"),
            ("a == -x", 1, 6, "expected a digit after \"-\""),
            ("last. x", 1, 5, "expected a field name after \".\""),
            ("last.1", 1, 5, "expected a field name after \".\""),
            ("null.x", 1, 1, "keyword"),
            ("a @ b", 1, 3, "unexpected character \"@\""),
            ("a == é", 1, 6, "unexpected character \"é\""),
            ("s matches x", 1, 11, "\"matches\" needs a quoted regular expression, found \"x\""),
            ("s matches 'a('", 1, 11, "invalid regular expression: unclosed group"),
            ("s matches \"a{1000}{1000}\"", 1, 11, "invalid regular expression"),
            ("[1, 2", 1, 6, "expected \",\" or \"]\" in a list, found end of input"),
            ("n==5and late", 1, 4, "invalid duration \"5and\""),
            ("[1 2]", 1, 4, "expected \",\" or \"]\" in a list, found \"2\""),
            ("[,]", 1, 2, "expected a value, found \",\""),
            ("not", 1, 4, "expected a value, found end of input"),
            ("a == 'x' 'y'", 1, 10, "found 'y'"),
            ("a and\n  b ==\n   ) ", 3, 4, "expected a value, found \")\""),
            ("é == 1", 1, 1, "unexpected character \"é\""),
            ("'é' == é", 1, 8, "unexpected character \"é\""),
            ("'x\ny' ==\n\t 1 1", 3, 5, "found \"1\""),
            (huge_number.as_str(), 1, 1, "out of range"),
        ];
        for (src, line, column, fragment) in cases {
            let err = match Condition::parse(src) {
                Ok(_) => panic!("{src:?} parsed"),
                Err(e) => e,
            };
            assert!(err.message.contains(fragment), "{src:?}: {:?} lacks {fragment:?}", err.message);
            assert_eq!((err.line, err.column), (*line, *column), "{src:?}: {}", err.message);
            assert_eq!(line_column(src, err.offset), (err.line, err.column));
            assert_eq!(err.to_string(), err.message);
        }
    }

    #[test]
    fn enforces_size_limit() {
        let ok = format!("s == '{}'", "x".repeat(MAX_SOURCE_BYTES - 7));
        assert_eq!(ok.len(), MAX_SOURCE_BYTES);
        assert!(Condition::parse(&ok).is_ok());
        let long = format!("{ok} ");
        let err = Condition::parse(&long).unwrap_err();
        assert_eq!(err.offset, MAX_SOURCE_BYTES);
        assert!(err.message.contains("1025 bytes"), "{}", err.message);
        assert!(err.message.contains("limit is 1024"), "{}", err.message);
        // An offset in the middle of a multi-byte character still gets a position.
        let wide = "é".repeat(600);
        let err = Condition::parse(&wide).unwrap_err();
        assert_eq!((err.line, err.column), (1, 513));
    }

    #[test]
    fn enforces_depth_limit() {
        let nested = |n: usize| format!("{}late{}", "(".repeat(n), ")".repeat(n));
        assert!(eval(&nested(MAX_DEPTH)));
        let err = Condition::parse(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.message.contains("deeper than 32"), "{}", err.message);
        assert_eq!(err.offset, MAX_DEPTH);

        let nots = |n: usize| format!("{}late", "not ".repeat(n));
        assert!(eval(&nots(MAX_DEPTH)));
        assert!(Condition::parse(&nots(MAX_DEPTH + 1)).is_err());

        let lists = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(Condition::parse(&lists(MAX_DEPTH)).is_ok());
        assert!(Condition::parse(&lists(MAX_DEPTH + 1)).is_err());

        let mixed = "not (".repeat(16) + "late" + &")".repeat(16);
        assert!(eval(&mixed));
        let mixed = "not [(".repeat(11) + "late";
        assert!(Condition::parse(&mixed).unwrap_err().message.contains("deeper"));

        // Far beyond any limit: must fail cleanly, not overflow the stack. The source limit
        // applies first, so also try shapes that stay under it.
        for src in [
            "(".repeat(10_000),
            "not ".repeat(10_000),
            "[".repeat(10_000),
            "(".repeat(1000),
            "not ".repeat(250),
            "[(".repeat(500),
        ] {
            assert!(Condition::parse(&src).is_err());
        }
    }

    #[test]
    fn long_chains_stay_flat() {
        let src = vec!["late"; 100].join(" and ");
        assert!(src.len() <= MAX_SOURCE_BYTES);
        assert!(eval(&src));
        let src = vec!["no"; 150].join(" or ");
        assert!(!eval(&src));
    }

    #[test]
    fn compares_deeply_nested_field_values_without_recursion() {
        let mut deep = Value::Number(1.0);
        for _ in 0..2000 {
            deep = Value::List(vec![deep]);
        }
        let fields = |_: &str| deep.clone();
        for (src, want) in [("a == b", true), ("a != b", false), ("a in [b]", true), ("a", false)] {
            assert_eq!(Condition::parse(src).unwrap().eval(&fields), want, "{src}");
        }
        let shown = deep.to_string();
        assert!(shown.contains("[...]") && shown.len() < 200, "{shown}");
    }

    #[test]
    fn displays_values() {
        let cases = [
            (Value::Null, "null"),
            (Value::Bool(true), "true"),
            (Value::Number(12.0), "12"),
            (Value::Number(-1.5), "-1.5"),
            (Value::Duration(ms(900_000)), "15m"),
            (Value::Duration(ms(5_400_500)), "1h 30m"),
            (Value::Duration(ms(3)), "3ms"),
            (Value::Duration(ms(250_000)), "4m 10s"),
            (Value::String("a \"q\"\\\n".into()), "\"a \\\"q\\\"\\\\\\n\""),
            (
                Value::List(vec![Value::Number(1.0), Value::String("a".into()), Value::List(vec![])]),
                "[1, \"a\", []]",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(value.to_string(), want);
        }
    }

    #[test]
    fn converts_json() {
        let json = serde_json::json!({
            "n": 3, "f": 1.5, "s": "x", "b": false, "z": null, "o": {"k": 1}, "l": [1, "a", {"k": 1}]
        });
        let cases = [
            ("n", Value::Number(3.0)),
            ("f", Value::Number(1.5)),
            ("s", Value::String("x".into())),
            ("b", Value::Bool(false)),
            ("z", Value::Null),
            ("o", Value::Null),
            ("l", Value::List(vec![Value::Number(1.0), Value::String("a".into()), Value::Null])),
        ];
        for (key, want) in cases {
            assert_eq!(Value::from(&json[key]), want, "{key}");
        }
        let deep: serde_json::Value =
            serde_json::from_str(&format!("{}{}", "[".repeat(100), "]".repeat(100))).unwrap();
        assert!(Value::from(&deep).to_string().contains("null"));
    }

    #[test]
    fn renders_templates() {
        let cases = [
            ("{{s}}", "hello world"),
            ("latency {{ last.latency }} over {{entity.grace}}", "latency 250ms over 5m"),
            ("{{\tn }}/{{m}}", "5/10"),
            ("{{missing}}", "none"),
            ("{{list}}", "[1, \"a\", 5m]"),
            ("{{late}} {{d}}", "true 1m 30s"),
            ("{{{s}}}", "{hello world}"),
            ("{{ s", "{{ s"),
            ("{{s}", "{{s}"),
            ("{{", "{{"),
            ("}}{{", "}}{{"),
            ("{{ not a path }}", "{{ not a path }}"),
            ("{{1x}}", "{{1x}}"),
            ("{{a..b}}", "{{a..b}}"),
            ("{{}}", "{{}}"),
            ("plain é text", "plain é text"),
            ("é{{s}}é", "éhello worldé"),
            ("", ""),
        ];
        for (template, want) in cases {
            assert_eq!(render_template(template, &fixture), want, "{template}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // Properties

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::Number),
            (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Value::Duration(Duration::new(s, n))),
            any::<String>().prop_map(Value::String),
            prop::sample::select(vec!["5m", "1h30m", "", "x", "99999999999999999999h"])
                .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| prop::collection::vec(inner, 0..4).prop_map(Value::List))
    }

    /// A field lookup over generated values, deterministic per path.
    fn pick(values: &[Value], path: &str) -> Value {
        let i = path.bytes().map(usize::from).sum::<usize>() % values.len().max(1);
        values.get(i).cloned().unwrap_or(Value::Null)
    }

    const TOKENS: &[&str] = &[
        "a",
        "last.latency",
        "entity.grace",
        "x.",
        ".",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "=",
        "!",
        "&&",
        "||",
        "(",
        ")",
        "[",
        "]",
        ",",
        "not",
        "and",
        "or",
        "in",
        "contains",
        "matches",
        "true",
        "false",
        "null",
        "\"s\"",
        "'s'",
        "\"(\"",
        "'a('",
        "\"",
        "'",
        "\\",
        "5m",
        "1h30m",
        "-5m",
        "12",
        "-3",
        "1.5",
        "-",
        "5x",
        "é",
        "\n",
        " ",
        "{{",
        "}}",
        "AND",
    ];

    fn token_soup() -> impl Strategy<Value = String> {
        prop::collection::vec((prop::sample::select(TOKENS), any::<bool>()), 0..40).prop_map(|toks| {
            toks.iter().map(|(t, space)| if *space { format!("{t} ") } else { (*t).to_owned() }).collect()
        })
    }

    fn check_total(src: &str, values: &[Value]) {
        let fields = |p: &str| pick(values, p);
        if let Ok(c) = Condition::parse(src) {
            c.eval(&fields);
            c.paths();
        } else if let Err(e) = Condition::parse(src) {
            assert!(e.offset <= src.len().max(MAX_SOURCE_BYTES));
            assert!(e.line >= 1 && e.column >= 1);
        }
        render_template(src, &fields);
    }

    /// Prints a tree as source the parser reads back into the same tree.
    fn print(node: &Node, out: &mut String) {
        let parenthesised = |node: &Node, out: &mut String| {
            out.push('(');
            print(node, out);
            out.push(')');
        };
        let operand = |node: &Node, out: &mut String| match node {
            Node::Literal(_) | Node::Path(_) | Node::List(_) => print(node, out),
            _ => parenthesised(node, out),
        };
        match node {
            Node::Literal(Value::Duration(d)) => {
                out.push_str(&humantime::format_duration(*d).to_string().replace(' ', ""));
            }
            Node::Literal(v) => out.push_str(&v.to_string()),
            Node::Path(p) => out.push_str(p),
            Node::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    print(item, out);
                }
                out.push(']');
            }
            Node::Not(inner) => {
                out.push_str("not ");
                match **inner {
                    Node::And(_) | Node::Or(_) => parenthesised(inner, out),
                    _ => print(inner, out),
                }
            }
            Node::And(items) | Node::Or(items) => {
                let is_and = matches!(node, Node::And(_));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(if is_and { " and " } else { " or " });
                    }
                    match item {
                        Node::Or(_) => parenthesised(item, out),
                        Node::And(_) if is_and => parenthesised(item, out),
                        _ => print(item, out),
                    }
                }
            }
            Node::Compare { op, left, right } => {
                operand(left, out);
                out.push_str(match op {
                    CmpOp::Eq => " == ",
                    CmpOp::Ne => " != ",
                    CmpOp::Lt => " < ",
                    CmpOp::Le => " <= ",
                    CmpOp::Gt => " > ",
                    CmpOp::Ge => " >= ",
                    CmpOp::In => " in ",
                    CmpOp::Contains => " contains ",
                });
                operand(right, out);
            }
            Node::Matches { left, pattern } => {
                operand(left, out);
                out.push_str(" matches ");
                out.push_str(&Value::String(pattern.source.clone()).to_string());
            }
        }
    }

    fn arb_node() -> impl Strategy<Value = Node> {
        let name = "[a-z_][a-z0-9_]{0,5}".prop_filter("keyword", |n| !KEYWORDS.contains(&n.as_str()));
        let path = prop::collection::vec(name, 1..4).prop_map(|segs| Node::Path(segs.join(".")));
        let literal = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1_000_000i64..1_000_000).prop_map(|n| Value::Number(n as f64)),
            (-100_000i64..100_000).prop_map(|n| Value::Number(n as f64 / 100.0)),
            (0u64..1_000_000_000).prop_map(|n| Value::Duration(Duration::from_millis(n))),
            ".{0,8}".prop_map(Value::String),
        ]
        .prop_map(Node::Literal);
        let leaf = prop_oneof![literal, path];
        leaf.prop_recursive(5, 32, 4, |inner| {
            let op = prop::sample::select(vec![
                CmpOp::Eq,
                CmpOp::Ne,
                CmpOp::Lt,
                CmpOp::Le,
                CmpOp::Gt,
                CmpOp::Ge,
                CmpOp::In,
                CmpOp::Contains,
            ]);
            let pattern = prop::sample::select(vec!["^a", "b+", "x|y", "", "\\d+", "\"q'"]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Node::List),
                inner.clone().prop_map(|n| Node::Not(Box::new(n))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Node::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Node::Or),
                (op, inner.clone(), inner.clone()).prop_map(|(op, l, r)| Node::Compare {
                    op,
                    left: Box::new(l),
                    right: Box::new(r)
                }),
                (inner, pattern).prop_map(|(l, p)| Node::Matches {
                    left: Box::new(l),
                    pattern: Pattern {
                        source: p.to_owned(),
                        regex: RegexBuilder::new(p).build().expect("valid test pattern"),
                    },
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_strings_are_total(src in any::<String>(), values in prop::collection::vec(arb_value(), 1..4)) {
            check_total(&src, &values);
        }

        #[test]
        fn arbitrary_bytes_are_total(bytes in prop::collection::vec(any::<u8>(), 0..300), values in prop::collection::vec(arb_value(), 1..4)) {
            check_total(&String::from_utf8_lossy(&bytes), &values);
        }

        #[test]
        fn token_soup_is_total(src in token_soup(), values in prop::collection::vec(arb_value(), 1..4)) {
            check_total(&src, &values);
        }

        #[test]
        fn printed_trees_parse_back(node in arb_node(), values in prop::collection::vec(arb_value(), 1..4)) {
            let mut src = String::new();
            print(&node, &mut src);
            prop_assume!(src.len() <= MAX_SOURCE_BYTES);
            let parsed = Condition::parse(&src).map_err(|e| TestCaseError::fail(format!("{src:?}: {e}")))?;
            prop_assert_eq!(&parsed.root, &node, "{}", src);
            let fields = |p: &str| pick(&values, p);
            prop_assert_eq!(parsed.eval(&fields), eval_bool(&node, &fields));
        }
    }
}
