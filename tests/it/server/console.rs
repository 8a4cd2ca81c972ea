//! The console's routes (`/_emulator/console`): its embedded files, the headers that make it safe
//! (a strict Content-Security-Policy, no cookies), and the checks on its scripts that keep data out
//! of HTML. What the page does in a browser is `crate::console` (feature `browser-tests`).

use reqwest::{StatusCode, header};

use crate::support::local::{Harness, content_type, expect_error};

const CONSOLE: &str = "/_emulator/console";
const ROUTE_NOT_FOUND: i64 = 1003;
const UNAUTHENTICATED: i64 = 1001;

/// Every file the page loads, as `index.html` names them (`src="…"`, `href="…"`), and the modules
/// those import (`from "./x.js"`).
async fn assets(h: &Harness) -> Vec<String> {
    let index = h.http.get(h.url(CONSOLE)).send().await.unwrap();
    let html = index.text().await.unwrap();
    let mut found: Vec<String> = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap_or_default();
            found.push(url.to_owned());
        }
    }
    let mut i = 0;
    while i < found.len() {
        if found[i].ends_with(".js") {
            let js = h.http.get(h.url(&found[i])).send().await.unwrap();
            let text = js.text().await.unwrap();
            for part in text.split("from \"./").skip(1) {
                let name = part.split('"').next().unwrap_or_default();
                let url = format!("{CONSOLE}/{name}");
                if !found.contains(&url) {
                    found.push(url);
                }
            }
        }
        i += 1;
    }
    found
}

fn csp(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The policy's directives, name to value.
fn directives(policy: &str) -> Vec<(String, String)> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let (name, value) = d.split_once(' ').unwrap_or((d, ""));
            (name.to_owned(), value.trim().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_page_is_served_with_and_without_a_trailing_slash_without_credentials() {
    let h = Harness::default().await;
    for path in [CONSOLE.to_owned(), format!("{CONSOLE}/")] {
        let resp = h.http.get(h.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(content_type(&resp), "text/html; charset=utf-8", "{path}");
        let html = resp.text().await.unwrap();
        assert!(html.starts_with("<!doctype html>"), "{path}");
        assert!(
            html.contains("id=\"sign-in-form\""),
            "{path}: the sign-in form"
        );
    }
}

#[tokio::test]
async fn every_file_the_page_loads_is_embedded_with_its_media_type() {
    let h = Harness::default().await;
    let files = assets(&h).await;
    for name in [
        "console.css",
        "app.js",
        "api.js",
        "dom.js",
        "list.js",
        "task.js",
    ] {
        assert!(
            files.contains(&format!("{CONSOLE}/{name}")),
            "{name} is loaded: {files:?}"
        );
    }
    for url in &files {
        assert!(
            url.starts_with(CONSOLE),
            "served by the console itself: {url}"
        );
        let resp = h.http.get(h.url(url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        let expected = if url.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(content_type(&resp), expected, "{url}");
        assert!(!resp.text().await.unwrap().is_empty(), "{url}");
    }
}

#[tokio::test]
async fn every_console_answer_has_a_strict_policy_and_no_cookie() {
    let h = Harness::default().await;
    let mut urls = assets(&h).await;
    urls.push(CONSOLE.to_owned());
    for url in &urls {
        let resp = h.http.get(h.url(url)).send().await.unwrap();
        let policy = csp(&resp);
        let d = directives(&policy);
        let get = |name: &str| {
            d.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{url}: directive {name} in {policy:?}"))
        };
        assert_eq!(get("default-src"), "'none'", "{url}");
        assert_eq!(get("script-src"), "'self'", "{url}");
        assert_eq!(get("style-src"), "'self'", "{url}");
        assert_eq!(get("connect-src"), "'self'", "{url}");
        assert_eq!(get("img-src"), "'none'", "{url}");
        assert_eq!(get("object-src"), "'none'", "{url}");
        assert_eq!(get("base-uri"), "'none'", "{url}");
        assert_eq!(get("frame-ancestors"), "'none'", "{url}");
        assert_eq!(get("require-trusted-types-for"), "'script'", "{url}");
        assert!(
            !policy.contains("unsafe") && !policy.contains('*') && !policy.contains("data:"),
            "{url}: nothing unsafe, no wildcard, no data: in {policy:?}"
        );
        let headers = resp.headers();
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{url}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{url}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{url}");
        assert!(
            !headers.contains_key(header::SET_COOKIE),
            "{url}: no cookie"
        );
    }
}

#[tokio::test]
async fn the_scripts_write_data_as_text_only_and_load_nothing_from_elsewhere() {
    let h = Harness::default().await;
    let mut urls = assets(&h).await;
    urls.push(CONSOLE.to_owned());
    for url in &urls {
        let text = h
            .http
            .get(h.url(url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "DOMParser",
            "createContextualFragment",
            "document.cookie",
            "localStorage",
        ] {
            assert!(!text.contains(sink), "{url} uses {sink}");
        }
        for external in ["http://", "https://", "//cdn", "@import"] {
            let hits: Vec<&str> = text
                .match_indices(external)
                .map(|(i, _)| &text[i..(i + 40).min(text.len())])
                // The SVG namespace is a name, not a download.
                .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
                .collect();
            assert!(hits.is_empty(), "{url} refers elsewhere: {hits:?}");
        }
        if url.ends_with(".html") || url == CONSOLE {
            assert!(!text.contains("<script>"), "{url}: no inline script");
            let handler = text.match_indices(" on").find(|(i, _)| {
                let rest = &text[i + 3..];
                let name = rest.len() - rest.trim_start_matches(char::is_alphabetic).len();
                name > 0 && rest[name..].starts_with('=')
            });
            assert!(handler.is_none(), "{url}: no inline event handler");
            assert!(!text.contains("style=\""), "{url}: no inline style");
        }
    }
}

#[tokio::test]
async fn an_unknown_console_file_is_the_usual_404_error() {
    let h = Harness::default().await;
    for path in [
        format!("{CONSOLE}/nope.js"),
        format!("{CONSOLE}/..%2Fmod.rs"),
        format!("{CONSOLE}/app.js/x"),
    ] {
        let resp = h.http.get(h.url(&path)).send().await.unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, ROUTE_NOT_FOUND).await;
    }
}

#[tokio::test]
async fn the_console_gives_no_data_without_credentials() {
    let h = Harness::default().await;
    h.sql(
        "local",
        serde_json::json!({ "query": "SELECT 1 AS one", "name": "secret-task" }),
    )
    .await;
    // The page and its files hold no data: the only way to tasks is the public API, which asks.
    let mut urls = assets(&h).await;
    urls.push(CONSOLE.to_owned());
    for url in &urls {
        let text = h
            .http
            .get(h.url(url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains("secret-task"), "{url}");
        assert!(!text.contains(&h.key), "{url}: the key");
    }
    let resp = h.http.get(h.url("/v1/tasks")).send().await.unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, UNAUTHENTICATED).await;
}

#[tokio::test]
async fn only_get_is_allowed_on_the_console() {
    let h = Harness::default().await;
    let resp = h.http.post(h.url(CONSOLE)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = h.http.head(h.url(CONSOLE)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
