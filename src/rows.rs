//! Incremental decoding of a JSON array of rows, so that a result of any size is read with memory
//! bounded by its largest row, not by the number of rows.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::error::{DecodeError, Error, Result};
use crate::task_id::TaskId;

/// JSON's whitespace: space, tab, line feed, carriage return. (Not form feed, which
/// `u8::is_ascii_whitespace` also counts: serde_json refuses it, and so must the row stream.)
fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Decodes the row at the start of `bytes` (which starts with the row's first byte) and returns it
/// with its length, when it ends within `bytes` and decodes as a `T`. `None` means the row goes on
/// past `bytes`, or does not decode: the caller scans for its end instead, and carries it over or
/// reports why it failed.
///
/// This is the hot path: rows that fit in a chunk (nearly all) are read once, by serde_json, with no
/// scan of their bytes before it and no copy.
fn decode_in_place<T: DeserializeOwned>(bytes: &[u8]) -> Option<(T, usize)> {
    let mut rows = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
    let row = rows.next()?.ok()?;
    let len = rows.byte_offset();
    if len == 0 {
        // A `Deserialize` that read nothing: let the scanner's whole-row decode judge it.
        return None;
    }
    // A bare number that reaches the end of the chunk may go on in the next one (`12` of `123`):
    // only a delimiter after it says it ended. Objects, arrays and strings end on their own byte.
    let closed = matches!(bytes.first(), Some(b'{' | b'[' | b'"'));
    (closed || len < bytes.len()).then_some((row, len))
}

/// Where the scanner stands in `[ row, row, … ]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// After `[` or `,`: a row or (after `[` only) `]` comes next.
    BeforeRow { first: bool },
    /// Inside a row.
    InRow,
    /// After a row: `,` or `]` comes next.
    AfterRow,
    /// After the closing `]`: only whitespace may follow.
    Done,
}

