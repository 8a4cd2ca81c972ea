//! The console (`/_emulator/console`) in a real browser: headless Chromium driven through
//! chromedriver (WebDriver, with fantoccini), against a local server each test seeds.
//!
//! Feature `browser-tests`. Without `chromedriver` and `chromium` on the `PATH` (Debian's
//! `chromium-driver` and `chromium` packages) each test says so and passes, unless
//! `TILEDB_REQUIRE_BROWSER=1` (as `.ci/run` sets), which makes a missing browser a failure. With
//! `TILEDB_CONSOLE_SCREENSHOTS=docs` the list and timeline test writes `docs/console-list.png` and
//! `docs/console-timeline.png`.
//!
//! One browser at a time (a static lock): the machine is small, and each test starts its own
//! chromedriver and Chromium, closed at its end whether it passed or not. Every wait for the page
//! is a bounded wait for a condition ([`WAIT`], generous), never a sleep standing in for one.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use futures::FutureExt as _;
use serde_json::{Value, json};

use crate::support::local::{Harness, task_id};
use crate::support::poll_until;
use crate::support::prelude::ServerConfig;

const CONSOLE: &str = "/_emulator/console";
/// The longest any wait for the page may take: far beyond what the page needs (it refreshes the
/// list every second); it only bounds a test whose page never gets there.
const WAIT: Duration = Duration::from_secs(30);
const OTHER_KEY: &str = "other-users-key";
const BASIC_USER: &str = "basic";
const BASIC_PASSWORD: &str = "basic-password";
const XSS_NAME: &str = "<img src=x onerror=alert(1)>";
const XSS_CELL: &str = "<script>window.__pwned = 1; alert(2)</script>";

static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Scenario = for<'a> fn(&'a Browser, &'a Harness) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One `#[tokio::test]` per `name => scenario`, the scenario (an `async fn(&Browser, &Harness)`)
/// run by [`in_browser`].
macro_rules! browser_tests {
    ($($name:ident => $scenario:ident;)*) => {$(
        #[tokio::test]
        async fn $name() {
            fn run<'a>(b: &'a Browser, h: &'a Harness) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
                Box::pin($scenario(b, h))
            }
            in_browser(run).await;
        }
    )*};
}

browser_tests! {
    signing_in_shows_the_seeded_tasks_with_their_statuses_and_a_timeline => list_and_timeline;
    the_status_namespace_and_search_filters_narrow_the_list => filters_narrow;
    scrolling_the_list_loads_the_next_pages => scroll_paging;
    a_task_view_shows_the_sql_parameters_error_and_result_rows => task_view;
    sql_from_the_box_shows_rows_and_new_tasks_appear_without_a_reload => sql_box;
    a_wrong_key_is_refused_and_nothing_is_kept => wrong_key;
    basic_credentials_sign_in_and_a_wrong_password_is_refused => basic_sign_in;
    hostile_names_and_cells_are_shown_as_text_and_no_script_runs => hostile_text;
}

/// `name` on the `PATH`, if it is there.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// chromedriver and a Chromium binary, or `None` (after saying so) when the test should skip.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let driver = on_path("chromedriver");
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| on_path(n));
    match (driver, chromium) {
        (Some(d), Some(c)) => Some((d, c)),
        _ if std::env::var("TILEDB_REQUIRE_BROWSER").as_deref() == Ok("1") => panic!(
            "TILEDB_REQUIRE_BROWSER=1 but chromedriver or chromium is not on the PATH \
             (apt-get install -y chromium chromium-driver)"
        ),
        _ => {
            eprintln!(
                "console browser test skipped: no chromedriver/chromium on the PATH \
                 (apt-get install -y chromium chromium-driver; TILEDB_REQUIRE_BROWSER=1 makes this a failure)"
            );
            None
        }
    }
}

