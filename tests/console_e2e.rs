//! The web console, end to end: a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver`) against a real `postern dev`, with bytes flowing through a real `postern
//! proxy`. The browser logs in, watches a session appear and its bytes grow, opens it,
//! cancels it and sees the connection cut; an unprivileged user sees only their own
//! sessions; requests without the CSRF token are refused; the pages log no console error.
//!
//! Screenshots of the sessions page and a session's detail land in
//! `target/tmp/console/` (the test prints where), with the page's weight and its time to
//! first render.
#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cluster::{controller_alone, start_server_worker};
use common::dev::{CliUser, Dev};
use common::*;
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TARGET: &str = "ttcp_1234567890";
const AUTH_METHOD: &str = "ampw_1234567890";

/// A headless Chromium and the chromedriver serving it; both end with the test.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    base: String,
}

impl Browser {
    async fn start(base: &str) -> Browser {
        let port = free_port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; tests/run installs it)");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        Browser {
            client,
            _driver: driver,
            _profile: profile,
            base: base.to_owned(),
        }
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The first element matching `css`, waiting for it up to the tests' bound.
    async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            assert!(Instant::now() < deadline, "no {css} within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `check` of `css`'s attribute `attr` (or text when `attr` is None) holds.
    async fn wait_until(
        &self,
        what: &str,
        css: &str,
        attr: Option<&str>,
        limit: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                let value = match attr {
                    Some(attr) => element.attr(attr).await.ok().flatten(),
                    None => element.text().await.ok(),
                };
                if let Some(value) = value {
                    if check(&value) {
                        return value;
                    }
                    last = value;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?} (last seen {last:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn log_in(&self, login_name: &str, password: &str) {
        self.goto("/ui/").await;
        self.wait_for("#login-form").await;
        let path = self.client.current_url().await.unwrap().path().to_owned();
        assert_eq!(
            path, "/ui/login",
            "an anonymous visit goes to the login form"
        );
        self.wait_for("#login_name")
            .await
            .send_keys(login_name)
            .await
            .unwrap();
        self.wait_for("#password")
            .await
            .send_keys(password)
            .await
            .unwrap();
        self.click("#login-submit").await;
        self.wait_for("#sessions").await;
        let path = self.client.current_url().await.unwrap().path().to_owned();
        assert_eq!(path, "/ui/sessions");
        self.wait_until("the header names the user", "#who", None, WAIT, |t| {
            t == login_name
        })
        .await;
    }

    /// Waits until the byte count in `css` is above 0, then until it grows past that.
    async fn bytes_grow(&self, what: &str, css: &str) {
        let first = self
            .wait_until(what, css, Some("data-bytes"), WAIT, |v| bytes_of(v) > 0)
            .await;
        self.wait_until(what, css, Some("data-bytes"), WAIT, |v| {
            bytes_of(v) > bytes_of(&first)
        })
        .await;
    }

    /// Waits until the session page shows one of `statuses`.
    async fn status_becomes(&self, statuses: &[&str]) -> String {
        let what = format!("the session's status to become one of {statuses:?}");
        self.wait_until(&what, "#session-status", None, WAIT, |t| {
            statuses.contains(&t)
        })
        .await
    }

    /// Whether the session page offers Cancel.
    async fn cancel_shown(&self) -> bool {
        let shown = self
            .js("return !document.getElementById('cancel').hidden;")
            .await;
        shown.as_bool().unwrap()
    }

    /// Sends `key` to the focused element.
    async fn press(&self, key: fantoccini::key::Key) {
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys(&key.to_string()).await.unwrap();
    }

    /// Clicks the first element matching `css`, once it is there.
    async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap();
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// The browser's console entries at level SEVERE since the last call.
    async fn console_errors(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(BrowserLog).await.unwrap();
        entries
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// The auth token in the console's cookie (WebDriver sees HttpOnly cookies; pages do not).
    async fn token_cookie(&self) -> String {
        let cookie = self.client.get_named_cookie("postern_token").await.unwrap();
        assert_eq!(
            cookie.http_only(),
            Some(true),
            "the token cookie is HttpOnly"
        );
        assert_eq!(
            format!("{:?}", cookie.same_site()),
            "Some(Strict)",
            "the token cookie is SameSite=Strict"
        );
        cookie.value().to_owned()
    }

    /// Whether the page scrolls sideways at this window width.
    async fn scrolls_sideways(&self, width: u32) -> bool {
        self.client.set_window_size(width, 900).await.unwrap();
        let inner = self.js("return window.innerWidth;").await;
        assert!(
            inner.as_u64().unwrap() <= u64::from(width),
            "window is {inner} wide"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sizes = self
            .js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
            .await;
        sizes[0].as_u64().unwrap() > sizes[1].as_u64().unwrap()
    }

    async fn close(self) {
        self.client.close().await.unwrap();
    }
}

/// chromedriver's `POST /session/{id}/se/log` with type `browser`: the console's entries.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// Bytes flowing through the proxy to the echo endpoint until the connection is cut: how it
/// ended (a read of 0 or an error).
fn keep_transferring(port: u16) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let chunk = vec![7u8; 16 * 1024];
        let mut echoed = vec![0u8; 16 * 1024];
        let started = Instant::now();
        loop {
            if started.elapsed() > Duration::from_secs(60) {
                return "still open after 60 s".to_owned();
            }
            if let Err(e) = stream.write_all(&chunk).await {
                return format!("write: {e}");
            }
            match tokio::time::timeout(WAIT, stream.read_exact(&mut echoed)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return format!("read: {e}"),
                Err(_) => return "no echo within the bound".to_owned(),
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    })
}

fn bytes_of(cell: &str) -> u64 {
    cell.parse().unwrap()
}

/// What the controller answered a request made outside the browser.
struct Answer {
    status: u16,
    /// The `Content-Security-Policy` header, empty when there is none.
    policy: String,
    /// The body as JSON (`Null` when it is not JSON).
    json: Value,
}

/// A request as a browser holding the console's cookie for `token` would send it (no cookie
/// when `token` is empty), with `headers` and a `body` of the given content type. 4xx and 5xx
/// answers are returned, not failed on; redirects are not followed.
async fn http(
    method: &'static str,
    url: String,
    token: &str,
    headers: &[(&'static str, &str)],
    body: Option<(&'static str, String)>,
) -> Answer {
    let mut request = ureq::http::Request::builder().method(method).uri(&url);
    if !token.is_empty() {
        request = request.header("Cookie", format!("postern_token={token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (content_type, body) = body.unwrap_or(("text/plain", String::new()));
    let request = request
        .header("Content-Type", content_type)
        .body(body)
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        let mut response = agent.run(request).unwrap();
        let policy = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status: response.status().as_u16(),
            policy,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_watches_a_session_live_and_cancels_it() {
    let echo = echo_endpoint().await;
    let dev = Dev::start(echo.port()).await;
    assert!(
        dev.banner
            .iter()
            .any(|l| l.trim() == format!("Web Console Address: {}/ui/", dev.api)),
        "the banner gives the console's URL: {:?}",
        dev.banner
    );
    let browser = Browser::start(&dev.api).await;
    browser.log_in("admin", "password").await;

    // First render, and what the page weighs, as the browser measured them on this first
    // (cold cache) load of the sessions page, right after login.
    browser.wait_for("#sessions-count").await;
    let timing = browser
        .js("const paint = performance.getEntriesByType('paint')
                 .find((p) => p.name === 'first-contentful-paint');
             const nav = performance.getEntriesByType('navigation')[0];
             const resources = performance.getEntriesByType('resource')
                 .filter((r) => r.name.includes('/ui/assets/'));
             return {
               first_contentful_paint_ms: paint ? paint.startTime : null,
               dom_content_loaded_ms: nav.domContentLoadedEventEnd,
               html_bytes: nav.decodedBodySize,
               html_bytes_sent: nav.encodedBodySize,
               asset_bytes: resources.reduce((n, r) => n + r.decodedBodySize, 0),
               asset_bytes_sent: resources.reduce((n, r) => n + r.encodedBodySize, 0),
               assets: resources.map((r) => [r.name.split('/').pop(), r.encodedBodySize]),
             };")
        .await;
    println!("sessions page: {timing}");

    // A session authorized now shows up within 2 s, and its bytes grow while data flows.
    let (mut proxy, port, session_id) = dev.proxy(TARGET).await;
    let authorized = Instant::now();
    let row = format!("tr[data-session-id='{session_id}']");
    browser
        .wait_until(
            "the new session's row",
            &format!("{row} .status"),
            None,
            Duration::from_secs(2),
            |_| true,
        )
        .await;
    println!(
        "the session appeared {:?} after authorize-session",
        authorized.elapsed()
    );
    let transfer = keep_transferring(port);
    browser
        .bytes_grow("the session's bytes up", &format!("{row} .bytes-up"))
        .await;
    browser
        .wait_until(
            "one connection open",
            &format!("{row} .conns"),
            None,
            WAIT,
            |t| t == "1 / 1",
        )
        .await;
    assert!(
        !browser.scrolls_sideways(1280).await,
        "no sideways scrolling at 1280 px"
    );
    browser.screenshot("sessions.png").await;
    assert!(
        !browser.scrolls_sideways(390).await,
        "no sideways scrolling of the page at 390 px"
    );
    browser.screenshot("sessions-390px.png").await;
    browser.client.set_window_size(1280, 900).await.unwrap();

    // The filter takes the CLI's language; an error names where it is wrong.
    let filter = browser.wait_for("#filter").await;
    filter
        .send_keys("\"/item/status\" == \"active\"")
        .await
        .unwrap();
    browser.click("#sessions-filter button[type=submit]").await;
    browser.wait_for(&row).await;

    // Keyboard: Tab from the filter reaches the session's link.
    filter.click().await.unwrap();
    let mut reached = false;
    for _ in 0..20 {
        browser.press(fantoccini::key::Key::Tab).await;
        let text = browser
            .js("return document.activeElement.textContent;")
            .await;
        if text == json!(session_id) {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches the session's link");
    browser.press(fantoccini::key::Key::Enter).await;

    // The detail: states, the live connection with its addresses and counters, Cancel.
    browser.status_becomes(&["active"]).await;
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        format!("/ui/sessions/{session_id}")
    );
    let client_address = browser
        .wait_until(
            "the connection's client address",
            "#connections tr[data-connection='1'] .client",
            None,
            WAIT,
            |t| t.starts_with("127.0.0.1:"),
        )
        .await;
    let endpoint_address = browser
        .wait_for("#connections tr[data-connection='1'] .endpoint")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(endpoint_address, echo.to_string());
    println!("connection from {client_address} to {endpoint_address}");
    browser
        .bytes_grow(
            "the connection's bytes down",
            "#connections tr[data-connection='1'] .bytes-down",
        )
        .await;
    let states = browser.wait_for("#states").await.text().await.unwrap();
    assert!(
        states.contains("active") && states.contains("pending"),
        "{states}"
    );
    browser.screenshot("session-detail.png").await;

    // No secret in the page, its URL or the browser's storage.
    let token = browser.token_cookie().await;
    let exposed = browser
        .js(
            "return [document.documentElement.outerHTML, location.href, document.cookie,
                     JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join('\\n');",
        )
        .await;
    let exposed = exposed.as_str().unwrap();
    let secret = token.rsplit('_').next().unwrap();
    assert!(!exposed.contains(secret), "the auth token reached the page");
    assert!(!exposed.contains("PRIVATE KEY"));
    assert!(!exposed.contains("postern_token"), "the cookie is HttpOnly");
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // Without the CSRF token nothing changes, from the page or from anywhere else.
    let forged = browser
        .js(&format!(
            "const done = arguments[arguments.length - 1];
             return fetch('/v1/sessions/{session_id}:cancel', {{
                 method: 'POST', headers: {{'Content-Type': 'application/json'}},
                 body: JSON.stringify({{version: 1}})}}).then((r) => r.status);"
        ))
        .await;
    assert_eq!(forged, json!(403), "a cancel without the CSRF token");
    let cancel_url = format!("{}/v1/sessions/{session_id}:cancel", dev.api);
    let status = http(
        "POST",
        cancel_url,
        &token,
        &[("X-Postern-Csrf", "forged")],
        Some(("application/json", json!({"version": 1}).to_string())),
    )
    .await
    .status;
    assert_eq!(status, 403, "a cancel with a wrong CSRF token");
    assert_eq!(dev.session(&session_id).await["status"], "active");
    browser.console_errors().await;

    // Cancel: the status turns, the live connection is cut, the proxy ends.
    browser.click("#cancel").await;
    browser.status_becomes(&["canceling", "terminated"]).await;
    let ended = within("the cut connection", transfer).await.unwrap();
    assert!(
        !ended.contains("still open") && !ended.contains("no echo"),
        "{ended}"
    );
    browser
        .wait_until(
            "the closed reason",
            "#connections tr[data-connection='1'] .closed-reason",
            None,
            WAIT,
            |t| t != "—",
        )
        .await;
    browser.status_becomes(&["terminated"]).await;
    assert!(
        !browser.cancel_shown().await,
        "no Cancel on a terminated session"
    );
    let (status, _) = proxy.wait().await;
    assert_eq!(status.code(), Some(3), "the proxy ends: session canceled");

    // The terminated session is behind the toggle.
    browser.goto("/ui/sessions").await;
    browser.wait_for("#sessions-count").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(browser.client.find(Locator::Css(&row)).await.is_err());
    browser.click("#show-terminated").await;
    browser
        .wait_until(
            "the terminated session",
            &format!("{row} .status"),
            None,
            WAIT,
            |t| t == "terminated",
        )
        .await;

    // A filter error is shown with the column it is at.
    let filter = browser.wait_for("#filter").await;
    filter.clear().await.unwrap();
    filter.send_keys("\"/item/status\" ==").await.unwrap();
    browser.click("#sessions-filter button[type=submit]").await;
    let message = browser
        .wait_until("the filter's error", "#sessions-error", None, WAIT, |t| {
            !t.is_empty()
        })
        .await;
    assert!(
        message.contains("column") || message.contains("position"),
        "{message}"
    );

    // Targets, with the command to copy; the commands name this controller.
    browser.goto("/ui/targets").await;
    let command = browser
        .wait_for(&format!("section[data-target-id='{TARGET}'] .command code"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        command,
        format!("postern connect -addr {} -target-id {TARGET}", dev.api)
    );
    browser.screenshot("targets.png").await;

    // Workers: dev's worker lives in its process and is not a registered worker (as in
    // `postern workers list`); the page says there are none. A linked one: see below.
    browser.goto("/ui/workers").await;
    browser
        .wait_until("the workers table", "#workers tbody", None, WAIT, |t| {
            t == "No workers."
        })
        .await;
    let errors = browser.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("status of 400")),
        "console errors besides the bad filter's 400: {errors:?}"
    );

    // Logout revokes the token.
    browser.click("#logout").await;
    browser.wait_for("#login-form").await;
    let whoami = http("GET", format!("{}/ui/whoami", dev.api), &token, &[], None).await;
    assert_eq!(whoami.status, 401, "the token is revoked at logout");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_sees_only_their_own_sessions_and_forms_need_their_token() {
    let echo = echo_endpoint().await;
    let dev = Dev::start(echo.port()).await;
    let admins = dev
        .json(&["targets", "authorize-session", "-id", TARGET])
        .await;
    let admins = admins["item"]["session_id"].as_str().unwrap().to_owned();
    let user = CliUser::log_in(&dev, "user", "password").await;
    let (code, own) = user
        .json(&["targets", "authorize-session", "-id", TARGET])
        .await;
    assert_eq!(code, Some(0), "{own}");
    let own_token = own["item"]["authorization_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = own["item"]["session_id"].as_str().unwrap().to_owned();

    let browser = Browser::start(&dev.api).await;
    browser.log_in("user", "password").await;
    browser
        .wait_for(&format!("tr[data-session-id='{own}']"))
        .await;
    let rows = browser
        .js("return [...document.querySelectorAll('#sessions tbody tr')].map((r) => r.dataset.sessionId);")
        .await;
    assert_eq!(rows, json!([own]), "only the user's own session");
    // Workers are not theirs to list: the link is hidden and the page says so.
    let hidden = browser
        .js("return document.querySelector('nav a[data-nav=workers]').hidden;")
        .await;
    assert_eq!(hidden, json!(true));

    // Their own session offers Cancel (cancel:self); the admin's does not exist for them.
    browser.goto(&format!("/ui/sessions/{own}")).await;
    browser.status_becomes(&["pending"]).await;
    assert!(browser.cancel_shown().await, "Cancel on their own session");
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.goto(&format!("/ui/sessions/{admins}")).await;
    let message = browser
        .wait_until("the refusal", "#session-error", None, WAIT, |t| {
            !t.is_empty()
        })
        .await;
    assert!(message.contains("not found"), "{message}");
    let visible = browser
        .js("return [document.getElementById('session').hidden, document.getElementById('cancel').hidden];")
        .await;
    assert_eq!(visible, json!([true, true]), "no detail and no Cancel");

    // A stale version explains itself and refreshes; then the cancel goes through. The
    // page's refresh is held (as a slow network would) while a connection through the
    // session makes it active, which changes its version under the page.
    browser.goto(&format!("/ui/sessions/{own}")).await;
    browser.status_becomes(&["pending"]).await;
    browser
        .js("window.setInterval(() => window.clearTimeout(app.timer), 5);")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut proxy = PosternProcess::spawn(&["proxy", "-authz", &own_token, "-format", "json"]);
    let info = proxy.next_json().await;
    let port = info["port"].as_u64().unwrap() as u16;
    let (echoed, _) = exchange(std::net::SocketAddr::from(([127, 0, 0, 1], port)), b"hello").await;
    assert_eq!(echoed, 5);
    let (_, read) = user.json(&["sessions", "read", "-id", &own]).await;
    assert_eq!(read["item"]["status"], "active", "{read}");
    assert_eq!(
        browser
            .wait_for("#session-status")
            .await
            .text()
            .await
            .unwrap(),
        "pending",
        "the page still shows the old version"
    );
    browser.click("#cancel").await;
    let message = browser
        .wait_until(
            "the stale version's explanation",
            "#cancel-message",
            None,
            WAIT,
            |t| !t.is_empty(),
        )
        .await;
    assert!(message.contains("changed"), "{message}");
    browser.status_becomes(&["active"]).await;
    browser.console_errors().await;
    browser.click("#cancel").await;
    browser.status_becomes(&["canceling", "terminated"]).await;
    let (status, _) = proxy.wait().await;
    assert_eq!(
        status.code(),
        Some(3),
        "the user's proxy ends: session canceled"
    );

    // A token revoked elsewhere leaves its cookie behind: the console goes back to the
    // login form, and a new login works in spite of the stale cookie.
    let token = browser.token_cookie().await;
    let whoami = http("GET", format!("{}/ui/whoami", dev.api), &token, &[], None).await;
    let me = whoami.json;
    assert_eq!(whoami.status, 200, "{me}");
    let revoke = format!(
        "{}/v1/auth-tokens/{}",
        dev.api,
        me["auth_token_id"].as_str().unwrap()
    );
    let csrf = me["csrf_token"].as_str().unwrap();
    let status = http("DELETE", revoke, &token, &[("X-Postern-Csrf", csrf)], None)
        .await
        .status;
    assert_eq!(status, 204, "the user revokes their own token");
    browser.log_in("user", "password").await;

    // The login form needs its anti-forgery value.
    let form = format!("auth_method_id={AUTH_METHOD}&login_name=admin&password=password&csrf=x");
    let login = format!("{}/ui/login", dev.api);
    let status = http(
        "POST",
        login.clone(),
        "",
        &[],
        Some(("application/x-www-form-urlencoded", form)),
    )
    .await
    .status;
    assert_eq!(status, 403, "a login without the form's cookie");

    // Every page goes out with a policy that forbids inline script and other origins.
    let policy = http("GET", login, "", &[], None).await.policy;
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workers_page_shows_a_linked_worker() {
    let alone = controller_alone().await;
    let created = alone
        .controller
        .json(&["workers", "create", "controller-led", "-name", "w1"])
        .await;
    let worker_id = created["item"]["id"].as_str().unwrap().to_owned();
    let token = created["item"]["controller_generated_activation_token"]
        .as_str()
        .unwrap();
    let config = alone.dir.path().join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[worker]\nproxy_listen_address = \"127.0.0.1:0\"\n\
             upstreams = [{:?}]\nactivation_token = {token:?}\n\
             tags = {{ region = \"test\" }}\n",
            alone.dir.path().join("w1").display().to_string(),
            alone.cluster,
        ),
    )
    .unwrap();
    let _worker = start_server_worker(&config).await;

    let browser = Browser::start(&alone.controller.api).await;
    browser.log_in("admin", &alone.password).await;
    browser.goto("/ui/workers").await;
    let row = format!("#workers tr[data-worker-id='{worker_id}']");
    let text = browser
        .wait_until("the linked worker", &row, None, WAIT, |t| {
            t.contains("region=test") && t.contains("ago")
        })
        .await;
    assert!(text.contains("w1") && text.contains("127.0.0.1:"), "{text}");
    browser.screenshot("workers.png").await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.close().await;
}
