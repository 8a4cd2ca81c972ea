//! Property tests for everything that reads untrusted input: the wire models from arbitrary JSON
//! trees and arbitrary bytes, the lenient number fields, the `Retry-After` parser, the
//! `Content-Type` → format parser, and the incremental JSON row decoder. No input may panic.
//!
//! Case counts are modest so the whole module runs in seconds in a debug build: every property runs
//! [`CASES`] cases (TESTING.md lists them).

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::support::prelude::{
    ArrayInfo, ArrayTask, ArrayTaskData, ArrayTaskStatus, ArrayTaskType, DomainArray, Error,
    ErrorBody, JsonRowDecoder, PaginationMetadata, ResultFormat, SqlParameters, parse_retry_after,
};

/// Cases per property.
const CASES: u32 = 256;

/// [`CASES`] cases; a failure prints its minimal input (integration tests have no `lib.rs` for
/// proptest to file regressions next to).
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(CASES)
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary JSON, biased towards the models' own keys and values
// ---------------------------------------------------------------------------------------------

/// Every key the models read, so that arbitrary trees reach their field deserializers.
const MODEL_KEYS: &[&str] = &[
    // ArrayTask
    "id",
    "name",
    "username",
    "description",
    "array_metadata",
    "subarray",
    "memory",
    "cpu",
    "namespace",
    "status",
    "status_message",
    "start_time",
    "finish_time",
    "cost",
    "egress_cost",
    "access_cost",
    "query_type",
    "udf_code",
    "udf_language",
    "sql_query",
    "type",
    "activity",
    "logs",
    "duration",
    "sql_init_commands",
    "sql_parameters",
    "result_format",
    "task_graph_uuid",
    "client_node_uuid",
    "cloud_provider",
    "cloud_region",
    // ArrayActivityLog
    "event_at",
    "action",
    "bytes_sent",
    "bytes_received",
    "array_task_id",
    "query_ranges",
    "query_stats",
    // ArrayTaskData, PaginationMetadata
    "array_tasks",
    "pagination_metadata",
    "page",
    "per_page",
    "total_pages",
    "total_items",
    // SqlParameters
    "query",
    "output_uri",
    "store_results",
    "dont_download_results",
    "resource_class",
    "init_commands",
    "parameters",
    // ErrorBody
    "code",
    "message",
    "request_id",
    // ArrayInfo, Pricing, Subscription, DomainArray, metadata
    "file_type",
    "file_properties",
    "uri",
    "size",
    "last_accessed",
    "allowed_actions",
    "pricing",
    "subscriptions",
    "logo",
    "access_credentials_name",
    "share_count",
    "public_share",
    "namespace_subscribed",
    "tiledb_uri",
    "tags",
    "license_id",
    "license_text",
    "read_only",
    "is_favorite",
    "pricing_type",
    "currency",
    "interval",
    "divided_by",
    "charge",
    "activated",
    "aggregate_usage",
    "product_name",
    "array_uuid",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
    "key",
    "value",
    "metadata",
];

/// Strings the models give meaning to: times, enum values (known and not), URIs.
const MODEL_STRINGS: &[&str] = &[
    "2024-01-02T03:04:05Z",
    "2024-01-02T03:04:05.123456789+02:00",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "yesterday",
    "COMPLETED",
    "FAILED",
    "RUNNING",
    "SOMETHING_NEW",
    "json",
    "arrow",
    "SQL",
    "READ",
    "dense",
    "",
    "tiledb://ns/array",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON numbers are finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        prop::sample::select(vec![0.5, 14.0, -1.0, -0.0, 1e300, 3.4e38, 1.8e19])
            .prop_map(Value::from),
        "(?s).{0,10}".prop_map(Value::String),
        prop::sample::select(MODEL_STRINGS).prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(MODEL_KEYS).prop_map(str::to_owned),
        1 => "(?s).{0,6}",
    ]
}

fn object_of(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), values), 0..10)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// Any JSON tree (depth ≤ 4), its object keys mostly the models' own.
fn json_tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            object_of(inner),
        ]
    })
}