/// A chromedriver child, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Seeds a server (the default user `local`, and a second user with its own namespace), starts
/// chromedriver and Chromium, and runs `scenario`; the browser is closed and chromedriver stopped
/// whatever the scenario did, then its panic (if any) is the test's.
async fn in_browser(scenario: Scenario) {
    let Some((driver_bin, chromium)) = browser_binaries() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let h = Harness::start(
        ServerConfig::new()
            .user("other", OTHER_KEY, None, &["other"])
            .user(
                BASIC_USER,
                "basic-users-key",
                Some(BASIC_PASSWORD),
                &["local"],
            ),
    )
    .await;
    seed(&h).await;

    let port = free_port();
    let driver = Driver(
        Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let ready = poll_until(2000, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(ready.is_some(), "chromedriver listens on {port}");

    let profile = tempfile::tempdir().expect("a profile directory");
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    // Leave an alert open, so that a script that ran is seen (not dismissed on our behalf).
    caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session in Chromium");

    let outcome = AssertUnwindSafe(scenario(&browser, &h))
        .catch_unwind()
        .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// POSTs a query with `store_results` (and a name), waits for it to end; its task id.
async fn submit(h: &Harness, key: &str, namespace: &str, name: &str, query: &str) -> String {
    let resp = h
        .sql_as(
            key,
            namespace,
            json!({ "query": query, "name": name, "store_results": true }),
        )
        .await;
    let id = task_id(&resp);
    if key == h.key {
        h.wait_terminal(&id).await;
    }
    id
}

/// The seeded tasks: two completed with rows, one failed, one with hostile text, and one of the
/// other user, which the default user must never see.
async fn seed(h: &Harness) {
    let key = h.key.clone();
    submit(
        h,
        &key,
        "local",
        "make-sales",
        "CREATE TABLE sales(region TEXT, amount REAL)",
    )
    .await;
    submit(
        h,
        &key,
        "local",
        "fill-sales",
        "INSERT INTO sales VALUES ('north', 12.5), ('south', 7), ('north', 3)",
    )
    .await;
    submit(
        h,
        &key,
        "local",
        "sales-by-region",
        "SELECT region, sum(amount) AS total\nFROM sales GROUP BY region ORDER BY region",
    )
    .await;
    submit(h, &key, "local", "broken", "SELECT * FROM no_such_table").await;
    submit(
        h,
        &key,
        "local",
        XSS_NAME,
        &format!("SELECT '{XSS_CELL}' AS payload"),
    )
    .await;
    submit(h, OTHER_KEY, "other", "someone-elses", "SELECT 1 AS one").await;
}

/// Evaluates `script` (a function body) in the page.
async fn eval(b: &Browser, script: &str) -> Value {
    b.execute(script, vec![]).await.expect("the script runs")
}

/// Waits until `script` returns a truthy value; that value.
async fn until(b: &Browser, what: &str, script: &str) -> Value {
    let steps = usize::try_from(WAIT.as_millis() / 10).unwrap_or(3000);
    poll_until(steps, || async {
        let v = eval(b, script).await;
        let truthy =
            !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
        truthy.then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("the page never showed {what} (within {WAIT:?})"))
}

/// The task list as the page shows it: per row, the cells' text.
async fn rows(b: &Browser) -> Vec<Vec<String>> {
    let v = eval(
        b,
        "return [...document.querySelectorAll('#task-rows tr')]
            .map(tr => [...tr.cells].map(td => td.textContent));",
    )
    .await;
    serde_json::from_value(v).expect("rows of text")
}

/// Installs a recorder of Content-Security-Policy violations (before the page renders data).
async fn record_violations(b: &Browser) {
    eval(
        b,
        "window.__violations = [];
         document.addEventListener('securitypolicyviolation',
           e => window.__violations.push(e.violatedDirective));
         return true;",
    )
    .await;
}

async fn open_console(b: &Browser, h: &Harness) {
    b.goto(&h.url(CONSOLE)).await.expect("the console loads");
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#sign-in-form"))
        .await
        .expect("the sign-in form");
    record_violations(b).await;
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    let input = b.find(Locator::Css(css)).await.expect(css);
    input.clear().await.expect("cleared");
    input.send_keys(text).await.expect("typed");
}

async fn click(b: &Browser, css: &str) {
    b.find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("clicked");
}

/// Signs in with `key` and waits for the console.
async fn sign_in(b: &Browser, h: &Harness, key: &str) {
    open_console(b, h).await;
    type_into(b, "#api-key", key).await;
    click(b, "#sign-in-button").await;
    until(
        b,
        "the signed-in console",
        "return !document.getElementById('console').hidden;",
    )
    .await;
}

async fn wait_for_rows(b: &Browser, n: usize) -> Vec<Vec<String>> {
    until(
        b,
        &format!("{n} task rows"),
        &format!("return document.querySelectorAll('#task-rows tr').length === {n};"),
    )
    .await;
    rows(b).await
}

/// The row of the task named `name`.
fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.get(1).is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("a row named {name:?} in {rows:?}"))
}

fn screenshots_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TILEDB_CONSOLE_SCREENSHOTS")?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    Some(dir)
}

async fn list_and_timeline(b: &Browser, h: &Harness) {
    {
        sign_in(b, h, &h.key).await;
        let rows = wait_for_rows(b, 5).await;
        for (name, status) in [
            ("make-sales", "COMPLETED"),
            ("fill-sales", "COMPLETED"),
            ("sales-by-region", "COMPLETED"),
            ("broken", "FAILED"),
        ] {
            let r = row(&rows, name);
            assert_eq!(r[0], status, "{name}'s status");
            assert_eq!(r[2], "local", "{name}'s namespace");
            assert_eq!(r[3], "SQL", "{name}'s type");
        }
        let sales = row(&rows, "sales-by-region");
        assert_eq!(
            sales[6], "SELECT region, sum(amount) AS total",
            "the SQL's first line"
        );
        assert!(
            !sales[4].is_empty() && !sales[5].is_empty(),
            "start and duration: {sales:?}"
        );
        assert!(
            rows.iter().all(|r| r[1] != "someone-elses"),
            "another user's task is not listed: {rows:?}"
        );
        // Status colours: each badge has its status's class, and they differ.
        let colours = eval(
            b,
            "const c = s => getComputedStyle(document.querySelector('#task-rows .status-' + s)).backgroundColor;
             return [c('COMPLETED'), c('FAILED')];",
        )
        .await;
        assert_ne!(
            colours[0], colours[1],
            "completed and failed differ in colour"
        );
        // The timeline: a bar per task, coloured by status, each titled with its task's name.
        let bars = until(
            b,
            "five timeline bars",
            "const bars = [...document.querySelectorAll('#timeline rect.bar')];
             return bars.length === 5 && bars.map(r => [r.getAttribute('class'), r.textContent]);",
        )
        .await;
        let bars: Vec<(String, String)> = serde_json::from_value(bars).expect("bars");
        let broken = bars
            .iter()
            .find(|(_, title)| title.starts_with("broken"))
            .expect("a bar for the failed task");
        assert!(broken.0.contains("status-FAILED"), "{broken:?}");
        if let Some(dir) = screenshots_dir() {
            let page = b.screenshot().await.expect("a screenshot");
            std::fs::write(dir.join("console-list.png"), page).expect("written");
            let timeline = b
                .find(Locator::Css("#timeline-section"))
                .await
                .expect("the timeline")
                .screenshot()
                .await
                .expect("a screenshot of the timeline");
            std::fs::write(dir.join("console-timeline.png"), timeline).expect("written");
        }
    }
}

/// The text of the element `css` (empty when there is none).
async fn text_of(b: &Browser, css: &str) -> String {
    let v = eval(
        b,
        &format!("const e = document.querySelector({css:?}); return e ? e.textContent : '';"),
    )
    .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// The cells of the result table inside `css`, row by row.
async fn result_cells(b: &Browser, css: &str) -> Vec<Vec<String>> {
    let v = eval(
        b,
        &format!(
            "return [...document.querySelectorAll({:?})]
                .map(tr => [...tr.cells].map(td => td.textContent));",
            format!("{css} table.result tbody tr")
        ),
    )
    .await;
    serde_json::from_value(v).expect("cells")
}

/// Waits for the list to hold exactly the tasks named `names` (in any order).
async fn wait_for_names(b: &Browser, names: &[&str]) -> Vec<Vec<String>> {
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    let script = format!(
        "const names = [...document.querySelectorAll('#task-rows tr')]
            .map(tr => tr.cells[1].textContent).sort();
         return JSON.stringify(names) === {:?};",
        serde_json::to_string(&expected).expect("json")
    );
    until(b, &format!("the tasks {names:?}"), &script).await;
    rows(b).await
}

async fn filters_narrow(b: &Browser, h: &Harness) {
    sign_in(b, h, &h.key).await;
    wait_for_rows(b, 5).await;
    b.find(Locator::Css("#filter-status"))
        .await
        .expect("the status filter")
        .select_by_value("FAILED")
        .await
        .expect("FAILED selected");
    let failed = wait_for_names(b, &["broken"]).await;
    assert_eq!(failed[0][0], "FAILED");
    b.find(Locator::Css("#filter-status"))
        .await
        .expect("the status filter")
        .select_by_value("")
        .await
        .expect("any status");
    wait_for_rows(b, 5).await;
    // The search box: a case-insensitive substring of name, namespace or SQL.
    type_into(b, "#filter-search", "SALES").await;
    wait_for_names(b, &["make-sales", "fill-sales", "sales-by-region"]).await;
    type_into(b, "#filter-search", "").await;
    wait_for_rows(b, 5).await;
    // Another user's namespace: nothing of it is visible to this user.
    type_into(b, "#filter-namespace", "other").await;
    wait_for_rows(b, 0).await;
    until(
        b,
        "no tasks",
        "return document.getElementById('list-end').textContent === 'no tasks';",
    )
    .await;
    type_into(b, "#filter-namespace", "local").await;
    wait_for_rows(b, 5).await;
}

async fn scroll_paging(b: &Browser, h: &Harness) {
    for i in 0..55 {
        let resp = h
            .sql(
                "local",
                json!({ "query": "SELECT 1 AS one", "name": format!("bulk-{i:02}") }),
            )
            .await;
        assert!(resp.status().is_success(), "bulk task {i}");
    }
    sign_in(b, h, &h.key).await;
    // A page is 25 tasks; the list's box shows fewer, so one page fills it.
    until(
        b,
        "the first page",
        "return document.querySelectorAll('#task-rows tr').length === 25
            && document.getElementById('list-end').textContent === 'scroll for more';",
    )
    .await;
    for shown in [50, 60] {
        eval(
            b,
            "const s = document.getElementById('task-scroll'); s.scrollTop = s.scrollHeight; return true;",
        )
        .await;
        wait_for_rows(b, shown).await;
    }
    let rows = rows(b).await;
    let mut names: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 60, "every task once");
    assert_eq!(text_of(b, "#list-count").await, "(60 of 60)");
    assert_eq!(text_of(b, "#list-end").await, "", "nothing more to load");
}

/// Clicks the list row of the task named `name`.
async fn open_row(b: &Browser, name: &str) {
    let script = format!(
        "const tr = [...document.querySelectorAll('#task-rows tr')]
            .find(tr => tr.cells[1].textContent === {name:?});
         if (!tr) return false;
         tr.scrollIntoView();
         return true;"
    );
    until(b, &format!("a row named {name:?}"), &script).await;
    // The list refreshes live and rebuilds its rows: a row found a moment ago can be gone (a
    // stale element) by the time it is clicked. Find and click again until one click lands.
    let steps = usize::try_from(WAIT.as_millis() / 10).unwrap_or(3000);
    let clicked = poll_until(steps, || async {
        let rows = b.find_all(Locator::Css("#task-rows tr")).await.ok()?;
        for tr in rows {
            let Ok(cell) = tr.find(Locator::Css("td.name")).await else {
                return None;
            };
            if cell.text().await.ok()? == name {
                return tr.click().await.ok();
            }
        }
        None
    })
    .await;
    assert!(
        clicked.is_some(),
        "no row named {name:?} could be clicked (within {WAIT:?})"
    );
}

async fn task_view(b: &Browser, h: &Harness) {
    // One more task, with parameters, submitted while the console is open.
    sign_in(b, h, &h.key).await;
    wait_for_rows(b, 5).await;
    let resp = h
        .sql(
            "local",
            json!({
                "name": "with-params",
                "query": "SELECT region, amount FROM sales WHERE amount > ? AND region = ?",
                "parameters": [5, "north"],
                "store_results": true,
            }),
        )
        .await;
    h.wait_terminal(&task_id(&resp)).await;
    wait_for_rows(b, 6).await;

    open_row(b, "sales-by-region").await;
    until(
        b,
        "the task view of sales-by-region",
        "return document.getElementById('task-title').textContent === 'Task sales-by-region'
            && document.querySelector('#task-detail table.result') !== null;",
    )
    .await;
    assert_eq!(
        text_of(b, "#task-sql").await,
        "SELECT region, sum(amount) AS total\nFROM sales GROUP BY region ORDER BY region",
        "the full SQL"
    );
    assert_eq!(
        result_cells(b, "#task-detail").await,
        vec![vec!["north", "15.5"], vec!["south", "7"]],
        "the stored result's rows"
    );
    assert_eq!(text_of(b, "#task-detail .row-count").await, "2 rows");
    let facts = text_of(b, "#task-detail dl").await;
    for fact in ["COMPLETED", "Start", "Finish", "Duration", "local"] {
        assert!(facts.contains(fact), "{fact} in {facts:?}");
    }

    open_row(b, "with-params").await;
    until(
        b,
        "the task view of with-params",
        "return document.getElementById('task-title').textContent === 'Task with-params'
            && document.querySelector('#task-detail table.result') !== null;",
    )
    .await;
    assert_eq!(text_of(b, "#task-params").await, r#"[5,"north"]"#);
    assert_eq!(
        result_cells(b, "#task-detail").await,
        vec![vec!["north", "12.5"]]
    );

    open_row(b, "broken").await;
    until(
        b,
        "the task view of broken",
        "return document.getElementById('task-title').textContent === 'Task broken';",
    )
    .await;
    let error = text_of(b, "#task-error").await;
    assert!(error.contains("no such table: no_such_table"), "{error:?}");
    assert_eq!(text_of(b, "#task-sql").await, "SELECT * FROM no_such_table");
}

async fn sql_box(b: &Browser, h: &Harness) {
    sign_in(b, h, &h.key).await;
    wait_for_rows(b, 5).await;
    eval(b, "window.__sameDocument = 'yes'; return true;").await;

    type_into(b, "#sql-namespace", "local").await;
    type_into(
        b,
        "#sql-query",
        "SELECT region, amount FROM sales ORDER BY amount DESC",
    )
    .await;
    click(b, "#sql-run").await;
    until(
        b,
        "the box's rows",
        "return document.querySelectorAll('#sql-output table.result tbody tr').length === 3;",
    )
    .await;
    assert_eq!(
        result_cells(b, "#sql-output").await,
        vec![
            vec!["north", "12.5"],
            vec!["south", "7"],
            vec!["north", "3"]
        ]
    );
    let rows = wait_for_rows(b, 6).await;
    let ran = rows
        .iter()
        .find(|r| r[6] == "SELECT region, amount FROM sales ORDER BY amount DESC")
        .unwrap_or_else(|| panic!("the box's task in the list: {rows:?}"));
    assert_eq!(ran[0], "COMPLETED");

    // A task run by someone else (another client) appears too, by the list's own refresh.
    let resp = h
        .sql(
            "local",
            json!({ "query": "SELECT 2 AS two", "name": "from-elsewhere" }),
        )
        .await;
    assert!(resp.status().is_success());
    let rows = wait_for_rows(b, 7).await;
    assert_eq!(row(&rows, "from-elsewhere")[0], "COMPLETED");
    assert_eq!(
        eval(b, "return window.__sameDocument;").await,
        json!("yes"),
        "the page was never reloaded"
    );

    // A failing query shows its error.
    type_into(b, "#sql-query", "SELECT * FROM nowhere").await;
    click(b, "#sql-run").await;
    let error = until(
        b,
        "the box's error",
        "return document.getElementById('sql-error').textContent;",
    )
    .await;
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.contains("no such table: nowhere")),
        "{error}"
    );
}

