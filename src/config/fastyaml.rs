//! A fast reader for the plain YAML that nearly every configuration document is written in,
//! which either gives exactly what serde-saphyr would give or steps aside.
//!
//! serde-saphyr is the parser of record: it rejects duplicate keys, reports positions, and
//! every error message a user sees comes from it. It is also slow for our use (about 28 µs
//! for a seven-line document, most of it spent moving large event structs around), and a
//! workspace of 10,000 routines spends most of `validate` in it. So [`yaml::parse`] tries this
//! reader first and calls serde-saphyr only when this one steps aside.
//!
//! **The invariant**: whenever [`from_str`] returns `Ok(value)`, `serde_saphyr::from_str`
//! would have returned `Ok` with an equal value, down to the line and column of every
//! [`At`]. Whenever it is unsure, it steps aside: any error at all (unknown or missing
//! fields, a wrong type, a duplicate key) and anything outside the subset below is
//! [`StepAside`], after which serde-saphyr reads the document and says what is wrong.
//!
//! The subset: ASCII text with `\n` line ends (no tab, no `\r`, no control character); blank
//! lines and `#` comments; one leading `---`; block mappings whose keys are plain words or
//! quoted strings on one line; block sequences, indented or at their key's indentation, whose
//! items are scalars or mappings starting on the dash line; one-line plain scalars; one-line
//! quoted scalars without escapes; `{}`, `[]` and flow sequences of simple scalars. Everything
//! else (anchors, aliases, tags, block scalars, multi-line scalars, complex keys, flow
//! mappings with content, `...`) steps aside.
//!
//! Scalars are resolved as serde-saphyr resolves them, and where the resolution is not
//! obviously the one asked for the reader steps aside: a plain scalar asked for as text must
//! not read as null, a boolean or a number; integers are plain `0` or `[1-9][0-9]*`; booleans
//! are plain `true` or `false`; `Option` reads the plain null spellings as `None`.
//!
//! [`yaml::parse`]: super::yaml::parse
//! [`At`]: super::raw::At

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

/// Deserializer methods for types no configuration document uses: the reader steps aside.
macro_rules! step_aside {
    ($($method:ident($($arg:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $(_: $arg,)* _: V) -> Result<V::Value, StepAside> {
            Err(StepAside)
        }
    )*};
}

/// The fast reader declines a document: serde-saphyr must read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepAside;

impl fmt::Display for StepAside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outside the plain YAML the fast reader takes")
    }
}

impl std::error::Error for StepAside {}

impl de::Error for StepAside {
    fn custom<T: fmt::Display>(_: T) -> StepAside {
        StepAside
    }
}

/// Deserializes one document, or steps aside (see the module documentation).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, StepAside> {
    let root = read(text)?;
    T::deserialize(Value(&root))
}

// ---------------------------------------------------------------------------------------------
// Reading the text into nodes

/// A place in the document, 1-based, as serde-saphyr counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: u32,
    column: u32,
}

/// A node of the document, borrowing its text. `at` is where serde-saphyr places the node:
/// a scalar at its first character (a quoted one at its quote), a block mapping at its first
/// key, a flow collection at its bracket, a block sequence at its first dash (or, for a
/// sequence at its key's indentation, at the first item).
#[derive(Debug)]
enum Node<'a> {
    /// A plain scalar (`plain`, to be resolved by the type asked for) or a quoted one. An
    /// empty plain scalar is an absent value, as after `key:` with nothing below.
    Scalar {
        text: &'a str,
        plain: bool,
        at: Pos,
    },
    Map {
        entries: Vec<(&'a str, Node<'a>)>,
        at: Pos,
    },
    Seq {
        items: Vec<Node<'a>>,
        at: Pos,
    },
}

/// A line with content: not blank, not only a comment.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    number: u32,
    /// Spaces before `text`.
    indent: usize,
    /// The rest of the line, comment and trailing spaces included.
    text: &'a str,
}

impl Line<'_> {
    fn at(&self, offset: usize) -> Pos {
        Pos { line: self.number, column: column(self.indent + offset) }
    }
}

fn column(indent: usize) -> u32 {
    u32::try_from(indent + 1).unwrap_or(u32::MAX)
}

/// Longer keys step aside: YAML limits implicit keys to 1024 characters.
const MAX_KEY: usize = 256;

/// Larger documents step aside, which keeps every document taken far inside serde-saphyr's
/// budgets (250,000 nodes, 1,000,000 events, 64 MiB of scalars), where it would refuse one.
const MAX_DOCUMENT: usize = 64 * 1024;

/// Deeper nesting steps aside: serde-saphyr refuses more than 64 levels, and this bounds how
/// deep the reader (and the deserializer after it) recurse on a hostile document.
const MAX_DEPTH: usize = 32;

fn read(text: &str) -> Result<Node<'_>, StepAside> {
    if text.len() > MAX_DOCUMENT || !text.bytes().all(|b| b == b'\n' || (b' '..=b'~').contains(&b)) {
        return Err(StepAside);
    }
    let mut lines = Vec::with_capacity(16);
    let mut marker_seen = false;
    for (index, raw) in text.split('\n').enumerate() {
        let content = raw.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if raw.starts_with("---") || raw.starts_with("...") {
            // One `---` before any content opens the document; a second one, `...`, or a
            // line merely starting like them steps aside.
            if raw.trim_end_matches(' ') == "---" && lines.is_empty() && !marker_seen {
                marker_seen = true;
                continue;
            }
            return Err(StepAside);
        }
        let indent = raw.len() - content.len();
        let number = u32::try_from(index + 1).map_err(|_| StepAside)?;
        lines.push(Line { number, indent, text: content });
    }
    let mut reader = Reader { lines, next: 0, depth: 0 };
    let first = reader.peek().ok_or(StepAside)?;
    let root = reader.map(first.indent)?;
    if reader.next != reader.lines.len() {
        return Err(StepAside);
    }
    Ok(root)
}

