//! How the client prints: `--output json` is the server's JSON as it came (pretty-printed), for
//! scripts; `--output table` is aligned columns (lists) or `key  value` lines (one object), for
//! people. Invariants: results go to standard output, progress and errors to standard error, and
//! text from the server is stripped of control characters before it reaches a terminal.

use std::io::Write;

use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// The server's JSON as it answered, for scripts (`jq`).
    Json,
}

/// One column of a list: its header and where its value sits in an item (a JSON pointer).
pub struct Column {
    pub header: &'static str,
    pub pointer: &'static str,
}

pub const fn col(header: &'static str, pointer: &'static str) -> Column {
    Column { header, pointer }
}

/// Writes a result to standard output; a closed pipe (`… | head`) ends the output quietly.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes a line of progress or a note to standard error.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", sanitize(text));
}

pub fn json_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// One object: as JSON, or as one `key  value` line per field.
pub fn show_object(output: Output, value: &Value) {
    match output {
        Output::Json => emit(&json_text(value)),
        Output::Table => emit(&render_fields(value)),
    }
}

/// A list answer (`{items, next_cursor}`): as JSON, or as a table with a note on standard error
/// when more pages exist.
pub fn show_page(output: Output, page: &Value, columns: &[Column]) {
    match output {
        Output::Json => emit(&json_text(page)),
        Output::Table => {
            let items = page.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            emit(&render_table(items, columns));
            if let Some(cursor) = page.get("next_cursor").and_then(Value::as_str) {
                note(&format!("more: add --all, or --cursor {cursor}"));
            }
        }
    }
}

pub fn render_table(rows: &[Value], columns: &[Column]) -> String {
    let cells: Vec<Vec<String>> =
        rows.iter().map(|row| columns.iter().map(|c| cell(row.pointer(c.pointer))).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].chars().count()).chain([c.header.len()]).max().unwrap_or(0))
        .collect();
    let line = |values: Vec<&str>| {
        let mut text = String::new();
        for (i, value) in values.iter().enumerate() {
            if i + 1 == values.len() {
                text.push_str(value);
            } else {
                text.push_str(value);
                text.push_str(&" ".repeat(widths[i] - value.chars().count() + 2));
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut out = line(columns.iter().map(|c| c.header).collect());
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `key  value` lines for the fields of an object, keys aligned.
pub fn render_fields(value: &Value) -> String {
    let Some(object) = value.as_object() else { return format!("{}\n", cell(Some(value))) };
    let width = object.keys().map(String::len).max().unwrap_or(0);
    object.iter().map(|(key, value)| format!("{key:width$}  {}\n", cell(Some(value)))).collect::<String>()
}

/// A value as one table cell: text as is (timestamps to the second), `-` for nothing, lists of
/// text joined, anything else as compact JSON.
pub fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => short_time(s).into_owned(),
        Some(Value::Array(items)) if items.is_empty() => "-".to_owned(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        }
        Some(other) => other.to_string(),
    };
    sanitize(&text)
}

/// An RFC 3339 time without its fraction of a second (`2026-05-01T10:00:00.123Z` → `…:00Z`);
/// other text unchanged.
pub fn short_time(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let looks_like_time = bytes.len() > 20
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[19] == b'.'
        && bytes[..4].iter().all(u8::is_ascii_digit);
    if !looks_like_time {
        return text.into();
    }
    match text[20..].find(|c: char| !c.is_ascii_digit()) {
        Some(end) => format!("{}{}", &text[..19], &text[20 + end..]).into(),
        None => text.into(),
    }
}

/// Text from the server with control characters (escape sequences, carriage returns) replaced, so
/// a hostile or broken answer cannot rewrite the operator's terminal.
pub fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\n' && c != '\t' { '\u{fffd}' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Columns are as wide as their widest cell, missing values show as `-`, lists join, times lose
    /// their fraction, and the last column has no trailing spaces.
    #[test]
    fn tables_align_their_columns() {
        let rows = [
            json!({ "id": "a1", "common_name": "www.example.test", "status": "issued",
                    "not_after": "2026-05-01T10:00:00.123Z", "sans": ["a.test", "b.test"] }),
            json!({ "id": "b22", "common_name": "x.test", "status": "requested", "not_after": null, "sans": [] }),
        ];
        let columns = [
            col("ID", "/id"),
            col("NAME", "/common_name"),
            col("STATUS", "/status"),
            col("NOT AFTER", "/not_after"),
            col("SANS", "/sans"),
        ];
        let table = render_table(&rows, &columns);
        let expected = "\
ID   NAME              STATUS     NOT AFTER             SANS
a1   www.example.test  issued     2026-05-01T10:00:00Z  a.test, b.test
b22  x.test            requested  -                     -
";
        assert_eq!(table, expected);
    }

    /// One object prints as aligned `key  value` lines; nested values as compact JSON.
    #[test]
    fn objects_print_one_field_a_line() {
        let text = render_fields(&json!({ "id": "c1", "history": [{ "serial": "01" }], "paused": false }));
        assert_eq!(text, "id       c1\nhistory  [{\"serial\":\"01\"}]\npaused   false\n");
    }

    /// Escape sequences from the server are neutralized; plain text and times of other shapes pass.
    #[test]
    fn server_text_cannot_drive_the_terminal() {
        assert_eq!(sanitize("ok\x1b[31mred\r"), "ok\u{fffd}[31mred\u{fffd}");
        assert_eq!(short_time("2026-05-01T10:00:00Z"), "2026-05-01T10:00:00Z");
        assert_eq!(short_time("2026-05-01T10:00:00.5+02:00"), "2026-05-01T10:00:00+02:00");
        assert_eq!(short_time("not a time at all, no"), "not a time at all, no");
    }
}
