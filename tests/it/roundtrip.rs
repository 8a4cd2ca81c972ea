//! Round trips through the local server with the SDK: every SQLite storage class, NULLs, empty
//! results and Unicode, as JSON (always) and as Arrow IPC streams (feature `arrow`).

use crate::support::prelude::{LocalServer, ResultFormat, ServerConfig, SqlParameters};

/// A TEMP table (per task: every task gets a fresh connection) holding every storage class, with
/// a row of NULLs last.
const FIXTURE: &str = "\
    CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB);\
    INSERT INTO t VALUES (1, -9223372036854775808, -1.5, 'héllo wörld', x'00FF');\
    INSERT INTO t VALUES (2, 9223372036854775807, 0.125, '😀 emoji 中文 日本語', x'');\
    INSERT INTO t VALUES (3, 0, -27500000000.25, '', x'DEADBEEF');\
    INSERT INTO t VALUES (4, NULL, NULL, NULL, NULL);";

/// Integers declared INTEGER, with a TEXT value SQLite could not convert.
const MIXED: &str = "\
    CREATE TEMP TABLE m (id INTEGER PRIMARY KEY, n INTEGER);\
    INSERT INTO m VALUES (1, 42), (2, 'not a number'), (3, NULL);";

const EMOJI_CJK: &str = "😀 emoji 中文 日本語";

async fn start() -> LocalServer {
    LocalServer::start(ServerConfig::new())
        .await
        .expect("server starts")
}

fn query(sql: &str, format: ResultFormat) -> SqlParameters {
    SqlParameters::query(sql).result_format(format)
}

mod json {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Row {
        id: i64,
        i: Option<i64>,
        r: Option<f64>,
        s: Option<String>,
        /// BLOBs are base64 strings in JSON.
        b: Option<String>,
    }