/// Whether a line's text starts a block sequence item: a dash, then a space or the end.
fn is_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Whether what follows a value on its line is nothing, or a comment after a space.
fn only_comment(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    next: usize,
    /// The collections being read, around the next line.
    depth: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.next).copied()
    }

    /// Fails when the next line is indented deeper than `indent`: it would continue the
    /// one-line value just read.
    fn no_continuation(&self, indent: usize) -> Result<(), StepAside> {
        match self.peek() {
            Some(line) if line.indent > indent => Err(StepAside),
            _ => Ok(()),
        }
    }

    /// Enters a collection, unless that is one too deep.
    fn descend(&mut self) -> Result<(), StepAside> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(StepAside) } else { Ok(()) }
    }

    /// The block mapping whose keys start at `indent`, beginning at the next line.
    fn map(&mut self, indent: usize) -> Result<Node<'a>, StepAside> {
        self.descend()?;
        let at = self.peek().ok_or(StepAside)?.at(0);
        // Room for a typical document's keys without growing.
        let mut entries: Vec<(&'a str, Node<'a>)> = Vec::with_capacity(8);
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_entry(line.text) {
                return Err(StepAside);
            }
            let (key, after_colon) = key(line.text)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(StepAside);
            }
            self.next += 1;
            let offset = line.text.len() - after_colon.len();
            let value = self.value(line, offset, indent)?;
            entries.push((key, value));
        }
        self.depth -= 1;
        Ok(Node::Map { entries, at })
    }

    /// The value of a key whose line is `line`, `offset` bytes into its text being just after
    /// the colon; the key is at `indent`.
    fn value(&mut self, line: Line<'a>, offset: usize, indent: usize) -> Result<Node<'a>, StepAside> {
        let rest = &line.text[offset..];
        if only_comment(rest) {
            return match self.peek() {
                Some(next) if next.indent > indent => self.block(next.indent),
                Some(next) if next.indent == indent && is_entry(next.text) => self.compact_seq(indent),
                _ => Ok(Node::Scalar { text: "", plain: true, at: line.at(offset) }),
            };
        }
        let start = rest.len() - rest.trim_start_matches(' ').len();
        let node = inline(&rest[start..], line, offset + start)?;
        self.no_continuation(indent)?;
        Ok(node)
    }

    /// A block mapping or sequence starting at the next line, which is at `indent`.
    fn block(&mut self, indent: usize) -> Result<Node<'a>, StepAside> {
        let line = self.peek().ok_or(StepAside)?;
        if is_entry(line.text) {
            let at = line.at(0);
            self.seq(indent, at)
        } else {
            self.map(indent)
        }
    }

    /// A sequence at its key's indentation (`key:` then `- item` below it, not indented).
    /// serde-saphyr places it at its first item; one whose first dash has nothing after it
    /// steps aside, since it is placed at neither.
    fn compact_seq(&mut self, indent: usize) -> Result<Node<'a>, StepAside> {
        let line = self.peek().ok_or(StepAside)?;
        let content = line.text[1..].trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            return Err(StepAside);
        }
        let at = line.at(line.text.len() - content.len());
        self.seq(indent, at)
    }

    /// The block sequence whose dashes are at `indent`, beginning at the next line.
    fn seq(&mut self, indent: usize, at: Pos) -> Result<Node<'a>, StepAside> {
        self.descend()?;
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent || (line.indent == indent && !is_entry(line.text)) {
                break;
            }
            if line.indent > indent {
                return Err(StepAside);
            }
            let after_dash = &line.text[1..];
            let content = after_dash.trim_start_matches(' ');
            let offset = line.text.len() - content.len();
            if only_comment(after_dash) {
                self.next += 1;
                items.push(match self.peek() {
                    Some(next) if next.indent > indent => self.block(next.indent)?,
                    _ => Node::Scalar { text: "", plain: true, at: line.at(1) },
                });
            } else if is_entry(content) {
                return Err(StepAside);
            } else if key(content).is_ok() {
                // A mapping starting on the dash line: read the line again as if the dash
                // were a space, its keys then being at the column of the first.
                let item_indent = line.indent + offset;
                self.lines[self.next] = Line { number: line.number, indent: item_indent, text: content };
                items.push(self.map(item_indent)?);
            } else {
                self.next += 1;
                items.push(inline(content, line, offset)?);
                self.no_continuation(indent)?;
            }
        }
        self.depth -= 1;
        Ok(Node::Seq { items, at })
    }
}

/// A mapping key at the start of `text`, and the text after its colon (which must be followed
/// by a space or the end of the line).
fn key(text: &str) -> Result<(&str, &str), StepAside> {
    let (key, rest) = match text.as_bytes().first() {
        Some(b'\'' | b'"') => quoted(text)?,
        Some(first) if first.is_ascii_alphabetic() || *first == b'_' => {
            let end = text
                .bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')))
                .unwrap_or(text.len());
            let key = &text[..end];
            if !plain_is_text(key) {
                return Err(StepAside);
            }
            (key, &text[end..])
        }
        _ => return Err(StepAside),
    };
    let after = rest.strip_prefix(':').ok_or(StepAside)?;
    if key.len() > MAX_KEY || !(after.is_empty() || after.starts_with(' ')) {
        return Err(StepAside);
    }
    Ok((key, after))
}

/// A quoted scalar at the start of `text` (its first character being the quote): its content
/// and the text after the closing quote. Escapes, and quotes running past the line, step aside.
fn quoted(text: &str) -> Result<(&str, &str), StepAside> {
    let quote = text.as_bytes()[0];
    let body = &text[1..];
    let end = body.bytes().position(|b| b == quote).ok_or(StepAside)?;
    let (content, after) = (&body[..end], &body[end + 1..]);
    if (quote == b'"' && content.contains('\\')) || (quote == b'\'' && after.starts_with('\'')) {
        return Err(StepAside);
    }
    Ok((content, after))
}

/// A value written on its key's or dash's line: `text` starts at the value's first character,
/// `offset` bytes into `line`'s text, and runs to the end of the line.
fn inline<'a>(text: &'a str, line: Line<'a>, offset: usize) -> Result<Node<'a>, StepAside> {
    let at = line.at(offset);
    let (node, rest) = match text.as_bytes()[0] {
        b'\'' | b'"' => {
            let (content, rest) = quoted(text)?;
            (Node::Scalar { text: content, plain: false, at }, rest)
        }
        b'{' => {
            let rest = text.strip_prefix("{}").ok_or(StepAside)?;
            (Node::Map { entries: Vec::new(), at }, rest)
        }
        b'[' => flow_seq(text, line, offset)?,
        b'-' | b'?' | b':' | b',' | b']' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@'
        | b'`' => return Err(StepAside),
        _ => {
            let end = text.find(" #").unwrap_or(text.len());
            let value = text[..end].trim_end_matches(' ');
            if value.contains(": ") || value.ends_with(':') {
                return Err(StepAside);
            }
            (Node::Scalar { text: value, plain: true, at }, &text[end..])
        }
    };
    if !only_comment(rest) {
        return Err(StepAside);
    }
    Ok(node)
}

/// A flow sequence of quoted strings and of plain scalars starting with a letter, digit, `_`
/// or `/` and holding none of `,[]{}#:`, on one line (`[a, 'b c', d]`), and the text after it.
fn flow_seq<'a>(text: &'a str, line: Line<'a>, offset: usize) -> Result<(Node<'a>, &'a str), StepAside> {
    let at = line.at(offset);
    if let Some(rest) = text.strip_prefix("[]") {
        return Ok((Node::Seq { items: Vec::new(), at }, rest));
    }
    let mut items = Vec::new();
    let mut i = 1;
    let bytes = text.as_bytes();
    loop {
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        let item_at = line.at(offset + i);
        match bytes.get(i) {
            Some(b'\'' | b'"') => {
                let (content, after) = quoted(&text[i..])?;
                items.push(Node::Scalar { text: content, plain: false, at: item_at });
                i = text.len() - after.len();
            }
            Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/') => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| !matches!(b, b',' | b'[' | b']' | b'{' | b'}' | b'#' | b':'))
                {
                    i += 1;
                }
                let word = text[start..i].trim_end_matches(' ');
                items.push(Node::Scalar { text: word, plain: true, at: item_at });
            }
            _ => return Err(StepAside),
        }
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b']') => return Ok((Node::Seq { items, at }, &text[i + 1..])),
            _ => return Err(StepAside),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving plain scalars

