//! Output: the format chosen, aligned tables for people, and the cell text of JSON values.
//!
//! Machine formats are stable: JSON and JSON lines carry the API's own field names and values
//! (times in RFC 3339), CSV has a header line and the same names; only `table` is for people
//! (times to the second, durations readable, long cells cut with `…`).

use std::io::IsTerminal as _;

use serde_json::Value;

use super::args::Format;

pub mod rows;
pub mod tasks;

/// The format asked for, or the default: `table` when stdout is a terminal, `jsonl` otherwise
/// (one complete JSON document per line, written as it arrives: what a pipe wants).
pub fn resolve(asked: Option<Format>) -> Format {
    asked.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        }
    })
}

/// Column widths, fitted once; cells wider than their column are cut with `…`.
#[derive(Debug, Clone)]
pub struct Table {
    widths: Vec<usize>,
}

impl Table {
    /// Widths that fit the header and `rows`, each at most its `cap`.
    pub fn fit<'a>(
        header: &[String],
        rows: impl IntoIterator<Item = &'a Vec<String>>,
        caps: &[usize],
    ) -> Table {
        let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        for (w, cap) in widths.iter_mut().zip(caps) {
            *w = (*w).min(*cap);
        }
        Table { widths }
    }

    /// One line: cells padded to their width and two spaces apart (the last one not padded).
    pub fn line(&self, cells: &[String]) -> String {
        let mut out = String::new();
        let last = cells.len().min(self.widths.len()).saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&self.widths).enumerate() {
            let cell = console::truncate_str(cell, *w, "…");
            out.push_str(&cell);
            if i < last {
                let pad = w.saturating_sub(width(&cell)) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.truncate(out.trim_end().len());
        out
    }
}

fn width(s: &str) -> usize {
    console::measure_text_width(s)
}

/// Text safe for one table cell: control characters (newlines, escapes) become spaces, so data
/// can neither break a row nor drive the terminal.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A JSON value as the text of a CSV cell: strings as they are, numbers and booleans as JSON
/// writes them, `null` (or absent) empty, arrays and objects as compact JSON.
pub fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One CSV record (RFC 4180 quoting), ending in `\n`.
pub fn csv_record<I, S>(fields: I) -> std::io::Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(fields).map_err(std::io::Error::other)?;
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_cut_long_cells() {
        let header = vec!["ID".to_owned(), "NAME".to_owned(), "N".to_owned()];
        let rows = vec![
            vec!["1".to_owned(), "short".to_owned(), "x".to_owned()],
            vec![
                "22".to_owned(),
                "a much longer name".to_owned(),
                "y".to_owned(),
            ],
        ];
        let t = Table::fit(&header, &rows, &[10, 8, 10]);
        assert_eq!(t.line(&header), "ID  NAME      N");
        assert_eq!(t.line(&rows[0]), "1   short     x");
        assert_eq!(t.line(&rows[1]), "22  a much …  y");
    }

    #[test]
    fn cells_hold_no_control_characters() {
        assert_eq!(clean("a\nb\tc\u{1b}[2J"), "a b c [2J");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let line = csv_record(["a", "b,c", "say \"hi\"", ""]).unwrap();
        assert_eq!(line, b"a,\"b,c\",\"say \"\"hi\"\"\",\n");
        assert_eq!(csv_cell(Some(&json!(null))), "");
        assert_eq!(csv_cell(Some(&json!(1.5))), "1.5");
        assert_eq!(csv_cell(Some(&json!("x"))), "x");
        assert_eq!(csv_cell(Some(&json!([1, "a"]))), "[1,\"a\"]");
        assert_eq!(csv_cell(None), "");
    }
}