/// A document a route might send: mostly an object of model keys, sometimes anything.
fn document() -> impl Strategy<Value = Value> {
    prop_oneof![3 => object_of(json_tree()), 1 => json_tree()]
}

/// Decoding never panics; whatever decodes serializes back to a document that decodes to the same
/// value (nothing the model accepts is lost or changed by a round trip).
fn decodes_without_panic_and_round_trips<T>(v: &Value) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let bytes = serde_json::to_vec(v).expect("a Value serializes");
    let from_bytes = serde_json::from_slice::<T>(&bytes);
    let from_value = serde_json::from_value::<T>(v.clone());
    prop_assert_eq!(
        from_bytes.is_ok(),
        from_value.is_ok(),
        "bytes and value disagree"
    );
    if let Ok(t) = from_value {
        let again = serde_json::to_value(&t).expect("a model serializes");
        let back = serde_json::from_value::<T>(again.clone());
        prop_assert!(
            back.is_ok(),
            "{t:?} serialized to {again} which does not decode"
        );
        prop_assert_eq!(back.unwrap(), t);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn models_decode_arbitrary_json_trees_without_panic_and_round_trip(v in document()) {
        decodes_without_panic_and_round_trips::<ArrayTask>(&v)?;
        decodes_without_panic_and_round_trips::<ArrayTaskData>(&v)?;
        decodes_without_panic_and_round_trips::<SqlParameters>(&v)?;
        decodes_without_panic_and_round_trips::<ErrorBody>(&v)?;
        decodes_without_panic_and_round_trips::<PaginationMetadata>(&v)?;
        decodes_without_panic_and_round_trips::<ArrayInfo>(&v)?;
        decodes_without_panic_and_round_trips::<DomainArray>(&v)?;
    }

    #[test]
    fn a_page_of_arbitrary_task_objects_decodes_without_panic_and_round_trips(
        tasks in prop::collection::vec(object_of(json_tree()), 0..5),
        meta in object_of(leaf()),
    ) {
        let page = json!({"array_tasks": tasks, "pagination_metadata": meta});
        decodes_without_panic_and_round_trips::<ArrayTaskData>(&page)?;
    }

    #[test]
    fn models_decode_arbitrary_bytes_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<ArrayTask>(&bytes);
        let _ = serde_json::from_slice::<ArrayTaskData>(&bytes);
        let _ = serde_json::from_slice::<SqlParameters>(&bytes);
        let _ = serde_json::from_slice::<ErrorBody>(&bytes);
    }

    #[test]
    fn models_decode_damaged_documents_without_panic(
        v in document(),
        damage in prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = serde_json::to_vec(&v).unwrap();
        for (at, byte, how) in damage {
            let i = at.index(bytes.len() + 1);
            match how {
                0 => bytes.truncate(i),
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => bytes[i] = byte,
                _ => {}
            }
        }
        let _ = serde_json::from_slice::<ArrayTask>(&bytes);
        let _ = serde_json::from_slice::<ArrayTaskData>(&bytes);
        let _ = serde_json::from_slice::<SqlParameters>(&bytes);
        let _ = serde_json::from_slice::<ErrorBody>(&bytes);
    }

    #[test]
    fn lenient_counts_take_non_negative_integers_written_either_way_and_refuse_the_rest(
        n in prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
            (0u64..1_000_000).prop_map(|n| Value::from(n as f64)),
        ],
    ) {
        let decoded = serde_json::from_value::<PaginationMetadata>(json!({"total_pages": n.clone()}));
        let expected: Option<u64> = if let Some(u) = n.as_u64() {
            Some(u)
        } else if n.as_i64().is_some() {
            None // negative
        } else {
            let f = n.as_f64().unwrap();
            (f >= 0.0 && f <= u64::MAX as f64).then(|| f.round() as u64)
        };
        match (decoded, expected) {
            (Ok(m), Some(e)) => prop_assert_eq!(m.total_pages, Some(e)),
            (Err(_), None) => {}
            (got, want) => prop_assert!(false, "{n}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn float32_bounds_are_the_nearest_f32_or_refused_never_an_infinity(
        v in any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()),
    ) {
        let decoded = serde_json::from_value::<DomainArray>(json!({"float32": [v]}));
        let nearest = v as f32;
        if nearest.is_finite() {
            let d = decoded.expect("in range");
            prop_assert_eq!(&d.float32, &vec![nearest]);
            let back: DomainArray = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
            prop_assert_eq!(back, d);
        } else {
            prop_assert!(decoded.is_err(), "{v} became {decoded:?}");
        }
    }

    #[test]
    fn unknown_enum_values_are_kept_verbatim(s in "(?s).{0,20}") {
        let status: ArrayTaskStatus = serde_json::from_value(json!(s)).unwrap();
        prop_assert_eq!(status.as_str(), s.as_str());
        prop_assert_eq!(serde_json::to_value(&status).unwrap(), json!(s));
        let format: ResultFormat = serde_json::from_value(json!(s)).unwrap();
        prop_assert_eq!(format.as_str(), s.as_str());
        let kind: ArrayTaskType = serde_json::from_value(json!(s)).unwrap();
        prop_assert_eq!(kind.to_string(), s);
    }
}