/// The plain spellings serde-saphyr reads as null.
fn plain_is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Whether a plain scalar reads as text and nothing else: not null, not a boolean of YAML 1.1
/// or 1.2, not a number in any spelling. serde-saphyr hands a string target the text of any
/// plain scalar that is not null, but an untyped target (an untagged enum) gets booleans and
/// numbers; these step aside either way, so that no reading is ever in doubt.
fn plain_is_text(text: &str) -> bool {
    const BOOLEANS: [&str; 8] = ["y", "yes", "true", "on", "n", "no", "false", "off"];
    if text.eq_ignore_ascii_case("null") || plain_is_null(text) {
        return false;
    }
    if BOOLEANS.iter().any(|b| text.eq_ignore_ascii_case(b)) {
        return false;
    }
    !looks_numeric(text)
}

/// Every spelling of a number in YAML 1.1 or 1.2, and more: a leading sign, a leading `.`
/// before a digit or an `inf`/`nan`, a `0x`/`0o`/`0b` prefix, a leading digit with underscores
/// after it, or anything Rust reads as a float (which includes `inf`, `nan` and exponents).
fn looks_numeric(text: &str) -> bool {
    let bytes = text.as_bytes();
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        return true;
    }
    match bytes {
        [b'.', second, ..] if second.is_ascii_digit() || matches!(second, b'i' | b'I' | b'n' | b'N') => {
            return true;
        }
        [b'0', b'x' | b'X' | b'o' | b'O' | b'b' | b'B', ..] => return true,
        _ => {}
    }
    match bytes.first() {
        Some(b'0'..=b'9') if text.contains('_') => return true,
        // Rust's float parsing takes letters first only in `inf`, `infinity` and `nan`.
        Some(first) if first.is_ascii_alphabetic() && !matches!(first, b'i' | b'I' | b'n' | b'N') => {
            return false;
        }
        _ => {}
    }
    text.parse::<f64>().is_ok()
}