/// Splits a JSON array arriving in chunks into its elements and decodes each as a `T`.
///
/// Only the bytes of the row being read are kept. A body that is not a JSON array, or is cut short,
/// is an error, never a silently shorter result.
#[derive(Debug)]
pub struct JsonRowDecoder<T> {
    state: State,
    /// The bytes of the current row.
    row: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The current row is a bare scalar (number, `true`, …), ended by `,`, `]` or whitespace.
    scalar: bool,
    rows: u64,
    /// Bytes seen so far, for error messages.
    offset: u64,
    task_id: Option<TaskId>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonRowDecoder<T> {
    /// A decoder for rows of `T`; `task_id` is quoted in errors.
    pub fn new(task_id: Option<TaskId>) -> Self {
        JsonRowDecoder {
            state: State::Start,
            row: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: false,
            rows: 0,
            offset: 0,
            task_id,
            _t: PhantomData,
        }
    }

    /// How many rows have been decoded.
    pub fn rows_decoded(&self) -> u64 {
        self.rows
    }

    /// How many bytes the decoder holds between chunks: those of the row being read, so never more
    /// than the largest row, however long the result.
    pub fn buffered(&self) -> usize {
        self.row.len()
    }

    /// A syntax error at byte `at`. The bytes are result data: never quoted.
    fn syntax(&self, at: u64, what: &str) -> Error {
        Error::Decode(Box::new(DecodeError::new(
            "JSON rows",
            format!("[{}]", self.rows),
            format!("{what} at byte {at}"),
            self.task_id.as_ref(),
        )))
    }

    /// Decodes the row that ends with `piece` (the part of it in the current chunk; any earlier
    /// part is in `self.row`). A row inside one chunk is decoded in place, never copied.
    fn finish_row(&mut self, piece: &[u8], out: &mut Vec<Result<T>>) {
        let index = self.rows;
        let bytes: &[u8] = if self.row.is_empty() {
            piece
        } else {
            self.row.extend_from_slice(piece);
            &self.row
        };
        let decoded = DecodeError::result_json::<T>("JSON rows", bytes, self.task_id.as_ref())
            .map_err(|e| match e {
                Error::Decode(mut d) => {
                    d.path = if d.path == "." {
                        format!("[{index}]")
                    } else if d.path.starts_with('[') {
                        format!("[{index}]{}", d.path)
                    } else {
                        format!("[{index}].{}", d.path)
                    };
                    Error::Decode(d)
                }
                other => other,
            });
        out.push(decoded);
        self.rows += 1;
        self.row.clear();
        self.state = State::AfterRow;
    }

    /// Feeds the next chunk; returns the rows it completed (and at most one error, after which the
    /// decoder should not be fed again).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<T>> {
        let mut out = Vec::new();
        let mut i = 0;
        // Where the current row starts in this chunk (a row carried over starts at 0).
        let mut row_start = 0;
        while i < chunk.len() {
            if matches!(out.last(), Some(Err(_))) {
                // A row that did not decode ends the input, as a syntax error does.
                self.state = State::Done;
                return out;
            }
            let b = chunk[i];
            let at = self.offset + i as u64;
            match self.state {
                State::Start => match b {
                    b'[' => self.state = State::BeforeRow { first: true },
                    b if is_json_whitespace(b) => {}
                    // A UTF-8 byte order mark is tolerated.
                    0xEF | 0xBB | 0xBF if at < 3 => {}
                    _ => {
                        out.push(Err(self.syntax(at, "expected a JSON array of rows")));
                        self.state = State::Done;
                        return out;
                    }
                },
                State::BeforeRow { first } => match b {
                    b if is_json_whitespace(b) => {}
                    b']' if first => self.state = State::Done,
                    b']' | b',' => {
                        out.push(Err(self.syntax(at, "expected a row")));
                        self.state = State::Done;
                        return out;
                    }
                    _ => {
                        // The fast path: decode the row straight from the chunk, serde_json finding
                        // its end. A row it cannot finish here (cut by the chunk's end, or not valid)
                        // goes to the byte scanner below, which carries it over or explains it.
                        if let Some((row, len)) = decode_in_place::<T>(&chunk[i..]) {
                            out.push(Ok(row));
                            self.rows += 1;
                            self.state = State::AfterRow;
                            i += len;
                            continue;
                        }
                        self.state = State::InRow;
                        self.depth = 0;
                        self.in_string = false;
                        self.escaped = false;
                        self.scalar = !matches!(b, b'{' | b'[' | b'"');
                        row_start = i;
                        continue; // the byte belongs to the row
                    }
                },
                State::InRow => {
                    if self.scalar {
                        if b == b',' || b == b']' || is_json_whitespace(b) {
                            self.finish_row(&chunk[row_start..i], &mut out);
                            continue; // the AfterRow state consumes the delimiter
                        }
                    } else if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if b == b'\\' {
                            self.escaped = true;
                        } else if b == b'"' {
                            self.in_string = false;
                            if self.depth == 0 {
                                self.finish_row(&chunk[row_start..=i], &mut out);
                            }
                        } else {
                            // Skip the rest of the string's plain bytes at once.
                            let rest = &chunk[i + 1..];
                            let skip = rest
                                .iter()
                                .position(|&c| c == b'"' || c == b'\\')
                                .unwrap_or(rest.len());
                            i += skip;
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth = self.depth.saturating_sub(1);
                                if self.depth == 0 {
                                    self.finish_row(&chunk[row_start..=i], &mut out);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                State::AfterRow => match b {
                    b if is_json_whitespace(b) => {}
                    b',' => self.state = State::BeforeRow { first: false },
                    b']' => self.state = State::Done,
                    _ => {
                        out.push(Err(self.syntax(at, "expected `,` or `]` after a row")));
                        self.state = State::Done;
                        return out;
                    }
                },
                State::Done => {
                    if !is_json_whitespace(b) {
                        out.push(Err(self.syntax(at, "unexpected data after the array")));
                        return out;
                    }
                }
            }
            i += 1;
        }
        if matches!(out.last(), Some(Err(_))) {
            self.state = State::Done;
        } else if self.state == State::InRow {
            // The row goes on in the next chunk: keep its start.
            self.row.extend_from_slice(&chunk[row_start..]);
        }
        self.offset += chunk.len() as u64;
        out
    }

    /// Ends the input: an array that was never closed is an error (the body was cut short). An
    /// empty (or all-whitespace) body is no rows.
    pub fn finish(&mut self) -> Option<Result<T>> {
        match self.state {
            State::Done | State::Start => None,
            _ => {
                self.state = State::Done;
                Some(Err(self.syntax(
                    self.offset,
                    "the body ended before the array was closed (the result was cut short)",
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decode_in_chunks(body: &[u8], chunk: usize) -> Result<Vec<Value>> {
        let mut d = JsonRowDecoder::<Value>::new(None);
        let mut rows = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            for r in d.push(c) {
                rows.push(r?);
            }
        }
        if let Some(r) = d.finish() {
            rows.push(r?);
        }
        Ok(rows)
    }

    #[test]
    fn rows_split_anywhere_decode_the_same() {
        let body =
            br#" [ {"a":1,"s":"x,]}\"{["}, {"a":[1,{"b":2}]} ,{} , 3, 12345,-1.5e3,"str", null, true, [1,2] ] "#;
        let whole: Vec<Value> = serde_json::from_slice(body).unwrap();
        for chunk in 1..body.len() {
            assert_eq!(
                decode_in_chunks(body, chunk).unwrap(),
                whole,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn empty_bodies_and_arrays_are_no_rows() {
        assert!(decode_in_chunks(b"", 4).unwrap().is_empty());
        assert!(decode_in_chunks(b"[]", 1).unwrap().is_empty());
        assert!(decode_in_chunks(b" [ \n ] \n", 2).unwrap().is_empty());
    }

    #[test]
    fn a_cut_short_body_is_an_error_not_fewer_rows() {
        for cut in [
            br#"[{"a":1},{"a":"#.as_slice(),
            br#"[{"a":1}"#,
            br#"[{"a":1},"#,
            b"[1, 2",
            b"[",
        ] {
            assert!(
                decode_in_chunks(cut, 3).is_err(),
                "{:?}",
                String::from_utf8_lossy(cut)
            );
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            b"{}".as_slice(),
            b"<html>",
            b"[1 2]",
            b"[,1]",
            b"[1,]",
            b"[1] x",
        ] {
            assert!(
                decode_in_chunks(bad, 2).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_row_that_does_not_fit_names_its_index_and_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Row {
            a: i64,
        }
        let mut d = JsonRowDecoder::<Row>::new(None);
        let out = d.push(br#"[{"a":1},{"a":"x"}]"#);
        assert!(out[0].is_ok());
        match &out[1] {
            Err(Error::Decode(e)) => assert_eq!(e.path(), "[1].a"),
            other => panic!("{other:?}"),
        }
    }
}
