//! Reading YAML files into typed raw documents, keeping file positions.
//!
//! A file may hold many documents separated by `---`. Each document is parsed on its own so
//! that one broken document does not hide the errors of the others, yet every position is
//! reported against the whole file: the lines before the document are added to every line
//! serde-saphyr reports, in errors and in [`At`] values. (Padding each document with the blank
//! lines before it would do the same, but then a file of n documents costs n² to read.)
//!
//! A document is first offered to [`fastyaml`], which reads the plain YAML most documents
//! are written in many times faster and gives exactly serde-saphyr's value, or steps aside;
//! serde-saphyr then reads it, and every error still comes from serde-saphyr.

use std::cell::Cell;

use serde::de::DeserializeOwned;

#[cfg(doc)]
use super::raw::At;
use super::{ConfigError, fastyaml};

/// One document of a file: its text, and where it starts.
pub struct Document {
    pub text: String,
    pub first_line: u32,
    /// The lines of the file before the document's text.
    pub line_offset: u32,
}

/// Splits a YAML stream at its `---` document markers. A marker is `---` at the start of a
/// line followed by the end of line or white space; YAML forbids it anywhere else at column
/// one, so no scalar can contain it. Documents with nothing but comments and blanks are dropped.
pub fn split_documents(text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    // The current document runs from byte `start` of `text` and line `first` of the file.
    let (mut start, mut first) = (0, 1u32);
    let (mut offset, mut number) = (0, 1u32);
    for line in text.split_inclusive('\n') {
        let is_marker = line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if is_marker && offset > 0 {
            push_document(&mut documents, &text[start..offset], first);
            (start, first) = (offset, number);
        }
        offset += line.len();
        number = number.saturating_add(line_breaks(line));
    }
    push_document(&mut documents, &text[start..], first);
    documents
}

/// The YAML line breaks in a piece of text ending at a `\n` or at the end, and holding no other
/// `\n`: that one, and every `\r` not before a `\n`. Lines are counted as YAML counts them (and
/// so serde-saphyr's positions): a lone `\r` breaks a line too.
fn line_breaks(line: &str) -> u32 {
    let newline = u32::from(line.ends_with('\n'));
    if !line.contains('\r') {
        return newline;
    }
    let bytes = line.as_bytes();
    let lone = bytes.iter().enumerate().filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
    u32::try_from(lone.count()).unwrap_or(u32::MAX).saturating_add(newline)
}

fn push_document(out: &mut Vec<Document>, body: &str, first_line: u32) {
    let has_content = body.lines().any(|line| {
        let trimmed = line.trim();
        !trimmed.is_empty() && !trimmed.starts_with('#') && trimmed != "---" && trimmed != "..."
    });
    if has_content {
        out.push(Document { text: body.to_string(), first_line, line_offset: first_line - 1 });
    }
}

/// Deserializes one document, turning a failure into a positioned [`ConfigError`].
pub fn parse<T: DeserializeOwned>(path: &str, document: &Document) -> Result<T, ConfigError> {
    let parsed = with_line_offset(document.line_offset, || {
        fastyaml::from_str::<T>(&document.text).or_else(|_| serde_saphyr::from_str::<T>(&document.text))
    });
    parsed.map_err(|error| {
        let (line, column) = error
            .location()
            .filter(|l| l.line() > 0)
            .map(|l| (clamp(l.line()).saturating_add(document.line_offset), clamp(l.column())))
            .unwrap_or((document.first_line, 1));
        ConfigError::new(path, line.max(1), column.max(1), clean_message(&error))
    })
}

thread_local! {
    /// The lines before the document being parsed on this thread; [`At`] adds them.
    static LINE_OFFSET: Cell<u32> = const { Cell::new(0) };
}

/// Runs `parse` with `offset` added to the lines of every [`At`] it makes.
fn with_line_offset<R>(offset: u32, parse: impl FnOnce() -> R) -> R {
    let previous = LINE_OFFSET.replace(offset);
    let result = parse();
    LINE_OFFSET.set(previous);
    result
}

/// The line in the file of a line serde-saphyr reports within the document being parsed
/// (0, an unknown line, stays 0).
pub(super) fn absolute_line(line: u32) -> u32 {
    if line == 0 { 0 } else { line.saturating_add(LINE_OFFSET.get()) }
}

fn clamp(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// serde-saphyr's messages end with " at line L, column C" and some carry advice meant for
/// the programmer ("set DuplicateKeyPolicy"); the position is printed in front instead.
fn clean_message(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    let text = match text.rfind(" at line ") {
        Some(index) if text[index..].contains(", column ") => text[..index].to_string(),
        _ => text,
    };
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("duplicate key `{key}`");
    }
    for (serde_word, plain) in [
        ("u8", "a whole number"),
        ("u16", "a whole number"),
        ("u32", "a whole number"),
        ("u64", "a whole number"),
        ("usize", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f64", "a number"),
        ("bool", "true or false"),
    ] {
        if text == format!("invalid {serde_word}") {
            return format!("expected {plain}");
        }
    }
    text.replace("expected one of", "expected one of:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_absolute_lines() {
        let text = "kind: A\nid: a\n---\n# only a comment\n---\nkind: B\nid: b\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].first_line, 1);
        assert_eq!(docs[1].first_line, 5);
        assert_eq!(docs[1].line_offset, 4);
        assert_eq!(docs[1].text.lines().nth(1), Some("kind: B"), "line 6 of the file");
    }

    #[test]
    fn lone_carriage_returns_are_line_breaks() {
        // Found by fuzzing: serde-saphyr counts a lone `\r` as a line break (YAML does), the
        // document split did not, and an error of a later document pointed past the file's end.
        let text = "id: a\rname: x\r\n---\nid: b\rbogus: 1\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[1].first_line, docs[1].line_offset), (3, 2));
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            id: String,
        }
        let error = parse::<Doc>("x.yaml", &docs[1]).unwrap_err();
        assert_eq!((error.line, error.column), (5, 1), "{error}");
    }

    #[test]
    fn marker_needs_whitespace_after_it() {
        let docs = split_documents("kind: A\nid: '---x'\n---x: 1\n");
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn errors_point_into_the_file() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            kind: String,
        }
        let docs = split_documents("kind: A\n---\nkind: B\nbogus: 1\n");
        let error = parse::<Doc>("desired/x.yaml", &docs[1]).unwrap_err();
        assert_eq!(error.to_string(), "desired/x.yaml:4:1: unknown field `bogus`, expected one of: kind");
    }

    #[test]
    fn positions_of_values_are_lines_of_the_file() {
        #[derive(Debug, serde::Deserialize)]
        struct Doc {
            id: super::super::raw::At<String>,
        }
        let docs = split_documents("id: a\n---\n\nid: b\n");
        let second: Doc = parse("x.yaml", &docs[1]).expect("parses");
        assert_eq!((second.id.value.as_str(), second.id.line, second.id.column), ("b", 4, 5));
        let first: Doc = parse("x.yaml", &docs[0]).expect("parses");
        assert_eq!(first.id.line, 1, "the offset of one document does not stay for the next");
    }
}