/// A plain `true` or `false`, the only booleans read here (serde-saphyr also reads `yes`,
/// `On`, `FALSE` and the like as booleans).
fn plain_bool(text: &str) -> Option<bool> {
    match text {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A plain `0` or `[1-9][0-9]*`, the only integers read here.
fn plain_unsigned(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let canonical = match bytes {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if canonical { text.parse().ok() } else { None }
}

/// A plain decimal, `0|[1-9][0-9]*` with an optional `.[0-9]+`, read as serde-saphyr reads
/// it (Rust's own float parsing), when finite.
fn plain_decimal(text: &str) -> Option<f64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    plain_unsigned(whole)?;
    if let Some(fraction) = fraction
        && (fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

// ---------------------------------------------------------------------------------------------
// Deserializing nodes

/// A node as a serde [`Deserializer`](de::Deserializer).
struct Value<'n, 'de>(&'n Node<'de>);

impl<'de> Value<'_, 'de> {
    /// The node as text, when it is a quoted scalar or a plain one that reads only as text.
    fn text(&self) -> Result<&'de str, StepAside> {
        match *self.0 {
            Node::Scalar { text, plain: false, .. } => Ok(text),
            Node::Scalar { text, plain: true, .. } if plain_is_text(text) => Ok(text),
            _ => Err(StepAside),
        }
    }

    /// The text of a plain scalar, to be resolved by the caller.
    fn plain(&self) -> Result<&'de str, StepAside> {
        match *self.0 {
            Node::Scalar { text, plain: true, .. } => Ok(text),
            _ => Err(StepAside),
        }
    }

    fn unsigned(&self) -> Result<u64, StepAside> {
        plain_unsigned(self.plain()?).ok_or(StepAside)
    }

    /// Whether the node is a plain scalar serde-saphyr reads as null.
    fn is_null(&self) -> bool {
        matches!(self.0, Node::Scalar { text, plain: true, .. } if plain_is_null(text))
    }
}

/// The integer targets: each reads a plain unsigned integer that fits the type.
macro_rules! integers {
    ($($method:ident => $visit:ident: $type:ty,)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
                let value = <$type>::try_from(self.unsigned()?).map_err(|_| StepAside)?;
                visitor.$visit(value)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Value<'_, 'de> {
    type Error = StepAside;

    /// Untyped targets (untagged enums) get mappings, sequences, quoted strings, and the
    /// plain scalars whose reading is certain: unsigned integers, `true`, `false` and text.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        match self.0 {
            Node::Scalar { text, plain: false, .. } => visitor.visit_borrowed_str(text),
            Node::Scalar { text, plain: true, .. } => {
                if let Some(number) = plain_unsigned(text) {
                    visitor.visit_u64(number)
                } else if let Some(boolean) = plain_bool(text) {
                    visitor.visit_bool(boolean)
                } else {
                    visitor.visit_borrowed_str(self.text()?)
                }
            }
            Node::Map { .. } => self.deserialize_map(visitor),
            Node::Seq { .. } => self.deserialize_seq(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        visitor.visit_bool(plain_bool(self.plain()?).ok_or(StepAside)?)
    }

    integers! {
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        visitor.visit_f64(plain_decimal(self.plain()?).ok_or(StepAside)?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        if self.is_null() { visitor.visit_none() } else { visitor.visit_some(self) }
    }

    /// serde-saphyr's `Spanned` (inside [`At`](super::raw::At)) asks for the newtype
    /// `__yaml_spanned` and reads a map of the value and its place; other newtypes are their
    /// content.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, StepAside> {
        match name {
            // An absent value has no place of its own in serde-saphyr either.
            "__yaml_spanned" if self.is_null() => Err(StepAside),
            "__yaml_spanned" => visitor.visit_newtype_struct(Spanned(self.0)),
            _ if name.starts_with("__yaml") => Err(StepAside),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        match self.0 {
            Node::Seq { items, .. } => {
                let mut items = Items(items.iter());
                let value = visitor.visit_seq(&mut items)?;
                if items.0.len() == 0 { Ok(value) } else { Err(StepAside) }
            }
            _ => Err(StepAside),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        match self.0 {
            Node::Map { entries, .. } => {
                let mut entries = Entries { entries: entries.iter(), value: None };
                let value = visitor.visit_map(&mut entries)?;
                if entries.entries.len() == 0 { Ok(value) } else { Err(StepAside) }
            }
            _ => Err(StepAside),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, StepAside> {
        self.deserialize_map(visitor)
    }

    /// Enums written as their variant's name, the only form the configuration uses.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, StepAside> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.text()?))
    }

    /// Read as [`deserialize_any`](Self::deserialize_any) reads, so that an ignored value
    /// serde-saphyr would refuse steps aside too.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        self.deserialize_any(visitor)
    }

    step_aside! {
        deserialize_i128();
        deserialize_u128();
        deserialize_f32();
        deserialize_char();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_unit();
        deserialize_unit_struct(&'static str);
        deserialize_tuple(usize);
        deserialize_tuple_struct(&'static str, usize);
    }
}

struct Items<'n, 'de>(std::slice::Iter<'n, Node<'de>>);

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = StepAside;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, StepAside> {
        self.0.next().map(|item| seed.deserialize(Value(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'n, 'de> {
    entries: std::slice::Iter<'n, (&'de str, Node<'de>)>,
    value: Option<&'n Node<'de>>,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = StepAside;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, StepAside> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, StepAside> {
        seed.deserialize(Value(self.value.take().ok_or(StepAside)?))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The map serde-saphyr's `Spanned` reads: a marker, the value, and its place twice (where it
/// is referenced and where it is defined, the same place without aliases).
struct Spanned<'n, 'de>(&'n Node<'de>);

/// The key that tells `Spanned` its map comes from serde-saphyr itself.
const SPANNED_MARKER: &str = "__serde_saphyr_private_spanned";

impl<'de> de::Deserializer<'de> for Spanned<'_, 'de> {
    type Error = StepAside;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, StepAside> {
        visitor.visit_map(SpannedFields { node: self.0, state: 0 })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct SpannedFields<'n, 'de> {
    node: &'n Node<'de>,
    state: u8,
}

impl<'de> de::MapAccess<'de> for SpannedFields<'_, 'de> {
    type Error = StepAside;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, StepAside> {
        let key = match self.state {
            0 => SPANNED_MARKER,
            1 => "value",
            2 => "referenced",
            3 => "defined",
            _ => return Ok(None),
        };
        self.state += 1;
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, StepAside> {
        let Pos { line, column } = match *self.node {
            Node::Scalar { at, .. } | Node::Map { at, .. } | Node::Seq { at, .. } => at,
        };
        match self.state {
            1 => seed.deserialize(true.into_deserializer()),
            2 => seed.deserialize(Value(self.node)),
            3 | 4 => seed.deserialize(MapDeserializer::new([("line", line), ("column", column)].into_iter())),
            _ => Err(StepAside),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::super::raw::{self, At};
    use super::super::yaml::split_documents;
    use super::*;

    /// Whether the fast path took `text` as a `T`. When it did, serde-saphyr must take it too,
    /// with a value that prints the same (every `At` with its line and column).
    fn agree<T: DeserializeOwned + fmt::Debug>(text: &str) -> Result<bool, String> {
        let Ok(fast) = from_str::<T>(text) else { return Ok(false) };
        match serde_saphyr::from_str::<T>(text) {
            Ok(slow) if format!("{fast:?}") == format!("{slow:?}") => Ok(true),
            Ok(slow) => Err(format!("different values for {text:?}\nfast: {fast:?}\nslow: {slow:?}")),
            Err(e) => {
                Err(format!("serde-saphyr refuses what the fast path took: {text:?}\n{e}\nfast: {fast:?}"))
            }
        }
    }

    /// [`agree`] for the type of the document's plain `kind:` line (as the loader picks it).
    fn agree_as_its_kind(text: &str) -> Result<bool, String> {
        let kind = text.lines().find_map(|line| line.strip_prefix("kind:")).unwrap_or_default();
        agree_as(kind.split(" #").next().unwrap_or_default().trim(), text)
    }

    /// [`agree`] for the raw type of `kind`, after [`raw::Header`], which reads the rest of the
    /// document as ignored values.
    fn agree_as(kind: &str, text: &str) -> Result<bool, String> {
        agree::<raw::Header>(text)?;
        match kind {
            "Routine" => agree::<raw::Routine>(text),
            "Integration" => agree::<raw::Integration>(text),
            "Output" => agree::<raw::Output>(text),
            "Agent" => agree::<raw::Agent>(text),
            "Workflow" => agree::<raw::Workflow>(text),
            "Project" => agree::<raw::Project>(text),
            "Silence" => agree::<raw::Silence>(text),
            "HealthRule" => agree::<raw::HealthRule>(text),
            "AlertRule" => agree::<raw::AlertRule>(text),
            "Receiver" => agree::<raw::Receiver>(text),
            "TriageRule" => agree::<raw::TriageRule>(text),
            "Price" => agree::<raw::Price>(text),
            "Budget" => agree::<raw::Budget>(text),
            _ => agree::<raw::Settings>(text),
        }
    }

    /// Items of a sequence of mappings, with their places.
    type Steps = Vec<At<BTreeMap<String, At<String>>>>;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        #[serde(default)]
        a: Option<At<String>>,
        #[serde(default)]
        num: Option<At<u32>>,
        #[serde(default)]
        b: Option<bool>,
        #[serde(default)]
        f: Option<f64>,
        #[serde(default)]
        m: Option<At<BTreeMap<String, At<String>>>>,
        #[serde(default)]
        l: Option<At<Vec<At<String>>>>,
        #[serde(default)]
        s: Option<At<Vec<At<raw::StatusSpec>>>>,
        #[serde(default)]
        h: Option<BTreeMap<String, At<raw::HeaderValue>>>,
        #[serde(default)]
        e: Option<raw::Boundary>,
        #[serde(default)]
        steps: Option<Steps>,
    }

    #[test]
    fn positions_are_serde_saphyrs() {
        let cases = [
            "a: x\nnum: 3\n",
            "a:   'q'  # c\n",
            "a: \"dq\"\nb: true\nf: 1.25\n",
            "m:\n  k: v\n  j: 'w'\n",
            "m:   # c\n\n  # d\n    k: v\n",
            "m: {}\nl: []\n",
            "l:\n  - x\n  -   'y'\n",
            "l:\n- x\n- \"y\"\n",
            "l:\n-    x\n-  z\n",
            "l: [x, 'y',  z z]\n",
            "steps:\n- id: a\n  k: b\n-   id: c\n    k: d\n",
            "steps:\n  - id: a\n    l: b\n",
            "s: [200, \"200-299\", 404]\n",
            "s:\n- 200\n- 300-399\n",
            "h:\n  X-Key: Bearer {}\n  Authorization:\n    credential: token\n    format: 'Bearer {}'\n",
            "e: external\n",
            "---\n# comment\n\n  # indented comment\na: x:y a#b 1h\n",
            "  a: x\n  num: 0\n",
            "a:\nnum:\nm:\n",
            "a: ~\nnum: null\nm: NULL\n",
            "--- \nl: # c\n\n# d\n- x\n-   'z'  # e\n",
            "l: [ x,  z ]\nsteps:\n  -\n    id: a\n",
        ];
        for text in cases {
            assert_eq!(agree::<Sample>(text), Ok(true), "{text:?}");
        }
    }

    #[test]
    fn steps_aside_outside_the_subset() {
        let cases = [
            "a: &x y\n",
            "a: *x\n",
            "a: !t y\n",
            "a: |\n  y\n",
            "a: >-\n  y\n",
            "a: x\n  y\n",
            "? a\n: x\n",
            "a: x\n...\n",
            "a: x\n---\na: y\n",
            "a: x\na: y\n",
            "a: x\n'a': y\n",
            "m: {k: v}\n",
            "a: 'it''s'\n",
            "a: \"x\\ty\"\n",
            "a: \tx\n",
            "a: x\r\n",
            "a: é\n",
            "\u{feff}a: x\n",
            "a: x\u{1}\n",
            "<<: {}\n",
            "a: yes\n",
            "a: No\n",
            "a: 1.5\n",
            "a: 0x1F\n",
            "a: .inf\n",
            "a: +1\n",
            "a: 1_000\n",
            "a: -x\n",
            "a: 'x' y\n",
            "a: \"x\"#c\n",
            "a: x: y\n",
            "a: x:\n",
            "num: 007\n",
            "num: -1\n",
            "num: 4294967296\n",
            "num: '3'\n",
            "n: 3\n",
            "b: yes\n",
            "b: True\n",
            "f: 1e3\n",
            "f: .5\n",
            "e: Core\n",
            "l: [x, y,]\n",
            "l: [ ]\n",
            "l: [x\n",
            "l:\n- - x\n",
            "l:\n-\n  x\n",
            "l:\n  -\n    x\n",
            "l: x\n",
            "m:\n  k: v\n j: w\n",
            "m:\n  k: v\n   j: w\n",
            "bogus: 1\n",
            "- a\n",
            "a: x\n  # c\n b: y\n",
            "%YAML 1.2\n---\na: x\n",
        ];
        for text in cases {
            assert_eq!(from_str::<Sample>(text).map(|_| ()), Err(StepAside), "{text:?}");
        }
    }

    /// Deep and large documents step aside well before serde-saphyr's budgets would refuse
    /// them; long lines within the limits are taken.
    #[test]
    fn limits() {
        let nested = |levels: usize| {
            let mut text = String::new();
            for level in 0..levels {
                text.push_str(&format!("{}k:\n", " ".repeat(level)));
            }
            text.push_str(&format!("{}k: v\n", " ".repeat(levels)));
            text
        };
        assert_eq!(agree::<serde::de::IgnoredAny>(&nested(MAX_DEPTH - 1)), Ok(true));
        assert_eq!(from_str::<serde::de::IgnoredAny>(&nested(MAX_DEPTH)).map(|_| ()), Err(StepAside));
        // Sequences at their key's indentation nest without indenting further.
        let compact = |levels: usize| {
            let items: String = (0..levels).map(|level| format!("{}- k:\n", "  ".repeat(level))).collect();
            format!("m:\n{items}{}- x\n", "  ".repeat(levels))
        };
        assert_eq!(agree::<serde::de::IgnoredAny>(&compact(8)), Ok(true));
        assert_eq!(from_str::<serde::de::IgnoredAny>(&compact(MAX_DEPTH / 2)).map(|_| ()), Err(StepAside));
        let wide = format!("l: [{}]\n", vec!["a"; MAX_DOCUMENT / 2].join(","));
        assert_eq!(from_str::<Sample>(&wide).map(|_| ()), Err(StepAside));
        let long = "x".repeat(5000);
        for text in [
            format!("a: {long}\n"),
            format!("a: '{long}'\n"),
            format!("l: [{}]\n", [long.as_str(); 4].join(", ")),
            format!("l:\n- {long}\n"),
        ] {
            assert_eq!(agree::<Sample>(&text), Ok(true), "{}", &text[..20]);
        }
    }

    #[test]
    fn plain_scalars() {
        for text in
            ["x", "1h", "0 3 * * *", "Automation:bench", "~x", "a b", "nulls", "yesterday", "in_f", "1:30"]
        {
            assert!(plain_is_text(text), "{text}");
        }
        for text in [
            "", "~", "NULL", "nUlL", "y", "N", "on", "OFF", "True", "0", "12", "1.5", "1e3", "-1", "+1", ".5",
        ] {
            assert!(!plain_is_text(text), "{text}");
        }
        for text in [".inf", "-.INF", ".NaN", "nan", "inf", "Infinity", "0x10", "0o17", "0b1", "1_000", "1."]
        {
            assert!(!plain_is_text(text), "{text}");
        }
        assert_eq!(plain_unsigned("0"), Some(0));
        assert_eq!(plain_unsigned("18446744073709551615"), Some(u64::MAX));
        for text in ["00", "01", "+1", "1_0", "18446744073709551616", ""] {
            assert_eq!(plain_unsigned(text), None, "{text}");
        }
        assert_eq!(plain_decimal("2.50"), Some(2.5));
        for text in ["1.", ".5", "1e3", "01.5", "1.5.5", "-1.5"] {
            assert_eq!(plain_decimal(text), None, "{text}");
        }
    }

    /// The documents `scripts/gen-scale.py` writes for the scale benchmarks, as it writes them.
    #[test]
    fn takes_the_benchmark_documents() {
        let script = include_str!("../../scripts/gen-scale.py");
        for template in [
            r#"f"kind: Routine\nid: r{i}\nowner: Automation:bench\nschedule: \"{schedule}\"\n""#,
            r#"f"grace: 1h\nobserve:\n  heartbeat: {{}}\n""#,
            r#"f"kind: Integration\nid: i{i}\ntype: http\nevery: 1s\nobserve:\n  http:\n""#,
            r#"f"    url: {args.url}\n    timeout: 5s\n""#,
        ] {
            assert!(script.contains(template), "gen-scale.py no longer writes {template}; update this test");
        }
        let mut routines = Vec::new();
        for i in 0..720 {
            let k = i % 360;
            let schedule = if i < 360 {
                format!("{} {} {} {} *", k % 60, 3 + k / 60, 1 + k % 28, 1 + i % 12)
            } else {
                format!("{} */{} * * *", k % 60, 1 + k / 60)
            };
            routines.push(format!(
                "kind: Routine\nid: r{i}\nowner: Automation:bench\nschedule: \"{schedule}\"\n\
                 grace: 1h\nobserve:\n  heartbeat: {{}}\n"
            ));
        }
        let probes: Vec<String> = ["http://127.0.0.1:9/health", "https://example.com/x?y=1&z=2"]
            .iter()
            .enumerate()
            .map(|(i, url)| {
                format!(
                    "kind: Integration\nid: i{i}\ntype: http\nevery: 1s\nobserve:\n  http:\n    \
                     url: {url}\n    timeout: 5s\n"
                )
            })
            .collect();
        for file in [routines.join("---\n"), probes.join("---\n")] {
            for document in split_documents(&file) {
                assert_eq!(agree_as_its_kind(&document.text), Ok(true), "{}", document.text);
            }
        }
    }

    /// The example workspace: every document the fast path takes is read as serde-saphyr
    /// reads it, and most are taken (the others use flow mappings with content, block scalars
    /// or escapes).
    #[test]
    fn takes_most_of_the_example_workspace() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("mission-control.yaml")];
        for folder in ["desired", "rules"] {
            for entry in std::fs::read_dir(root.join(folder)).expect("the example folder") {
                files.push(entry.expect("an entry").path());
            }
        }
        let (mut taken, mut total) = (0, 0);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("an example file");
            for document in split_documents(&text) {
                total += 1;
                match agree_as_its_kind(&document.text) {
                    Ok(true) => taken += 1,
                    Ok(false) => eprintln!("steps aside: {}:{}", file.display(), document.first_line),
                    Err(e) => panic!("{}: {e}", file.display()),
                }
            }
        }
        eprintln!("the fast path took {taken} of {total} example documents");
        assert!(taken * 4 >= total * 3, "took only {taken} of {total}");
    }

    /// The fuzzing corpus of the loader: strange documents, each tried as every kind.
    #[test]
    fn agrees_on_the_fuzzing_corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut taken = 0;
        for folder in ["corpus/yaml_loader", "regressions/yaml_loader"] {
            let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
            for entry in entries {
                let bytes = std::fs::read(entry.expect("an entry").path()).expect("a corpus file");
                let Ok(text) = std::str::from_utf8(&bytes) else { continue };
                for document in split_documents(text) {
                    if agree_as_its_kind(&document.text).unwrap_or_else(|e| panic!("{e}")) {
                        taken += 1;
                    }
                }
            }
        }
        eprintln!("the fast path took {taken} corpus documents");
    }

    // -----------------------------------------------------------------------------------------
    // Generated documents

    /// A document's content before it is written out: text (written in any style that can
    /// hold it), a raw plain scalar (a number, a boolean, an odd spelling; written as it is),
    /// a mapping, a sequence.
    #[derive(Debug, Clone)]
    enum Y {
        Text(String),
        Raw(String),
        Map(Vec<(String, Y)>),
        List(Vec<Y>),
    }

    fn text(s: &str) -> Y {
        Y::Text(s.to_string())
    }

    /// Scalars that sit at the edges of YAML's resolution and syntax.
    const ODD: &[&str] = &[
        "",
        "~",
        "null",
        "Null",
        "NULL",
        "nul",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "true",
        "False",
        "TRUE",
        "0",
        "00",
        "007",
        "1",
        "-1",
        "+1",
        "1_000",
        "0x1F",
        "0o17",
        "0b11",
        "1.5",
        "1.",
        ".5",
        "1e3",
        "-1e3",
        ".inf",
        "-.inf",
        ".NaN",
        "nan",
        "inf",
        "Infinity",
        "4294967296",
        "18446744073709551616",
        "1:30",
        "2024-01-01",
        "1h",
        "5s",
        "0 3 * * *",
        "* * * * *",
        "x: y",
        "x:",
        "x:y",
        "a #b",
        "a#b",
        "- x",
        "-x",
        "? x",
        "?x",
        ":x",
        "&a x",
        "*a",
        "!t x",
        "!!str x",
        "| x",
        "> x",
        "%x",
        "@x",
        "`x",
        "'q'",
        "\"d\"",
        "it's",
        "say \"hi\"",
        "back\\slash",
        "[a, b]",
        "{a: b}",
        "{}",
        "[]",
        "a,b",
        "a]b",
        "Bearer {}",
        "...",
        "---",
        "#x",
        "x #",
        " x",
        "x ",
        "\tx",
        "caf\u{e9}",
        "<<",
        "=",
        "%YAML",
        "[x",
        "{x",
    ];

    fn odd_scalar() -> impl Strategy<Value = String> {
        prop::sample::select(ODD).prop_map(str::to_string)
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,8}"
    }

    /// Text an owner writes: words, sentences, paths, URLs, durations, cron lines; sometimes
    /// something odd.
    fn prose(odd_weight: u32) -> BoxedStrategy<Y> {
        prop_oneof![
            4 => word().prop_map(Y::Text),
            3 => "[A-Z][a-z]{0,6}( [a-z]{1,6}){0,3}[.]?".prop_map(Y::Text),
            1 => "[a-z]{1,5}'s [a-z]{1,5}".prop_map(Y::Text),
            1 => "(Automation|Subagent|Human):[A-Za-z]{1,6}".prop_map(Y::Text),
            1 => "(https?://[a-z0-9.]{1,10}(:[0-9]{1,4})?/[a-z/]{0,8}|reports/[a-z]{1,4}-[*][.]log)".prop_map(Y::Text),
            2 => "[1-9][0-9]?(ms|s|m|h|d)".prop_map(Y::Text),
            1 => "([0-9]{1,2}|[*]) ([0-9]|[*]/[1-6]) [*] [*] ([*]|1-5)".prop_map(Y::Text),
            1 => "(last[.]ok == (true|false)|status >= [1-5]00|text matches \"x\")".prop_map(Y::Text),
            odd_weight => odd_scalar().prop_map(Y::Text),
            odd_weight => odd_scalar().prop_map(Y::Raw),
        ]
        .boxed()
    }

    fn number(odd_weight: u32) -> BoxedStrategy<Y> {
        prop_oneof![4 => (0u32..1000).prop_map(|n| Y::Raw(n.to_string())), odd_weight => odd_scalar().prop_map(Y::Raw)].boxed()
    }

    fn one_of(words: &'static [&'static str], odd_weight: u32) -> BoxedStrategy<Y> {
        prop_oneof![4 => prop::sample::select(words).prop_map(text), odd_weight => odd_scalar().prop_map(Y::Raw)]
            .boxed()
    }

    fn list(item: BoxedStrategy<Y>, size: std::ops::Range<usize>) -> BoxedStrategy<Y> {
        prop::collection::vec(item, size).prop_map(Y::List).boxed()
    }

    /// A mapping's entries in a shuffled order: the required ones (sometimes missing when
    /// `odd`), and each optional one present or not.
    fn entries(
        odd: u32,
        required: Vec<(&'static str, BoxedStrategy<Y>)>,
        optional: Vec<(&'static str, BoxedStrategy<Y>)>,
    ) -> BoxedStrategy<Y> {
        let field = move |(key, value): (&'static str, BoxedStrategy<Y>), required: bool| {
            let entry = value.prop_map(move |v| (key.to_string(), v));
            match (required, odd) {
                (true, 0) => entry.prop_map(Some).boxed(),
                (true, _) => prop::option::weighted(0.95, entry).boxed(),
                (false, _) => prop::option::of(entry).boxed(),
            }
        };
        let fields: Vec<_> = required
            .into_iter()
            .map(|f| field(f, true))
            .chain(optional.into_iter().map(|f| field(f, false)))
            .collect();
        fields
            .prop_map(|entries| entries.into_iter().flatten().collect::<Vec<_>>())
            .prop_shuffle()
            .prop_map(Y::Map)
            .boxed()
    }

    fn observe(odd: u32) -> BoxedStrategy<Y> {
        let credential = entries(
            odd,
            vec![("credential", word().prop_map(Y::Text).boxed())],
            vec![("format", Just(text("Bearer {}")).boxed())],
        );
        let header = prop_oneof![prose(odd), credential];
        let headers =
            prop::collection::btree_map("(Authorization|X-[A-Z][a-z]{1,5}|[a-z]{1,4})", header, 0..3)
                .prop_map(|headers| Y::Map(headers.into_iter().collect()));
        let status = prop_oneof![number(odd), Just(text("200-299")), Just(Y::Raw("300-399".into()))].boxed();
        let expect = entries(
            odd,
            vec![],
            vec![("status", list(status, 0..3)), ("body_contains", prose(odd)), ("condition", prose(odd))],
        );
        let probe = prop_oneof![
            Just(("heartbeat", Y::Map(Vec::new()))),
            entries(odd, vec![("path", prose(odd))], vec![("min_size", number(odd))])
                .prop_map(|m| ("file", m)),
            entries(
                odd,
                vec![("run", list(prose(odd), 0..4))],
                vec![("timeout", prose(odd)), ("every", prose(odd))]
            )
            .prop_map(|m| ("command", m)),
            entries(
                odd,
                vec![("url", prose(odd))],
                vec![
                    ("method", one_of(&["GET", "POST", "HEAD"], odd)),
                    ("headers", headers.boxed()),
                    ("body", prose(odd)),
                    ("timeout", prose(odd)),
                    ("expect", expect),
                ],
            )
            .prop_map(|m| ("http", m)),
            entries(odd, vec![("address", prose(odd))], vec![("timeout", prose(odd))])
                .prop_map(|m| ("tcp", m)),
            entries(odd, vec![("job", prose(odd))], vec![]).prop_map(|m| ("openclaw_cron", m)),
        ];
        prop::collection::vec(probe, 0..=(1 + usize::from(odd > 0)))
            .prop_map(|probes| Y::Map(probes.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
            .boxed()
    }

    /// A desired document of `kind`: the keys every one has, then its own.
    fn desired(kind: &'static str, odd: u32, own: Vec<(&'static str, BoxedStrategy<Y>)>) -> BoxedStrategy<Y> {
        let labels = prop::collection::btree_map(word(), prose(odd), 0..3)
            .prop_map(|m| Y::Map(m.into_iter().collect()));
        let id = prop_oneof![8 => "[a-z0-9][a-z0-9._-]{0,10}".prop_map(Y::Text), odd => odd_scalar().prop_map(Y::Raw)];
        let mut optional = vec![
            ("name", prose(odd)),
            ("description", prose(odd)),
            ("owner", prose(odd)),
            ("labels", labels.boxed()),
            ("desired", one_of(&["active", "paused", "retired"], odd)),
            ("depends_on", list("(routine|integration)/[a-z]{1,6}".prop_map(Y::Text).boxed(), 0..3)),
            ("runbook", prose(odd)),
        ];
        optional.extend(own);
        if odd > 0 {
            optional.push(("bogus", prose(odd)));
        }
        entries(odd, vec![("kind", Just(text(kind)).boxed()), ("id", id.boxed())], optional)
    }

    fn routine(odd: u32) -> BoxedStrategy<Y> {
        desired(
            "Routine",
            odd,
            vec![
                ("schedule", prose(odd)),
                ("every", prose(odd)),
                ("timezone", prose(odd)),
                ("grace", prose(odd)),
                ("max_runtime", prose(odd)),
                ("observe", observe(odd)),
            ],
        )
    }

    fn integration(odd: u32) -> BoxedStrategy<Y> {
        let boolean = prop_oneof![4 => prop::sample::select(&["true", "false"][..]).prop_map(|b| Y::Raw(b.into())), odd => odd_scalar().prop_map(Y::Raw)];
        desired(
            "Integration",
            odd,
            vec![
                ("type", prose(odd)),
                ("purpose", prose(odd)),
                ("boundary", one_of(&["core", "external", "protected"], odd)),
                ("activated", boolean.boxed()),
                ("credential", prose(odd)),
                ("observe", observe(odd)),
                ("every", prose(odd)),
                ("failure_threshold", number(odd)),
                ("recovery_threshold", number(odd)),
                ("latency_warning", prose(odd)),
            ],
        )
    }

    fn workflow(odd: u32) -> BoxedStrategy<Y> {
        let step = entries(
            odd,
            vec![("id", word().prop_map(Y::Text).boxed())],
            vec![
                ("title", prose(odd)),
                ("owner", prose(odd)),
                ("depends_on", list(word().prop_map(Y::Text).boxed(), 0..3)),
                ("expected_output", prose(odd)),
                ("task", prose(odd)),
            ],
        );
        desired("Workflow", odd, vec![("expected_output", prose(odd)), ("steps", list(step, 0..4))])
    }

    /// A small deterministic generator for the choices of layout, so that one seed writes one
    /// text.
    struct Choices(u64);

    impl Choices {
        fn below(&mut self, n: u64) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
        }

        fn one_in(&mut self, n: u64) -> bool {
            self.below(n) == 0
        }
    }

    /// Writes documents in the many layouts YAML allows for the same content: quoting styles,
    /// indentations, compact and indented sequences, flow sequences, comments, blank lines.
    struct Writer {
        out: String,
        choices: Choices,
    }

    impl Writer {
        fn document(root: &Y, seed: u64) -> String {
            let mut writer = Writer { out: String::new(), choices: Choices(seed | 1) };
            if writer.choices.one_in(4) {
                writer.out.push_str("# a comment\n");
            }
            if writer.choices.one_in(3) {
                writer.out.push_str("---\n");
            }
            let Y::Map(entries) = root else { unreachable!() };
            writer.map(entries, 0, false);
            writer.out
        }

        fn spaces(&mut self, n: usize) {
            self.out.extend(std::iter::repeat_n(' ', n));
        }

        /// Between lines: now and then a blank line or a comment.
        fn filler(&mut self, indent: usize) {
            match self.choices.below(12) {
                0 => self.out.push('\n'),
                1 => {
                    let indent = indent.saturating_sub(self.choices.below(3) as usize);
                    self.spaces(indent);
                    self.out.push_str("# note: x\n");
                }
                _ => {}
            }
        }

        fn end_of_line(&mut self) {
            match self.choices.below(8) {
                0 => self.out.push_str("  # why"),
                1 => self.out.push(' '),
                _ => {}
            }
            self.out.push('\n');
        }

        /// A mapping's entries at `indent`; the first on the current line when `inline` (after
        /// a sequence's dash).
        fn map(&mut self, entries: &[(String, Y)], indent: usize, inline: bool) {
            for (index, (key, value)) in entries.iter().enumerate() {
                if index > 0 || !inline {
                    self.filler(indent);
                    self.spaces(indent);
                }
                self.key(key);
                self.value(value, indent);
            }
        }

        /// A key, plain unless it would not read as text (`y`, `on`), sometimes quoted anyway.
        fn key(&mut self, key: &str) {
            match self.choices.below(16) {
                0 => self.out.push_str(&format!("\"{key}\"")),
                _ if !plain_is_text(key) => self.out.push_str(&format!("'{key}'")),
                1 => self.out.push_str(&format!("'{key}'")),
                _ => self.out.push_str(key),
            }
            self.out.push(':');
        }

        /// A value after its key's colon; the key is at `indent`.
        fn value(&mut self, value: &Y, indent: usize) {
            match value {
                Y::Text(_) | Y::Raw(_) => {
                    let gap = 1 + usize::from(self.choices.one_in(5));
                    self.spaces(gap);
                    self.scalar(value);
                    self.end_of_line();
                }
                Y::Map(entries) if entries.is_empty() => {
                    self.out.push_str(" {}");
                    self.end_of_line();
                }
                Y::List(items) if items.is_empty() => {
                    self.out.push_str(" []");
                    self.end_of_line();
                }
                Y::List(items)
                    if items.iter().all(|i| matches!(i, Y::Text(_) | Y::Raw(_)))
                        && self.choices.one_in(3) =>
                {
                    self.out.push_str(" [");
                    for (index, item) in items.iter().enumerate() {
                        if index > 0 {
                            self.out.push_str(if self.choices.one_in(4) { " , " } else { ", " });
                        }
                        self.scalar_in(item, true);
                    }
                    self.out.push(']');
                    self.end_of_line();
                }
                Y::Map(entries) => {
                    self.end_of_line();
                    let step = 1 + self.choices.below(4) as usize;
                    self.map(entries, indent + step, false);
                }
                Y::List(items) => {
                    self.end_of_line();
                    let step = if self.choices.one_in(2) { 0 } else { 1 + self.choices.below(3) as usize };
                    self.seq(items, indent + step, step == 0);
                }
            }
        }

        /// A block sequence with its dashes at `indent`; `compact` when that is its key's
        /// indentation.
        fn seq(&mut self, items: &[Y], indent: usize, compact: bool) {
            for (index, item) in items.iter().enumerate() {
                self.filler(indent);
                self.spaces(indent);
                self.out.push('-');
                let gap = 1 + self.choices.below(3) as usize;
                // A mapping may also start on the line after its dash, though not as the first
                // item of a compact sequence, which the fast path leaves to serde-saphyr.
                let below = (index > 0 || !compact) && self.choices.one_in(5);
                match item {
                    Y::Map(entries) if !entries.is_empty() && below => {
                        self.end_of_line();
                        self.map(entries, indent + gap, false);
                        continue;
                    }
                    _ => self.spaces(gap),
                }
                match item {
                    Y::Map(entries) if !entries.is_empty() => self.map(entries, indent + 1 + gap, true),
                    Y::Map(_) => {
                        self.out.push_str("{}");
                        self.end_of_line();
                    }
                    Y::List(_) => {
                        self.out.push_str("[]");
                        self.end_of_line();
                    }
                    scalar => {
                        self.scalar(scalar);
                        self.end_of_line();
                    }
                }
            }
        }

        fn scalar(&mut self, value: &Y) {
            self.scalar_in(value, false);
        }

        /// Text in a style that can hold it, chosen at random among those; raw scalars as they
        /// are. A plain scalar in a flow sequence (`in_flow`) holds no flow indicator.
        fn scalar_in(&mut self, value: &Y, in_flow: bool) {
            let text = match value {
                Y::Raw(raw) => {
                    self.out.push_str(raw);
                    return;
                }
                Y::Text(text) => text,
                _ => unreachable!(),
            };
            let plain = !text.is_empty()
                && !text.starts_with([
                    ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"',
                    '%', '@', '`',
                ])
                && !text.ends_with([' ', ':'])
                && !text.contains(": ")
                && !text.contains(" #")
                && !(in_flow
                    && (text.contains([',', '[', ']', '{', '}', '#', ':']) || text.starts_with('.')))
                && plain_is_text(text);
            let single = !text.contains('\'');
            let double = !text.contains(['"', '\\']);
            loop {
                match self.choices.below(3) {
                    0 if plain => return self.out.push_str(text),
                    1 if single => return self.out.push_str(&format!("'{text}'")),
                    2 if double => return self.out.push_str(&format!("\"{text}\"")),
                    _ if !(plain || single || double) => return self.out.push_str(&format!("'{text}'")),
                    _ => {}
                }
            }
        }
    }

    /// Small damage to a written document: lines repeated, dropped, moved or indented
    /// differently, and stray characters.
    fn damage(text: &str, seed: u64) -> String {
        let mut choices = Choices(seed | 1);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for _ in 0..=choices.below(3) {
            if lines.is_empty() {
                break;
            }
            let at = choices.below(lines.len() as u64) as usize;
            match choices.below(6) {
                0 => {
                    let line = lines[at].clone();
                    lines.insert(at, line);
                }
                1 => {
                    lines.remove(at);
                }
                2 => lines[at].insert_str(0, &" ".repeat(1 + choices.below(2) as usize)),
                3 => {
                    let trimmed = lines[at].strip_prefix(' ').unwrap_or(&lines[at]).to_string();
                    lines[at] = trimmed;
                }
                4 => {
                    let other = choices.below(lines.len() as u64) as usize;
                    lines.swap(at, other);
                }
                _ => {
                    const STRAY: &[&str] = &[
                        "&a ", "*a", "!t ", "|", ">", "\t", "\r", "'", "\"", "#", " #", ":", ": ", "- ", "{",
                        "}", "[", "]", ",", "\\", "? ", "\u{e9}", " ", "~",
                    ];
                    let stray = STRAY[choices.below(STRAY.len() as u64) as usize];
                    let mut byte = choices.below(lines[at].len() as u64 + 1) as usize;
                    while !lines[at].is_char_boundary(byte) {
                        byte -= 1;
                    }
                    lines[at].insert_str(byte, stray);
                }
            }
        }
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    fn check(root: &Y, seed: u64, damaged: bool) -> Result<bool, TestCaseError> {
        let mut text = Writer::document(root, seed);
        if damaged {
            text = damage(&text, seed.rotate_left(17));
        }
        let Y::Map(entries) = root else { unreachable!() };
        let kind = match entries.iter().find(|(key, _)| key == "kind") {
            Some((_, Y::Text(kind))) => kind.as_str(),
            _ => "",
        };
        for other in ["Routine", "Integration", "Workflow"] {
            agree_as(other, &text).map_err(TestCaseError::fail)?;
        }
        agree_as(kind, &text).map_err(TestCaseError::fail)
    }

    fn any_kind(odd: u32) -> impl Strategy<Value = Y> {
        prop_oneof![routine(odd), integration(odd), workflow(odd)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the fast path takes, serde-saphyr reads the same, positions included; odd
        /// scalars and damaged layouts included.
        #[test]
        fn the_fast_path_agrees_with_serde_saphyr(
            root in prop_oneof![any_kind(0), any_kind(1)],
            seed in any::<u64>(),
            damaged in any::<bool>(),
        ) {
            check(&root, seed, damaged)?;
        }

        /// Documents written in the plain subset, whatever their layout, are all taken.
        #[test]
        fn plain_documents_are_taken(root in any_kind(0), seed in any::<u64>()) {
            let taken = check(&root, seed, false)?;
            prop_assert!(taken, "stepped aside from\n{}", Writer::document(&root, seed));
        }
    }
}
