//! The rows of an SQL result, in their column order, in each format.

use std::fmt;
use std::io::{self, Write};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap as _, Serializer};
use serde_json::Value;

use super::{Table, clean, csv_cell, csv_record};
use crate::cli::args::Format;

/// The widest a column of a result table gets (`json` and `csv` have every byte).
const CELL_CAP: usize = 80;

/// One row, its columns in the order the service sent them (a map would sort them, and would
/// lose a column whose name repeats).
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Row, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                let mut cols = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    cols.push(entry);
                }
                Ok(Row(cols))
            }
        }
        d.deserialize_map(RowVisitor)
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Writes `rows` in `format`. The columns are the first row's (an SQL result's rows all have
/// the same); with no rows, `csv` writes nothing (there is no header to write) and `table` says
/// `(0 rows)`.
pub fn write_rows(out: &mut impl Write, format: Format, rows: &[Row]) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            out.write_all(b"\n")?;
        }
        Format::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut *out, row)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            let Some(first) = rows.first() else {
                return Ok(());
            };
            let names: Vec<&str> = first.0.iter().map(|(k, _)| k.as_str()).collect();
            out.write_all(&csv_record(&names)?)?;
            for row in rows {
                let cells = names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| csv_cell(cell(row, i, name)));
                out.write_all(&csv_record(cells)?)?;
            }
        }
        Format::Table => {
            let header: Vec<String> = rows
                .first()
                .map(|r| r.0.iter().map(|(k, _)| clean(k)).collect())
                .unwrap_or_default();
            let names: Vec<&str> = rows
                .first()
                .map(|r| r.0.iter().map(|(k, _)| k.as_str()).collect())
                .unwrap_or_default();
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, name)| table_cell(cell(row, i, name)))
                        .collect()
                })
                .collect();
            if !header.is_empty() {
                let table = Table::fit(&header, &cells, &vec![CELL_CAP; header.len()]);
                writeln!(out, "{}", table.line(&header))?;
                for row in &cells {
                    writeln!(out, "{}", table.line(row))?;
                }
            }
            let n = rows.len();
            writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" })?;
        }
    }
    Ok(())
}

/// The value of column `i` (named `name`) in `row`: by position when the row has the same
/// columns as the first, else by name.
fn cell<'r>(row: &'r Row, i: usize, name: &str) -> Option<&'r Value> {
    match row.0.get(i) {
        Some((k, v)) if k == name => Some(v),
        _ => row.0.iter().find(|(k, _)| k == name).map(|(_, v)| v),
    }
}

fn table_cell(v: Option<&Value>) -> String {
    match v {
        Some(Value::Null) => "NULL".to_owned(),
        other => clean(&csv_cell(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        serde_json::from_str(
            r#"[{"b":1,"a":"x, y","c":null},{"b":2.5,"a":"line\nbreak","c":true}]"#,
        )
        .unwrap()
    }

    fn text(format: Format, rows: &[Row]) -> String {
        let mut out = Vec::new();
        write_rows(&mut out, format, rows).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_keep_the_services_order_in_every_format() {
        let rows = rows();
        assert_eq!(
            text(Format::Jsonl, &rows),
            "{\"b\":1,\"a\":\"x, y\",\"c\":null}\n{\"b\":2.5,\"a\":\"line\\nbreak\",\"c\":true}\n"
        );
        assert_eq!(
            text(Format::Csv, &rows),
            "b,a,c\n1,\"x, y\",\n2.5,\"line\nbreak\",true\n"
        );
        assert_eq!(
            text(Format::Table, &rows),
            "b    a           c\n1    x, y        NULL\n2.5  line break  true\n(2 rows)\n"
        );
        let back: Vec<Row> = serde_json::from_str(&text(Format::Json, &rows)).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn no_rows_is_an_empty_array_nothing_or_a_count() {
        assert_eq!(text(Format::Json, &[]), "[]\n");
        assert_eq!(text(Format::Jsonl, &[]), "");
        assert_eq!(text(Format::Csv, &[]), "");
        assert_eq!(text(Format::Table, &[]), "(0 rows)\n");
    }
}
