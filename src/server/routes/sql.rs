//! `POST /v1/sql/{namespace}`: authenticate, parse, submit (see `jobs.rs`), answer.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::with_task_id;
use crate::model::SqlParameters;
use crate::server::emulator::{TIMING_HEADER, Timing};
use crate::server::engine::{Output, QueryError};
use crate::server::error::{ApiFailure, ErrorCode, shorten};
use crate::server::faults::TaskFault;
use crate::server::jobs::{self, Submitted};
use crate::server::state::AppState;

/// `POST /v1/sql/{namespace}`.
pub(super) async fn run_sql(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    namespace: Result<Path<String>, PathRejection>,
    fault: Option<Extension<TaskFault>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let namespace = namespace.map(|Path(n)| n).unwrap_or_default();
    if !user.can_use(&namespace) {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::NamespaceForbidden,
            format!(
                "user {} may not run tasks in namespace {}",
                user.name,
                shorten(&namespace, 64)
            ),
        ));
    }
    let params = parse_body(body, app.limits.max_body_bytes)?;
    let timing = timing(&headers)?.unwrap_or(app.emulator.timing);
    let (id, encoder, outcome, download) =
        match jobs::submit(&app, &user, namespace, params, timing, fault.map(|f| f.0)).await? {
            Submitted::Detached { id } => {
                return Ok(with_task_id(StatusCode::NO_CONTENT.into_response(), &id));
            }
            Submitted::Finished {
                id,
                encoder,
                outcome,
                download,
            } => (id, encoder, outcome, download),
        };
    match outcome {
        // Held to its end, and the rows were not wanted with the answer.
        Ok(_) if !download => Ok(with_task_id(StatusCode::NO_CONTENT.into_response(), &id)),
        Ok(Output::Rows(bytes)) => {
            let content_type = [(header::CONTENT_TYPE, encoder.content_type())];
            let response = (StatusCode::OK, content_type, Body::from(bytes)).into_response();
            Ok(with_task_id(response, &id))
        }
        Ok(Output::NoColumns) => Ok(with_task_id(StatusCode::NO_CONTENT.into_response(), &id)),
        Err(error) => {
            let status = match error {
                QueryError::Stopped | QueryError::Setup(_) | QueryError::Encode(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::BAD_REQUEST,
            };
            Err(ApiFailure::new(status, error.code(), error.message()).with_task_id(&id))
        }
    }
}

/// The [`TIMING_HEADER`] of a submission, if it has one; a 400 naming it when it is unreadable.
fn timing(headers: &HeaderMap) -> Result<Option<Timing>, ApiFailure> {
    let Some(value) = headers.get(TIMING_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .map_err(|_| "is not text".to_owned())
        .and_then(str::parse)
        .map(Some)
        .map_err(|e| ApiFailure::invalid(format!("header {TIMING_HEADER} {e}")))
}

/// The body as `SQLParameters`, or a 413/400 saying what was wrong with it.
fn parse_body(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<SqlParameters, ApiFailure> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiFailure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BodyTooLarge,
                format!("request body exceeds the limit of {limit} bytes"),
            )
        } else {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedBody,
                rejection.body_text(),
            )
        }
    })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let mut value: serde_json::Value = serde::Deserialize::deserialize(&mut de).map_err(|e| {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedBody,
            format!("invalid SQLParameters body: {e}"),
        )
    })?;
    de.end().map_err(|e| {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedBody,
            format!("invalid SQLParameters body: {e}"),
        )
    })?;
    empty_format_is_absent(&mut value);
    let params: SqlParameters = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." {
            format!("invalid SQLParameters body: {inner}")
        } else {
            format!("invalid SQLParameters body: {path}: {inner}")
        };
        ApiFailure::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedBody, message)
    })?;
    Ok(params)
}

/// The official Python client sends its `ResultFormat` model object as `"result_format": {}`;
/// like `null`, that reads as "no format asked for" (the default).
fn empty_format_is_absent(body: &mut serde_json::Value) {
    if let Some(fields) = body.as_object_mut()
        && fields
            .get("result_format")
            .is_some_and(|f| f.is_null() || f.as_object().is_some_and(|o| o.is_empty()))
    {
        fields.remove("result_format");
    }
}