async fn wrong_key(b: &Browser, h: &Harness) {
    open_console(b, h).await;
    let wrong = "not-the-right-key";
    type_into(b, "#api-key", wrong).await;
    click(b, "#sign-in-button").await;
    let message = until(
        b,
        "the refusal",
        "return document.getElementById('sign-in-error').textContent;",
    )
    .await;
    let message = message.as_str().unwrap_or_default();
    assert!(message.starts_with("Refused"), "{message:?}");
    assert!(message.contains("unknown API key"), "{message:?}");
    assert!(
        !message.contains(wrong),
        "the key is never shown: {message:?}"
    );
    let state = eval(
        b,
        "return [document.getElementById('console').hidden,
                 document.querySelectorAll('#task-rows tr').length,
                 sessionStorage.length, localStorage.length, document.cookie,
                 document.getElementById('api-key').value];",
    )
    .await;
    assert_eq!(
        state,
        json!([true, 0, 0, 0, "", ""]),
        "nothing shown, nothing kept"
    );

    // The right key then signs in, kept for this tab only (sessionStorage, no cookie).
    sign_in(b, h, &h.key).await;
    wait_for_rows(b, 5).await;
    let kept = eval(
        b,
        "return [sessionStorage.length, localStorage.length, document.cookie];",
    )
    .await;
    assert_eq!(kept, json!([1, 0, ""]));
    b.refresh().await.expect("reloaded");
    until(
        b,
        "the console after a reload, still signed in",
        "return !document.getElementById('console').hidden
            && document.querySelectorAll('#task-rows tr').length === 5;",
    )
    .await;
}

