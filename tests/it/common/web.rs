//! The web app under test: `hrm serve` processes, plain HTTP requests with a cookie jar of one,
//! and Chromium driven over WebDriver with a test wallet.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::TestEnv;
use super::cli::Hrm;

/// Password every test staff account gets.
pub const STAFF_PASSWORD: &str = "correct horse battery staple";

/// One hospital's `hrm serve`, stopped when dropped. Its stderr (the request log) goes to a file
/// the test can read.
pub struct Server {
    pub url: String,
    pub log: PathBuf,
    child: Child,
}

impl Server {
    /// Starts `hrm serve --from FROM` on a free port with its own archive database `database`,
    /// after adding each `(name, role)` staff account. `extra` are more `serve` flags.
    pub fn start(hrm: &Hrm, from: &str, database: &str, staff: &[(&str, &str)], extra: &[&str]) -> Self {
        for (name, role) in staff {
            let mut add = hrm.command(&["--database", database, "serve", "user", "add", name, "--role", role]);
            add.env("HRM_MONGODB_URI", &hrm.env.mongodb_uri).env("HRM_STAFF_PASSWORD", STAFF_PASSWORD);
            let output = add.output().expect("running hrm serve user add");
            assert!(output.status.success(), "adding {name}: {}", String::from_utf8_lossy(&output.stderr));
        }
        let log = hrm.home().join(format!("serve-{database}.log"));
        let mut args = vec!["--from", from, "--database", database, "serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut command = hrm.command(&args);
        command
            .env("HRM_MONGODB_URI", &hrm.env.mongodb_uri)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("creating the server log"));
        let mut child = command.spawn().expect("starting hrm serve");
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped")).read_line(&mut first_line).unwrap();
        // "… at <public URL> (listening on 127.0.0.1:PORT)": tests talk to the socket itself.
        let bound = first_line.split("(listening on ").nth(1).map(|rest| rest.trim().trim_end_matches(')').to_string());
        let url = match bound {
            Some(bound) => format!("http://{bound}"),
            _ => {
                let _ = child.kill();
                panic!("hrm serve did not start: {}", std::fs::read_to_string(&log).unwrap_or_default())
            }
        };
        Self { url, log, child }
    }

    /// Sends SIGTERM, as a service manager stopping the server does, and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) with the PID of a child this struct owns and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().expect("waiting for hrm serve")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The request log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The metrics URL the server printed (started with `--metrics-listen 127.0.0.1:0`).
    pub fn metrics_url(&self) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log_text();
            // Only a whole line: the server may be half-way through writing it.
            if let Some((url, _)) = log.split("Metrics at ").nth(1).and_then(|rest| rest.split_once('\n')) {
                return url.trim().to_string();
            }
            assert!(std::time::Instant::now() < deadline, "no metrics address in the log:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that keeps one session cookie, like a browser tab, but lets the test see and
/// choose every header.
pub struct HttpVisitor {
    pub base: String,
    pub cookie: Option<String>,
    client: reqwest::Client,
}

/// A response: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }

    /// The CSRF token of the page (its `csrf-token` meta tag).
    pub fn csrf(&self) -> String {
        let needle = "name=\"csrf-token\" content=\"";
        let start = self.body.find(needle).expect("the page has a CSRF token") + needle.len();
        self.body[start..start + 64].to_string()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl HttpVisitor {
    pub fn new(server: &Server) -> Self {
        Self::at(&server.url)
    }

    /// A visitor of the web app at `base` (`http://IP:PORT`).
    pub fn at(base: &str) -> Self {
        Self::from_address(base, None)
    }

    /// A visitor whose connections come from `local` (any of 127.0.0.0/8 on Linux), so that tests
    /// can have several clients with addresses of their own.
    pub fn from_address(base: &str, local: Option<std::net::IpAddr>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            .build()
            .unwrap();
        Self { base: base.trim_end_matches('/').to_string(), cookie: None, client }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Reply {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", format!("hrm_session={cookie}")),
            None => request,
        };
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            let value = set.split(';').next().unwrap().trim_start_matches("hrm_session=");
            self.cookie = Some(value.to_string());
        }
        let body = response.text().await.unwrap_or_default();
        Reply { status, headers, body }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// The body of a download, as bytes (the session's cookie is sent; a new one is not taken).
    pub async fn get_bytes(&mut self, path: &str) -> Vec<u8> {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("hrm_session={cookie}"));
        }
        let response = request.send().await.expect("the server answers");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.bytes().await.expect("the body").to_vec()
    }

    /// A form post; `fields` should include `_csrf` unless the test means to leave it out.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.post_form_with_headers(path, fields, &[]).await
    }

