//! A real Chromium for the console's tests: Debian's `chromedriver` started on a free loopback
//! port (stopped by its PID when dropped), one headless session per test driven over WebDriver
//! (fantoccini), and the checks every screen gets: a screenshot under `target/ui-screenshots/`
//! and axe-core's accessibility rules with no serious or critical violation.
//! Invariant: traffic stays on loopback; a session is closed (and its Chromium with it) even when
//! the test body panics.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A running chromedriver.
pub struct Driver {
    child: Child,
    pub addr: SocketAddr,
}

impl Driver {
    pub fn start() -> Driver {
        // Ask the kernel for a free port, then hand it to chromedriver (it has no port 0 mode).
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new("chromedriver");
        command
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_owned()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A test killed outright (a runner's timeout) never runs Drop: the kernel then stops the
        // driver, which would otherwise outlive it holding the test's inherited descriptors.
        // SAFETY: prctl(2) only, async-signal-safe, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .expect("chromedriver (Debian: apt-get install chromium chromium-driver; scripts/test installs it)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let driver = Driver { child, addr };
        // It answers WebDriver as soon as it listens; until then connections are refused.
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not listen on {addr} within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of the child this driver started and has not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// One browser session on the console at `base`.
#[derive(Clone)]
pub struct Browser {
    pub client: Client,
    pub base: String,
}

/// Runs `body` with a fresh headless session on the console at `server`, closing it afterwards,
/// also when `body` panics (the panic is then re-raised).
pub async fn session<F, Fut>(driver: &Driver, server: SocketAddr, body: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,800", "--no-first-run", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--metrics-recording-only", "--no-default-browser-check"
        ] }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://{}", driver.addr))
        .await
        .expect("a WebDriver session in Chromium");
    let browser = Browser { client: client.clone(), base: format!("http://{server}") };
    let outcome = tokio::spawn(body(browser)).await;
    let _ = client.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

pub fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots")
}

fn axe_source() -> String {
    let path = std::env::var("CAP_TEST_AXE_JS").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/npm/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core at {} ({e}); scripts/test installs it", path.display()))
}

impl Browser {
    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Sets an input's, textarea's or select's value as typing or choosing would.
    pub async fn fill(&self, selector: &str, value: &str) {
        let script = "const e = document.querySelector(arguments[0]); if (!e) return false; \
                      e.value = arguments[1]; return true;";
        let found = self.client.execute(script, vec![json!(selector), json!(value)]).await.unwrap();
        assert_eq!(found, json!(true), "no field {selector} on {}", self.path().await);
    }

    /// Types into a field with the keyboard.
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.find(selector).await.send_keys(text).await.unwrap();
    }

    /// Chooses the `index`-th option of a select (0: the first).
    pub async fn choose(&self, selector: &str, index: usize) {
        let script =
            "const s = document.querySelector(arguments[0]); s.value = s.options[arguments[1]].value; return s.value;";
        let value = self.client.execute(script, vec![json!(selector), json!(index)]).await.unwrap();
        assert!(value.as_str().is_some_and(|v| !v.is_empty()), "{selector} has no option {index}");
    }

    pub async fn find(&self, selector: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(selector)).await {
            Ok(e) => e,
            Err(e) => panic!("no {selector} on {}: {e}", self.path().await),
        }
    }

    pub async fn click(&self, selector: &str) {
        self.find(selector).await.click().await.unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    /// Submits the form matching `form` with its submit button, as a user would, and waits for
    /// the next page to load (a marker set on this page is gone there).
    pub async fn submit(&self, form: &str) {
        self.client.execute("window.__capOldPage = true; return true;", vec![]).await.unwrap();
        self.click(&format!("{form} button[type=submit]")).await;
        let start = Instant::now();
        let script = "return document.readyState === 'complete' && window.__capOldPage === undefined;";
        while self.client.execute(script, vec![]).await.ok() != Some(json!(true)) {
            assert!(start.elapsed() < Duration::from_secs(30), "no page after submitting {form}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn count(&self, selector: &str) -> usize {
        self.client.find_all(Locator::Css(selector)).await.map(|v| v.len()).unwrap_or(0)
    }

    pub async fn text(&self, selector: &str) -> String {
        self.find(selector).await.text().await.unwrap()
    }

    /// The whole page's visible text.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Reloads `path` until `selector`'s text satisfies `done`, failing after `deadline`.
    pub async fn wait_for_text(
        &self,
        path: Option<&str>,
        selector: &str,
        deadline: Duration,
        done: impl Fn(&str) -> bool,
    ) {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            if let Some(path) = path {
                self.goto(path).await;
            }
            if let Ok(e) = self.client.find(Locator::Css(selector)).await
                && let Ok(text) = e.text().await
            {
                if done(&text) {
                    return;
                }
                last = text;
            }
            assert!(start.elapsed() < deadline, "{selector}: not as expected within {deadline:?}; last {last:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An HTTP exchange from the page (same origin, with its cookies), as a script on a forged or
    /// scripted page would make it: `(status, body)`. Redirects are not followed (status 0).
    pub async fn fetch(&self, method: &str, path: &str, form_body: Option<&str>) -> (u64, String) {
        let script = "const [method, path, body, done] = arguments; \
            const init = { method, credentials: 'same-origin', redirect: 'manual' }; \
            if (body !== null) { init.body = body; init.headers = {'content-type': 'application/x-www-form-urlencoded'}; } \
            fetch(path, init).then(r => r.text().then(t => done([r.status, t]))).catch(e => done([-1, String(e)]));";
        let answer =
            self.client.execute_async(script, vec![json!(method), json!(path), json!(form_body)]).await.unwrap();
        (answer[0].as_u64().unwrap_or(0), answer[1].as_str().unwrap_or_default().to_owned())
    }

    /// Saves a screenshot of the page as `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(screenshots_dir()).unwrap();
        std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
    }

    /// The checks every screen gets: a screenshot, the strict CSP on the page, and axe-core with
    /// no serious or critical violation.
    pub async fn check(&self, name: &str) {
        self.screenshot(name).await;
        let violations = self.axe().await;
        let bad: Vec<&Value> =
            violations.iter().filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical"))).collect();
        assert!(bad.is_empty(), "{name} ({}): accessibility violations {bad:#?}", self.path().await);
    }

    async fn axe(&self) -> Vec<Value> {
        let loaded = self.client.execute("return typeof window.axe !== 'undefined';", vec![]).await.unwrap();
        if loaded != json!(true) {
            self.client.execute(&format!("{}\nreturn true;", axe_source()), vec![]).await.expect("inject axe-core");
        }
        let script = "const done = arguments[arguments.length - 1]; \
            axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v => ({ \
              id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) \
            })))).catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e) }]));";
        let result = self.client.execute_async(script, vec![]).await.unwrap();
        result.as_array().cloned().unwrap_or_default()
    }

    /// Whether the page fits the window's width (nothing scrolls sideways but wide tables, which
    /// scroll inside their own box).
    pub async fn fits_width(&self) -> bool {
        let script = "return document.documentElement.scrollWidth <= window.innerWidth + 1;";
        self.client.execute(script, vec![]).await.unwrap() == json!(true)
    }

    /// The value of the session cookie (WebDriver sees HttpOnly cookies).
    pub async fn session_token(&self) -> String {
        self.client.get_named_cookie("cap_session").await.expect("session cookie").value().to_owned()
    }
}