    #[tokio::test]
    async fn every_storage_class_round_trips_into_typed_rows() {
        let server = start().await;
        let client = server.client().unwrap();
        let result = client
            .run_sql(
                server.namespace(),
                query("SELECT * FROM t ORDER BY id", ResultFormat::Json).init_command(FIXTURE),
            )
            .await
            .unwrap();
        let rows: Vec<Row> = result.rows().unwrap();
        assert_eq!(
            rows,
            vec![
                Row {
                    id: 1,
                    i: Some(i64::MIN),
                    r: Some(-1.5),
                    s: Some("héllo wörld".into()),
                    b: Some("AP8=".into()),
                },
                Row {
                    id: 2,
                    i: Some(i64::MAX),
                    r: Some(0.125),
                    s: Some(EMOJI_CJK.into()),
                    b: Some(String::new()),
                },
                Row {
                    id: 3,
                    i: Some(0),
                    r: Some(-27_500_000_000.25),
                    s: Some(String::new()),
                    b: Some("3q2+7w==".into()),
                },
                Row {
                    id: 4,
                    i: None,
                    r: None,
                    s: None,
                    b: None,
                },
            ]
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn json_value_keeps_column_order_nulls_and_unicode() {
        let server = start().await;
        let client = server.client().unwrap();
        let result = client
            .run_sql(
                server.namespace(),
                query(
                    "SELECT s AS text, id, NULL AS absent FROM t WHERE id IN (2, 4) ORDER BY id",
                    ResultFormat::Json,
                )
                .init_command(FIXTURE),
            )
            .inline()
            .await
            .unwrap();
        let value = result.json().unwrap();
        assert_eq!(
            value,
            json!([
                {"text": EMOJI_CJK, "id": 2, "absent": null},
                {"text": null, "id": 4, "absent": null},
            ])
        );
        // serde_json's map may sort its keys: the column order is checked on the raw body.
        let body = std::str::from_utf8(result.bytes()).unwrap();
        assert!(body.starts_with(r#"[{"text":"#), "{body}");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn zero_rows_are_an_empty_array() {
        let server = start().await;
        let client = server.client().unwrap();
        let result = client
            .run_sql(
                server.namespace(),
                query("SELECT * FROM t WHERE id < 0", ResultFormat::Json).init_command(FIXTURE),
            )
            .await
            .unwrap();
        assert_eq!(result.json().unwrap(), json!([]));
        assert_eq!(result.rows::<Row>().unwrap(), vec![]);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn text_in_an_integer_column_stays_text() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Mixed {
            id: i64,
            n: serde_json::Value,
        }
        let server = start().await;
        let client = server.client().unwrap();
        let result = client
            .run_sql(
                server.namespace(),
                query("SELECT id, n FROM m ORDER BY id", ResultFormat::Json).init_command(MIXED),
            )
            .await
            .unwrap();
        assert_eq!(
            result.rows::<Mixed>().unwrap(),
            vec![
                Mixed {
                    id: 1,
                    n: json!(42)
                },
                Mixed {
                    id: 2,
                    n: json!("not a number")
                },
                Mixed {
                    id: 3,
                    n: json!(null)
                },
            ]
        );
        server.shutdown().await;
    }
}

#[cfg(feature = "arrow")]
mod arrow {
    use super::*;
    use crate::support::cases;
    use crate::support::prelude::arrow_array::cast::AsArray as _;
    use crate::support::prelude::arrow_array::types::{Float64Type, Int64Type};
    use crate::support::prelude::arrow_array::{Array, RecordBatch};
    use crate::support::prelude::arrow_schema::{DataType, Schema};
    use crate::support::prelude::{Error, TaskHandle};
    use futures::TryStreamExt as _;

    fn types(batch_schema: &Schema) -> Vec<(String, DataType)> {
        batch_schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    }

    fn declared() -> Vec<(String, DataType)> {
        vec![
            ("id".into(), DataType::Int64),
            ("i".into(), DataType::Int64),
            ("r".into(), DataType::Float64),
            ("s".into(), DataType::Utf8),
            ("b".into(), DataType::Binary),
        ]
    }

    /// Checks the fixture's four rows, in one batch.
    fn check_fixture(batches: &[RecordBatch]) {
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(types(&batch.schema()), declared());
        assert!(batch.schema().fields().iter().all(|f| f.is_nullable()));
        assert_eq!(batch.num_rows(), 4);

        let id = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(id.values().to_vec(), vec![1, 2, 3, 4]);

        let i = batch.column(1).as_primitive::<Int64Type>();
        assert_eq!(
            i.iter().collect::<Vec<_>>(),
            vec![Some(i64::MIN), Some(i64::MAX), Some(0), None]
        );

        let r = batch.column(2).as_primitive::<Float64Type>();
        assert_eq!(
            r.iter().collect::<Vec<_>>(),
            vec![Some(-1.5), Some(0.125), Some(-27_500_000_000.25), None]
        );

        let s = batch.column(3).as_string::<i32>();
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![Some("héllo wörld"), Some(EMOJI_CJK), Some(""), None]
        );

        let b = batch.column(4).as_binary::<i32>();
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            vec![
                Some(&[0x00, 0xFF][..]),
                Some(&[][..]),
                Some(&[0xDE, 0xAD, 0xBE, 0xEF][..]),
                None
            ]
        );
        // The row of NULLs is NULL in every column type.
        for column in batch.columns().iter().skip(1) {
            assert!(column.is_null(3), "{:?}", column.data_type());
            assert_eq!(column.null_count(), 1);
        }
    }

    /// The fixture as Arrow, its handle shaped by `mode` (stored, or inline): an Arrow stream
    /// with the declared column types and every value.
    async fn arrow_fixture_round_trips(mode: fn(TaskHandle) -> TaskHandle, content_type: &str) {
        let server = start().await;
        let client = server.client().unwrap();
        let handle = client.run_sql(
            server.namespace(),
            query("SELECT * FROM t ORDER BY id", ResultFormat::Arrow).init_command(FIXTURE),
        );
        let result = mode(handle).await.unwrap();
        assert_eq!(result.content_type(), Some(content_type));
        check_fixture(&result.record_batches().unwrap());
        server.shutdown().await;
    }

    cases! {
        async arrow_fixture_round_trips;
        stored_result_has_declared_column_types_and_every_value:
            std::convert::identity => "application/vnd.apache.arrow.stream",
        inline_answer_has_declared_column_types_and_every_value:
            TaskHandle::inline => "application/vnd.apache.arrow.stream",
    }

    #[tokio::test]
    async fn streamed_record_batches_match_the_whole_result() {
        let server = start().await;
        let client = server.client().unwrap();
        let params =
            || query("SELECT * FROM t ORDER BY id", ResultFormat::Arrow).init_command(FIXTURE);
        let streamed: Vec<RecordBatch> = client
            .run_sql(server.namespace(), params())
            .result_stream()
            .await
            .unwrap()
            .record_batches()
            .try_collect()
            .await
            .unwrap();
        check_fixture(&streamed);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn large_results_arrive_in_batches_of_8192_rows() {
        let server = start().await;
        let client = server.client().unwrap();
        let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
                   SELECT x, x * 0.5 AS half, 'row ' || x AS label FROM c";
        let batches: Vec<RecordBatch> = client
            .run_sql(server.namespace(), query(sql, ResultFormat::Arrow))
            .result_stream()
            .await
            .unwrap()
            .record_batches()
            .try_collect()
            .await
            .unwrap();
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, vec![8192, 8192, 3616]);
        assert_eq!(
            types(&batches[0].schema()),
            vec![
                ("x".into(), DataType::Int64),
                ("half".into(), DataType::Float64),
                ("label".into(), DataType::Utf8),
            ]
        );
        let last = &batches[2];
        assert_eq!(
            last.column(0).as_primitive::<Int64Type>().value(3615),
            20000
        );
        assert_eq!(
            last.column(1).as_primitive::<Float64Type>().value(3615),
            10000.0
        );
        assert_eq!(last.column(2).as_string::<i32>().value(3615), "row 20000");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn zero_rows_still_have_a_typed_schema() {
        let server = start().await;
        let client = server.client().unwrap();
        let params =
            || query("SELECT * FROM t WHERE id < 0", ResultFormat::Arrow).init_command(FIXTURE);

        let result = client.run_sql(server.namespace(), params()).await.unwrap();
        let (schema, batches) = result.arrow().unwrap();
        assert_eq!(types(&schema), declared());
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);

        let streamed: Vec<RecordBatch> = client
            .run_sql(server.namespace(), params())
            .result_stream()
            .await
            .unwrap()
            .record_batches()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(streamed.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn expression_columns_take_their_type_from_their_values() {
        let server = start().await;
        let client = server.client().unwrap();
        let sql = "SELECT 1 AS int_only, 1 AS int_real, 1 AS int_text, 'a' AS text_blob, \
                          NULL AS all_null \
                   UNION ALL SELECT 2, 2.5, 'x', x'01', NULL";
        let result = client
            .run_sql(server.namespace(), query(sql, ResultFormat::Arrow))
            .inline()
            .await
            .unwrap();
        let (schema, batches) = result.arrow().unwrap();
        assert_eq!(
            types(&schema),
            vec![
                ("int_only".into(), DataType::Int64),
                ("int_real".into(), DataType::Float64),
                ("int_text".into(), DataType::Utf8),
                ("text_blob".into(), DataType::Binary),
                ("all_null".into(), DataType::Null),
            ]
        );
        let batch = &batches[0];
        assert_eq!(
            batch
                .column(1)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec(),
            vec![1.0, 2.5]
        );
        // Numbers in a text column read as SQLite's CAST(x AS TEXT); text in a binary column
        // as its UTF-8 bytes.
        assert_eq!(
            batch
                .column(2)
                .as_string::<i32>()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some("1"), Some("x")]
        );
        assert_eq!(
            batch
                .column(3)
                .as_binary::<i32>()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some(&b"a"[..]), Some(&[1u8][..])]
        );
        assert_eq!(batch.column(4).len(), 2);
        assert_eq!(batch.column(4).logical_null_count(), 2);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn text_in_an_integer_column_turns_the_column_into_utf8() {
        let server = start().await;
        let client = server.client().unwrap();
        let result = client
            .run_sql(
                server.namespace(),
                query("SELECT id, n FROM m ORDER BY id", ResultFormat::Arrow).init_command(MIXED),
            )
            .await
            .unwrap();
        let (schema, batches) = result.arrow().unwrap();
        assert_eq!(
            types(&schema),
            vec![("id".into(), DataType::Int64), ("n".into(), DataType::Utf8)]
        );
        assert_eq!(
            batches[0]
                .column(1)
                .as_string::<i32>()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some("42"), Some("not a number"), None]
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_statement_without_columns_stores_a_stream_with_no_columns() {
        let server = start().await;
        let client = server.client().unwrap();
        let result = client
            .run_sql(
                server.namespace(),
                query("CREATE TEMP TABLE scratch (x)", ResultFormat::Arrow),
            )
            .await
            .unwrap();
        let (schema, batches) = result.arrow().unwrap();
        assert!(schema.fields().is_empty());
        assert!(batches.is_empty());
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_result_over_the_byte_limit_fails_the_task() {
        let server = LocalServer::start(ServerConfig::new().max_result_bytes(4096))
            .await
            .unwrap();
        let client = server.client().unwrap();
        let err = client
            .run_sql(
                server.namespace(),
                query(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) \
                     SELECT x, zeroblob(100) AS pad FROM c",
                    ResultFormat::Arrow,
                ),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TaskFailed { .. }), "{err:?}");
        assert!(
            err.to_string().contains("result exceeds 4096 bytes"),
            "{err}"
        );
        server.shutdown().await;
    }
}