    /// A form post with more headers, such as one a client forges.
    pub async fn post_form_with_headers(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    pub async fn post_json(&mut self, path: &str, csrf: Option<&str>, body: Value) -> Reply {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = csrf {
            request = request.header("x-csrf-token", token);
        }
        self.send(request).await
    }

    /// Signs in a staff member through the form; returns the reply to the sign-in post.
    pub async fn sign_in_staff(&mut self, username: &str, password: &str) -> Reply {
        let csrf = self.get("/sign-in").await.csrf();
        self.post_form("/sign-in/staff", &[("_csrf", &csrf), ("username", username), ("password", password)]).await
    }

    /// Signs in a patient with Sign-In with Ethereum, as a browser wallet would.
    pub async fn sign_in_patient(&mut self, patient: &PrivateKeySigner) -> Reply {
        let csrf = self.get("/sign-in").await.csrf();
        let challenge = self.post_json("/sign-in/challenge", None, json!({ "address": patient.address() })).await;
        let message = challenge.json()["message"].as_str().unwrap().to_string();
        let signature = sign_hex(patient, &message);
        self.post_json("/sign-in/wallet", Some(&csrf), json!({ "message": message, "signature": signature })).await
    }
}

/// An EIP-191 signature of `message`, 0x-hex.
pub fn sign_hex(signer: &PrivateKeySigner, message: &str) -> String {
    alloy::hex::encode_prefixed(signer.sign_message_sync(message.as_bytes()).unwrap().as_bytes())
}

/// Chromium driven by chromedriver; chromedriver (and the browser it started) is killed when
/// dropped, even after a failed test.
pub struct Browser {
    pub client: Client,
    driver: Child,
    screenshots: PathBuf,
    /// Chromium's profile and scratch folders, removed after the browser is killed (which
    /// leaves them behind otherwise).
    _scratch: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium with a phone-and-desktop-sized
    /// window.
    pub async fn start() -> Self {
        let driver_path = hrm::tools::locate(hrm::tools::Tool::Chromedriver).unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let scratch =
            tempfile::Builder::new().prefix("hrm-chromium-").tempdir().expect("a scratch folder for Chromium");
        let mut command = Command::new(driver_path);
        command.arg(format!("--port={port}")).env("TMPDIR", scratch.path()).stdout(Stdio::null()).stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect("starting chromedriver");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"] }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(capabilities);
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            match builder.connect(&url).await {
                Ok(client) => {
                    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
                    std::fs::create_dir_all(&screenshots).unwrap();
                    return Self { client, driver, screenshots, _scratch: scratch };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver at {url} did not start a browser: {last_error}");
    }

    /// Signs `username` in on `server`'s staff form.
    pub async fn sign_in_staff(&self, server: &Server, username: &str) {
        self.goto(&format!("{}/sign-in", server.url)).await;
        self.fill("username", username).await;
        self.fill("password", STAFF_PASSWORD).await;
        self.click("form[action='/sign-in/staff'] button").await;
        self.wait_for_text(username).await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        // Read in one script call: an element handle may go stale while a page loads.
        let text = self.client.execute("return document.body ? document.body.innerText : '';", vec![]).await;
        text.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// Waits until the page's text contains `wanted`; fails with the page's text.
    pub async fn wait_for_text(&self, wanted: &str) {
        for _ in 0..150 {
            if self.text().await.contains(wanted) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed '{wanted}'; it shows:\n{}", self.text().await);
    }

    /// Waits until nothing matches `css` (after a reload, say).
    pub async fn wait_until_gone(&self, css: &str) {
        for _ in 0..150 {
            if self.client.find_all(Locator::Css(css)).await.is_ok_and(|found| found.is_empty()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} is still on the page:\n{}", self.text().await);
    }

    pub async fn fill(&self, name: &str, value: &str) {
        let field = self.client.find(Locator::Css(&format!("[name='{name}']"))).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Sets a field's value directly (date inputs take typed text in the locale's order).
    pub async fn set_value(&self, name: &str, value: &str) {
        self.client
            .execute(
                "document.querySelector(`[name='${arguments[0]}']`).value = arguments[1];",
                vec![json!(name), json!(value)],
            )
            .await
            .unwrap();
    }

    /// Scrolls the element matching `css` to the top of the window (before a screenshot).
    pub async fn scroll_to(&self, css: &str) {
        self.client
            .execute("document.querySelector(arguments[0]).scrollIntoView();", vec![json!(css)])
            .await
            .unwrap_or_else(|e| panic!("no {css} to scroll to: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
    }

    /// Clicks the button or link whose text is `text`.
    pub async fn click_text(&self, text: &str) {
        let xpath = format!("//*[self::button or self::a][normalize-space(.)='{text}']");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no '{text}' to click: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Saves a screenshot as `target/web-screenshots/NAME.png`, at desktop and at phone width,
    /// after checking the page against WCAG 2.1 A and AA with axe-core: every page a test
    /// photographs is one a patient or a nurse with a screen reader or a keyboard must be able
    /// to use.
    pub async fn screenshot(&self, name: &str) {
        self.check_accessibility(name).await;
        for (suffix, width, height) in [("", 1280, 1000), ("-phone", 412, 915)] {
            self.client.set_window_size(width, height).await.unwrap();
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(self.screenshots.join(format!("{name}{suffix}.png")), png).unwrap();
        }
        self.client.set_window_size(1280, 1000).await.unwrap();
    }

    /// Runs axe-core (installed by `tools/setup` from npm) on the page and fails the test with
    /// every WCAG 2.1 A or AA violation it finds, naming the rule, the element and the fix.
    pub async fn check_accessibility(&self, page: &str) {
        let source = std::fs::read_to_string(axe_core_path())
            .unwrap_or_else(|e| panic!("axe-core is missing ({e}): run tools/setup"));
        // WebDriver scripts run outside the page's Content-Security-Policy.
        self.client.execute(&format!("{source}\nwindow.axe = axe; return true;"), vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                     .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + '\n    '
                        + v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary.replace(/\n/g, ' ')).join('\n    '))))
                     .catch(e => done(['axe-core failed: ' + e]));"#,
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("running axe-core on {page}: {e}"));
        let violations: Vec<String> = serde_json::from_value(found).expect("axe-core returns a list");
        assert!(violations.is_empty(), "the page {page} breaks WCAG 2.1 AA:\n  {}", violations.join("\n  "));
    }

    /// Puts a browser wallet (EIP-1193) into the page: its requests wait in a queue that
    /// `serve_wallet` answers with a development key, as a wallet extension answers from outside
    /// the page.
    pub async fn install_wallet(&self) {
        self.client
            .execute(
                r#"window.__wallet = { queue: [], pending: {}, next: 1 };
                   window.ethereum = { request: ({ method, params }) => new Promise((resolve, reject) => {
                       const id = window.__wallet.next++;
                       window.__wallet.pending[id] = { resolve, reject };
                       window.__wallet.queue.push({ id, method, params: params || [] });
                   }) };"#,
                vec![],
            )
            .await
            .unwrap();
    }

    /// Answers the page's wallet requests as `key` until the page leaves (navigates or reloads)
    /// or `limit` requests were answered.
    pub async fn serve_wallet(&self, env: &TestEnv, key: &PrivateKeySigner, limit: usize) {
        let mut answered = 0;
        for _ in 0..300 {
            let queue = self
                .client
                .execute("return window.__wallet ? window.__wallet.queue.splice(0) : null;", vec![])
                .await
                .unwrap_or(Value::Null);
            let Value::Array(requests) = queue else { return };
            for request in requests {
                let result = answer(env, key, &request).await;
                self.client
                    .execute(
                        "window.__wallet.pending[arguments[0]].resolve(arguments[1]);",
                        vec![request["id"].clone(), result],
                    )
                    .await
                    .unwrap();
                answered += 1;
            }
            if answered >= limit {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page asked the wallet for too little: {answered} of {limit} requests");
    }
}

async fn answer(env: &TestEnv, key: &PrivateKeySigner, request: &Value) -> Value {
    let params = &request["params"];
    match request["method"].as_str().unwrap() {
        "eth_requestAccounts" | "eth_accounts" => json!([key.address()]),
        "personal_sign" => {
            let bytes = alloy::hex::decode(params[0].as_str().unwrap()).unwrap();
            let address: Address = params[1].as_str().unwrap().parse().unwrap();
            assert_eq!(address, key.address(), "the page asked this wallet to sign for another account");
            json!(alloy::hex::encode_prefixed(key.sign_message_sync(&bytes).unwrap().as_bytes()))
        }
        "eth_sendTransaction" => {
            let tx = &params[0];
            let from: Address = tx["from"].as_str().unwrap().parse().unwrap();
            assert_eq!(from, key.address(), "the page asked this wallet to send from another account");
            let request = TransactionRequest::default()
                .with_to(tx["to"].as_str().unwrap().parse::<Address>().unwrap())
                .with_input(tx["data"].as_str().unwrap().parse::<Bytes>().unwrap());
            let pending =
                env.provider_for(key).send_transaction(request).await.expect("the wallet's transaction is accepted");
            json!(pending.tx_hash())
        }
        other => panic!("the page asked the wallet for {other}, which a test wallet does not do"),
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver runs in its own process group with the browser it started: end them all.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// axe-core's browser bundle, as `tools/setup` installs it.
fn axe_core_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/npm/node_modules/axe-core/axe.min.js")
}

/// The screenshot folder, for tests that check what was saved.
pub fn screenshot_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/target/web-screenshots"))
}