// ---------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------

fn now_at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A time between 1971 and 9000 (httpdate writes four-digit years), in whole seconds.
fn whole_second_time() -> impl Strategy<Value = u64> {
    31_536_000u64..221_845_392_000
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn retry_after_never_panics(s in "(?s).{0,40}", bytes in prop::collection::vec(any::<u8>(), 0..40), t in whole_second_time()) {
        let _ = parse_retry_after(&s, now_at(t));
        let _ = parse_retry_after(&String::from_utf8_lossy(&bytes), now_at(t));
        let _ = parse_retry_after(&s, UNIX_EPOCH);
    }

    #[test]
    fn retry_after_delay_seconds_are_read_exactly(
        secs in any::<u64>(),
        pad in ("[ \t]{0,3}", "[ \t]{0,3}"),
        t in whole_second_time(),
    ) {
        let v = format!("{}{secs}{}", pad.0, pad.1);
        prop_assert_eq!(parse_retry_after(&v, now_at(t)), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn retry_after_digit_strings_of_any_length_saturate(digits in "[0-9]{1,60}") {
        let expected = digits.parse::<u64>().unwrap_or(u64::MAX);
        prop_assert_eq!(parse_retry_after(&digits, UNIX_EPOCH), Some(Duration::from_secs(expected)));
    }

    #[test]
    fn retry_after_http_dates_give_the_time_until_them_and_zero_when_past(
        t in whole_second_time(),
        offset in -10_000_000i64..10_000_000,
    ) {
        let now = now_at(t);
        let when = if offset >= 0 {
            now + Duration::from_secs(offset as u64)
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        };
        let header = httpdate::fmt_http_date(when);
        prop_assert_eq!(
            parse_retry_after(&header, now),
            Some(Duration::from_secs(offset.max(0) as u64)),
            "{}", header
        );
    }

    #[test]
    fn retry_after_signed_fractional_or_wordy_values_are_refused(
        n in any::<u32>(),
        form in 0usize..5,
    ) {
        let v = match form {
            0 => format!("-{n}"),
            1 => format!("+{n}"),
            2 => format!("{n}.5"),
            3 => format!("{n}s"),
            _ => format!("in {n} seconds"),
        };
        prop_assert_eq!(parse_retry_after(&v, UNIX_EPOCH), None, "{}", v);
    }
}

// ---------------------------------------------------------------------------------------------
// Content-Type → format
// ---------------------------------------------------------------------------------------------

/// What the parser should do, said plainly: the part before the first `;`, trimmed and lower-cased,
/// names the format whose content type it is.
fn expected_format(content_type: &str) -> Option<ResultFormat> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ResultFormat::KNOWN
        .iter()
        .find(|f| f.content_type() == Some(essence.as_str()))
        .cloned()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn content_type_parser_never_panics_and_reads_only_the_essence(s in "(?s).{0,60}") {
        prop_assert_eq!(ResultFormat::from_content_type(&s), expected_format(&s));
    }

    #[test]
    fn known_content_types_are_read_whatever_the_case_spacing_and_parameters(
        format in prop::sample::select(ResultFormat::KNOWN.to_vec()),
        upper in prop::collection::vec(any::<bool>(), 64),
        pad in ("[ \t]{0,2}", "[ \t]{0,2}"),
        params in prop::collection::vec("[a-z]{1,8}=[A-Za-z0-9;\"-]{0,10}", 0..3),
    ) {
        let ct = format.content_type().unwrap();
        let cased: String = ct
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
            .collect();
        let mut header = format!("{}{cased}{}", pad.0, pad.1);
        for p in &params {
            header.push_str("; ");
            header.push_str(p);
        }
        prop_assert_eq!(ResultFormat::from_content_type(&header), Some(format), "{}", header);
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON row decoder
// ---------------------------------------------------------------------------------------------

/// What a decoder made of a body fed in chunks.
#[derive(Debug)]
struct Decoded {
    rows: Vec<Value>,
    error: Option<Error>,
    /// The most bytes it held between chunks.
    max_buffered: usize,
}

/// The chunk boundaries `cuts` pick in a body of `len` bytes, in order, 0 and `len` included.
fn boundaries(len: usize, cuts: &[Index]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    points.extend([0, len]);
    points.sort_unstable();
    points.dedup();
    points
}

/// Feeds `body` in the chunks `cuts` make, as `rows_stream` does: stop at the first error, and
/// `finish` at the end.
fn decode_chunked(body: &[u8], cuts: &[Index]) -> Decoded {
    let mut d = JsonRowDecoder::<Value>::new(None);
    let mut out = Decoded {
        rows: Vec::new(),
        error: None,
        max_buffered: 0,
    };
    for w in boundaries(body.len(), cuts).windows(2) {
        for r in d.push(&body[w[0]..w[1]]) {
            assert!(out.error.is_none(), "a row after an error");
            match r {
                Ok(v) => out.rows.push(v),
                Err(e) => out.error = Some(e),
            }
        }
        out.max_buffered = out.max_buffered.max(d.buffered());
        if out.error.is_some() {
            return out;
        }
    }
    match d.finish() {
        Some(Ok(v)) => out.rows.push(v),
        Some(Err(e)) => out.error = Some(e),
        None => {}
    }
    out
}

fn json_whitespace() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,3}"
}

/// A JSON array of `rows` with arbitrary whitespace between its tokens, its rows compact or
/// pretty-printed; and the length of its longest row, as written.
fn array_body() -> impl Strategy<Value = (Vec<Value>, Vec<u8>, usize)> {
    (
        prop::collection::vec(json_tree(), 0..12),
        prop::collection::vec(json_whitespace(), 40),
        any::<bool>(),
    )
        .prop_map(|(rows, ws, pretty)| {
            let mut ws = ws.into_iter().cycle();
            let mut body = String::new();
            let mut longest = 0;
            body.push_str(&ws.next().unwrap());
            body.push('[');
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    body.push_str(&ws.next().unwrap());
                    body.push(',');
                }
                body.push_str(&ws.next().unwrap());
                let text = if pretty {
                    serde_json::to_string_pretty(row).unwrap()
                } else {
                    serde_json::to_string(row).unwrap()
                };
                longest = longest.max(text.len());
                body.push_str(&text);
            }
            body.push_str(&ws.next().unwrap());
            body.push(']');
            body.push_str(&ws.next().unwrap());
            (rows, body.into_bytes(), longest)
        })
}

