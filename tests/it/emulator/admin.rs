//! The admin surface under `/_emulator/`: health and readiness for anyone; the journal, fault
//! rules and reset for the admin key only, never a user's key or password.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::local::{Harness, error_body};
use crate::support::prelude::{API_KEY_HEADER, LocalServer, ServerConfig, Timing};

const ADMIN: &str = "admin-key-7f3a";

async fn harness() -> Harness {
    Harness::start(
        ServerConfig::new()
            .api_key("local-key")
            .user("bob", "bob-key", Some("bob-pw"), &["bobns"])
            .admin_key(ADMIN)
            .timing(Timing::Holding),
    )
    .await
}

/// `method path` with credentials set by `auth`.
async fn call(
    h: &Harness,
    method: Method,
    path: &str,
    auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = h.http.request(method, h.url(path));
    if let Some(body) = body {
        req = req.json(&body);
    }
    auth(req).send().await.expect("request sent")
}

#[tokio::test]
async fn the_admin_surface_refuses_a_non_admin_key() {
    let h = harness().await;
    let resp = h.sql("local", json!({"query": "SELECT 1 AS a"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rules = json!([{"action": {"kind": "status", "status": 503}}]);
    let admin_routes = [
        (Method::GET, "/_emulator/journal", None),
        (Method::GET, "/_emulator/faults", None),
        (Method::PUT, "/_emulator/faults", Some(rules)),
        (Method::POST, "/_emulator/reset", None),
    ];
    for (method, path, body) in &admin_routes {
        let what = format!("{method} {path}");
        // A user's API key, and a user's Basic password: 403, the admin code.
        let resp = call(
            &h,
            method.clone(),
            path,
            |r| r.header(API_KEY_HEADER, "local-key"),
            body.clone(),
        )
        .await;
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{what} with a user key"
        );
        assert_eq!(error_body(resp).await.code, Some(1027), "{what}");
        let resp = call(
            &h,
            method.clone(),
            path,
            |r| r.basic_auth("bob", Some("bob-pw")),
            body.clone(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what} with Basic");
        // No key, or a wrong one: 401.
        let resp = call(&h, method.clone(), path, |r| r, body.clone()).await;
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{what} without a key"
        );
        let resp = call(
            &h,
            method.clone(),
            path,
            |r| r.header(API_KEY_HEADER, "admin-key-7f3b"),
            body.clone(),
        )
        .await;
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{what} with a wrong key"
        );
    }
    // Nothing the refused calls asked for happened: no rules, the task and the journal kept.
    assert!(h.server.fault_rules().is_empty());
    assert_eq!(h.list("").await.array_tasks.len(), 1);
    assert_eq!(h.server.journal().len(), 2, "the POST and the listing");

    // The admin key opens every route.
    for (method, path, body) in admin_routes {
        let resp = call(
            &h,
            method.clone(),
            path,
            |r| r.header(API_KEY_HEADER, ADMIN),
            body,
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK, "{method} {path} as admin");
    }
    // Health and readiness need no credentials.
    for path in ["/_emulator/health", "/_emulator/ready"] {
        let resp = call(&h, Method::GET, path, |r| r, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_an_admin_key_the_surface_is_off_but_health_answers() {
    let h = Harness::start(ServerConfig::new().api_key("local-key")).await;
    let resp = call(
        &h,
        Method::GET,
        "/_emulator/journal",
        |r| r.header(API_KEY_HEADER, "local-key"),
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let message = error_body(resp).await.message.unwrap_or_default();
    assert!(message.contains("--admin-key"), "{message}");
    let resp = call(&h, Method::GET, "/_emulator/health", |r| r, None).await;
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    // An admin key that is a user's key is refused at start.
    let err = LocalServer::start(ServerConfig::new().api_key("same").admin_key("same"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("admin key"), "{err}");
}

#[tokio::test]
async fn faults_set_over_http_apply_at_once_and_the_journal_shows_them() {
    let h = harness().await;
    let admin = |r: reqwest::RequestBuilder| r.header(API_KEY_HEADER, ADMIN);
    let rules = json!([{"route": "tasks", "times": 1,
                        "action": {"kind": "status", "status": 503, "retry_after_secs": 4}}]);
    let resp = call(
        &h,
        Method::PUT,
        "/_emulator/faults",
        admin,
        Some(rules.clone()),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap()[0]["action"]["status"],
        503
    );

    let resp = h.get("/v1/tasks").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "4");
    assert_eq!(
        h.get("/v1/tasks").await.status(),
        StatusCode::OK,
        "once only"
    );

    let resp = call(&h, Method::GET, "/_emulator/journal", admin, None).await;
    let journal: Value = resp.json().await.unwrap();
    let entries = journal.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{journal}");
    assert_eq!(entries[0]["path"], "/v1/tasks");
    assert_eq!(entries[0]["status"], 503);
    assert_eq!(entries[0]["fault"], "status 503");
    assert_eq!(entries[1]["status"], 200);
    assert!(entries[1].get("fault").is_none());
    // No credential of any kind is in the journal.
    assert!(!journal.to_string().contains("local-key"));

    // A bad rule is a 400 naming it; the rules in force stay.
    let bad = json!([{"action": {"kind": "status", "status": 503}}, {"every": 0, "action": {"kind": "cut_before_head"}}]);
    let resp = call(&h, Method::PUT, "/_emulator/faults", admin, Some(bad)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let message = error_body(resp).await.message.unwrap_or_default();
    assert!(message.contains("fault rule 2"), "{message}");
    assert_eq!(h.server.fault_rules().len(), 1);
}

#[tokio::test]
async fn reset_forgets_tasks_journal_and_faults() {
    let h = harness().await;
    for i in 0..3 {
        h.sql("local", json!({"query": format!("SELECT {i}")}))
            .await;
    }
    h.server
        .set_fault_rules(vec![crate::support::prelude::FaultRule::new(
            crate::support::prelude::FaultAction::Latency { ms: 1 },
        )])
        .unwrap();
    let resp = call(
        &h,
        Method::POST,
        "/_emulator/reset",
        |r| r.header(API_KEY_HEADER, ADMIN),
        None,
    )
    .await;
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"tasks_removed": 3, "tasks_seeded": 0})
    );
    assert!(h.server.fault_rules().is_empty());
    assert!(h.server.journal().is_empty());
    assert!(h.list("").await.array_tasks.is_empty());
}