async fn basic_sign_in(b: &Browser, h: &Harness) {
    open_console(b, h).await;
    type_into(b, "#username", BASIC_USER).await;
    type_into(b, "#password", "wrong-password").await;
    click(b, "#sign-in-button").await;
    let message = until(
        b,
        "the refusal",
        "return document.getElementById('sign-in-error').textContent;",
    )
    .await;
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.starts_with("Refused") && m.contains("wrong user name or password")),
        "{message}"
    );
    type_into(b, "#username", BASIC_USER).await;
    type_into(b, "#password", BASIC_PASSWORD).await;
    click(b, "#sign-in-button").await;
    let rows = wait_for_rows(b, 5).await;
    assert_eq!(row(&rows, "broken")[0], "FAILED");
    assert_eq!(text_of(b, "#whoami").await, "signed in as basic");
}

async fn hostile_text(b: &Browser, h: &Harness) {
    sign_in(b, h, &h.key).await;
    let rows = wait_for_rows(b, 5).await;
    let hostile = row(&rows, XSS_NAME);
    assert_eq!(hostile[6], format!("SELECT '{XSS_CELL}' AS payload"));
    open_row(b, XSS_NAME).await;
    until(
        b,
        "the hostile task's view",
        "return document.querySelector('#task-detail table.result') !== null;",
    )
    .await;
    assert_eq!(text_of(b, "#task-title").await, format!("Task {XSS_NAME}"));
    assert_eq!(result_cells(b, "#task-detail").await, vec![vec![XSS_CELL]]);

    // The same text through the SQL box.
    type_into(b, "#sql-namespace", "local").await;
    type_into(b, "#sql-query", &format!("SELECT '{XSS_CELL}' AS payload")).await;
    click(b, "#sql-run").await;
    until(
        b,
        "the box's row",
        "return document.querySelectorAll('#sql-output table.result tbody tr').length === 1;",
    )
    .await;
    assert_eq!(result_cells(b, "#sql-output").await, vec![vec![XSS_CELL]]);
    let titles = eval(
        b,
        "return [...document.querySelectorAll('#timeline title')].map(t => t.textContent);",
    )
    .await;
    assert!(
        titles.as_array().is_some_and(|t| t
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with(XSS_NAME)))),
        "the timeline names it as text: {titles}"
    );

    // Nothing was parsed as HTML, nothing ran, nothing was even tried against the policy.
    let page = eval(
        b,
        "return [document.querySelectorAll('img').length,
                 document.querySelectorAll('script:not([src])').length,
                 document.querySelectorAll('script').length,
                 typeof window.__pwned,
                 window.__violations];",
    )
    .await;
    assert_eq!(
        page,
        json!([0, 0, 1, "undefined", []]),
        "no element from data, no script ran"
    );
    assert!(
        b.get_alert_text().await.is_err(),
        "no alert is open: no handler ran"
    );
}