/// The bytes a mutation may bring in: JSON's own, and a form feed (whitespace to some, not to JSON).
const SOUP: &[u8] = b"[]{}\",:0123456789-+.eEtrufalsn\\/ \t\r\n\x0c";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rows_split_anywhere_decode_as_serde_json_decodes_the_whole_in_bounded_memory(
        (rows, body, longest) in array_body(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let whole: Vec<Value> = serde_json::from_slice(&body).expect("a valid array");
        prop_assert_eq!(whole.len(), rows.len());
        let decoded = decode_chunked(&body, &cuts);
        prop_assert!(decoded.error.is_none(), "{:?}", decoded.error);
        prop_assert_eq!(decoded.rows, whole);
        prop_assert!(
            decoded.max_buffered <= longest,
            "held {} bytes; the longest row is {}", decoded.max_buffered, longest
        );
    }

    #[test]
    fn a_valid_body_cut_anywhere_is_an_error_never_fewer_rows(
        rows in prop::collection::vec(json_tree(), 0..8),
        cut in any::<Index>(),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let body = serde_json::to_vec(&rows).unwrap();
        // (Compared with serde_json's reading of the same text: its float parsing is not an exact
        // round trip without the `float_roundtrip` feature.)
        let rows: Vec<Value> = serde_json::from_slice(&body).unwrap();
        // Anywhere from just after `[` to just before the closing `]`.
        let at = 1 + cut.index(body.len() - 1);
        let decoded = decode_chunked(&body[..at], &cuts);
        prop_assert!(
            decoded.error.is_some(),
            "{:?} cut at {} gave {} rows and no error",
            String::from_utf8_lossy(&body), at, decoded.rows.len()
        );
        prop_assert!(decoded.rows.len() <= rows.len());
        prop_assert_eq!(&decoded.rows[..], &rows[..decoded.rows.len()], "the rows before the cut are intact");
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_never_panic_and_fail_as_decode_errors(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let decoded = decode_chunked(&bytes, &cuts);
        if let Some(e) = &decoded.error {
            prop_assert!(matches!(e, Error::Decode(_)), "{e:?}");
            let _ = (e.to_string(), format!("{e:?}"));
        }
        // Fed on after an error (which the docs ask callers not to do), still no panic.
        let mut d = JsonRowDecoder::<Value>::new(None);
        for w in boundaries(bytes.len(), &cuts).windows(2) {
            let _ = d.push(&bytes[w[0]..w[1]]);
            prop_assert!(d.buffered() <= bytes.len());
        }
        let _ = d.finish();
        let _ = d.finish();
        let _ = d.push(b"]");
    }

    #[test]
    fn damaged_arrays_are_decoded_exactly_when_serde_json_accepts_them(
        (_, body, _) in array_body(),
        damage in prop::collection::vec((any::<Index>(), prop::sample::select(SOUP), 0u8..3), 1..4),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut body = body;
        for (at, byte, how) in damage {
            let i = at.index(body.len() + 1);
            match how {
                0 if i < body.len() => { body.remove(i); }
                1 => body.insert(i, byte),
                _ if i < body.len() => body[i] = byte,
                _ => {}
            }
        }
        let decoded = decode_chunked(&body, &cuts);
        // An empty body (or JSON whitespace alone) is no rows, by design.
        let oracle: Option<Vec<Value>> = if body.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
            Some(Vec::new())
        } else {
            serde_json::from_slice(&body).ok()
        };
        let text = String::from_utf8_lossy(&body);
        match (decoded.error, oracle) {
            (None, Some(whole)) => prop_assert_eq!(decoded.rows, whole, "{:?}", text),
            (Some(_), None) => {}
            (None, None) => prop_assert!(false, "the decoder accepted what serde_json refuses: {:?}", text),
            (Some(e), Some(_)) => prop_assert!(false, "the decoder refused what serde_json accepts: {:?}: {}", text, e),
        }
    }
}

/// The inputs these properties found, kept as plain tests so they run every time.
#[test]
fn inputs_the_properties_found_stay_fixed() {
    // A row that does not decode ends the input: nothing after it (was: `[1]` decoded after it).
    let mut d = JsonRowDecoder::<Value>::new(None);
    let out = d.push(b"[\x0e,1,2]");
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(matches!(out[0], Err(Error::Decode(_))));
    // Form feed is not JSON whitespace (was: accepted by the row stream, refused by serde_json).
    for body in [b"\x0c[1]".as_slice(), b"[1\x0c]", b"[1]\x0c", b"[\x0c1]"] {
        let decoded = decode_chunked(body, &[]);
        assert!(decoded.error.is_some(), "{body:?}: {decoded:?}");
        assert!(serde_json::from_slice::<Vec<Value>>(body).is_err());
    }
    // A float32 bound beyond f32's range (was: silently +inf, which serializes as null).
    assert!(serde_json::from_value::<DomainArray>(json!({"float32": [1e300]})).is_err());
    assert!(serde_json::from_value::<DomainArray>(json!({"float32": [-1e39]})).is_err());
}
