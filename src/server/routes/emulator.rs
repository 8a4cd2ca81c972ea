//! The admin surface under `/_emulator/`: health and readiness for anyone (they reveal nothing);
//! the journal, the fault rules and reset for the admin key only, never a user's credentials.
//!
//! | Route | Answers |
//! | --- | --- |
//! | `GET /_emulator/health` | 200 `{"status": "ok"}` while the process serves |
//! | `GET /_emulator/ready` | 200 `{"ready": true}`, or 503 `{"ready": false}` once shutting down |
//! | `GET /_emulator/journal` | 200, the journal's entries (oldest first) |
//! | `GET /_emulator/faults` | 200, the fault rules in force |
//! | `PUT /_emulator/faults` | 200, the rules now in force; 400 naming a bad rule (the old ones stay) |
//! | `POST /_emulator/reset` | 200 `{"tasks_removed": N, "tasks_seeded": M}` |
//!
//! The admin key goes in `X-TILEDB-REST-API-KEY`. Without one: 401. A user's key or Basic
//! credentials: 403 (code 1027). A server started without an admin key: 403 on every admin route.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use super::json_response;
use crate::model::API_KEY_HEADER;
use crate::server::auth::constant_time_eq;
use crate::server::emulator::Emulator;
use crate::server::error::{ApiFailure, ErrorCode};
use crate::server::faults::{FaultRule, check_rules};
use crate::server::state::AppState;

/// The admin routes, merged into the router.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/ready", get(ready))
        .route("/_emulator/journal", get(journal))
        .route("/_emulator/faults", get(faults).put(set_faults))
        .route("/_emulator/reset", post(reset))
}

async fn health() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}).to_string())
}

async fn ready(State(app): State<Arc<AppState>>) -> Response {
    if app.accepting.load(Ordering::SeqCst) {
        json_response(StatusCode::OK, json!({"ready": true}).to_string())
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ready": false}).to_string(),
        )
    }
}

/// The admin key, or the refusal: 401 without a key or with an unknown one, 403 for a user's
/// credentials or when the surface is off. Nothing here says how close a wrong key was.
fn admin(app: &AppState, headers: &HeaderMap) -> Result<(), ApiFailure> {
    let refused = |message: &str| {
        ApiFailure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::NotAdmin,
            message.to_owned(),
        )
    };
    let Some(admin_key) = &app.emulator.admin_key else {
        return Err(refused(
            "the admin surface is off: start the server with an admin key (--admin-key)",
        ));
    };
    if let Some(key) = headers.get(API_KEY_HEADER)
        && constant_time_eq(admin_key.as_bytes(), key.as_bytes())
    {
        return Ok(());
    }
    if app.users.authenticate(headers).is_ok() {
        return Err(refused(
            "these are a user's credentials; the admin surface takes only the admin key",
        ));
    }
    Err(ApiFailure::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthenticated,
        format!("send the admin key in {API_KEY_HEADER}"),
    ))
}

fn json_of(value: &impl serde::Serialize) -> Result<Response, ApiFailure> {
    let body = serde_json::to_vec(value)
        .map_err(|e| ApiFailure::internal(format!("could not encode the answer: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}

async fn journal(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    admin(&app, &headers)?;
    json_of(&app.emulator.journal.entries())
}

async fn faults(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    admin(&app, &headers)?;
    json_of(&app.emulator.faults.rules())
}

async fn set_faults(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiFailure> {
    admin(&app, &headers)?;
    let rules: Vec<FaultRule> = serde_json::from_slice(&body).map_err(|e| {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedBody,
            format!("the body is not a JSON array of fault rules: {e}"),
        )
    })?;
    check_rules(&rules).map_err(ApiFailure::invalid)?;
    app.emulator.faults.set(rules);
    json_of(&app.emulator.faults.rules())
}

async fn reset(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    admin(&app, &headers)?;
    let (removed, seeded) = Emulator::reset(&app).await.map_err(ApiFailure::internal)?;
    json_of(&json!({"tasks_removed": removed, "tasks_seeded": seeded}))
}
