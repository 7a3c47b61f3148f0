//! The local web client (`trialog ui`) served in-process against the real server: the
//! harness every web test shares (a `trialog ui` per person, a browser-like HTTP client,
//! headless Chromium through chromedriver), and one file per area of tests.

mod chromium;
mod compose;
mod consent;
mod inbox;
mod onboarding;
mod readme_case;
mod security;
mod tour;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{LOCATION, ORIGIN, SET_COOKIE};
use tokio::task::JoinHandle;
use trialog_client::web::{Options, serve};
use trialog_client::{Client, Home};
use trialog_protocol::Lang;

/// A `trialog ui` for one client, and a browser-like HTTP client that follows nothing.
pub struct Ui {
    /// The printed URL, with its one-time token.
    pub url: String,
    pub base: String,
    pub port: u16,
    pub http: reqwest::Client,
    handle: JoinHandle<()>,
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

pub async fn start(client: Client, idle_lock: Duration) -> Ui {
    let home = client.home().clone();
    start_home(home, Some(client), idle_lock).await
}

/// A `trialog ui` on a home that may have no keys yet (`client` None: it starts on the
/// set-up or unlock page).
pub async fn start_home(home: Home, client: Option<Client>, idle_lock: Duration) -> Ui {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let options = Options {
        idle_lock,
        lang: Lang::En,
    };
    let (url, handle) = serve(home, client, listener, options).await.expect("serve");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    Ui {
        url,
        base: format!("http://127.0.0.1:{port}"),
        port,
        http,
        handle,
    }
}

impl Ui {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in with the printed URL; returns the `name=value` of the session cookie.
    pub async fn login(&self) -> String {
        let r = self.http.get(&self.url).send().await.expect("login");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/");
        let set = r.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
        set.split(';').next().expect("name=value").to_owned()
    }

    pub async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(self.at(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("get")
    }

    pub async fn post(
        &self,
        path: &str,
        cookie: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut r = self
            .http
            .post(self.at(path))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(form));
        if let Some(o) = origin {
            r = r.header(ORIGIN, o);
        }
        r.send().await.expect("post")
    }
}

/// `application/x-www-form-urlencoded`, for the few plain values these tests post.
pub fn encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".into(),
                    b => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn text(r: reqwest::Response) -> String {
    r.text().await.expect("body")
}

pub fn location(r: &reqwest::Response) -> &str {
    r.headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
}

pub const LONG: Duration = Duration::from_secs(15 * 60);

/// Debian's chromedriver, or a failure that says how to get it (CI installs it).
pub fn chromedriver() -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("chromedriver"))
        .chain([PathBuf::from("/usr/bin/chromedriver")])
        .find(|p| p.exists());
    match found {
        Some(p) => p,
        None => panic!(
            "chromedriver not found: install Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver); .ci/run does"
        ),
    }
}

/// chromedriver on a free port; killed on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn driver() -> Driver {
    let port = StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(chromedriver())
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let d = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

pub fn chromium_binary() -> &'static str {
    if Path::new("/usr/bin/chromium").exists() {
        "/usr/bin/chromium"
    } else {
        "chromium"
    }
}

/// A headless Chromium session through its own chromedriver, with a fresh profile. Keep
/// the whole value alive for the session: dropping it stops chromedriver.
pub struct Browser {
    pub client: fantoccini::Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let driver = driver().await;
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                // Without the background-networking flags Chromium's own connections are
                // refused by a closed network and slow every start.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("an object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = fantoccini::ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a Chromium session through chromedriver");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the session, then fails the test with `run`'s error if it had one.
    pub async fn finish<T>(self, run: Result<T, fantoccini::error::CmdError>) -> T {
        let _ = self.client.close().await;
        run.expect("the pages in Chromium")
    }
}

/// Small steps a person takes on a page, for the Chromium tests.
pub mod act {
    use fantoccini::Locator;
    use fantoccini::error::CmdError;

    pub type Run<T = ()> = Result<T, CmdError>;

    thread_local! {
        /// What a person did on this test's thread (each `#[tokio::test]` runs on its own):
        /// links followed, fields filled, buttons clicked, options chosen.
        static ACTIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn did() {
        ACTIONS.with(|a| a.set(a.get() + 1));
    }

    /// How many actions were taken on this thread so far.
    pub fn actions() -> usize {
        ACTIONS.with(|a| a.get())
    }

    /// Follows a link (or opens the printed one).
    pub async fn go(b: &fantoccini::Client, url: &str) -> Run {
        did();
        b.goto(url).await
    }

    /// Types `value` into the field `css` (cleared first).
    pub async fn fill(b: &fantoccini::Client, css: &str, value: &str) -> Run {
        let e = b.wait().for_element(Locator::Css(css)).await?;
        did();
        e.clear().await?;
        e.send_keys(value).await
    }

    pub async fn click(b: &fantoccini::Client, css: &str) -> Run {
        did();
        b.wait().for_element(Locator::Css(css)).await?.click().await
    }

    /// Picks the option of `<select id=select_id>` whose text contains `text`.
    pub async fn choose(b: &fantoccini::Client, select_id: &str, text: &str) -> Run {
        let xpath = format!("//select[@id='{select_id}']/option[contains(., '{text}')]");
        did();
        b.wait()
            .for_element(Locator::XPath(&xpath))
            .await?
            .click()
            .await
    }

    pub async fn text(b: &fantoccini::Client, css: &str) -> Run<String> {
        b.wait().for_element(Locator::Css(css)).await?.text().await
    }

    /// Waits until the page has an `h1` reading exactly `title`.
    pub async fn heading(b: &fantoccini::Client, title: &str) -> Run {
        let xpath = format!("//h1[normalize-space()=\"{title}\"]");
        b.wait()
            .for_element(Locator::XPath(&xpath))
            .await
            .map(|_| ())
    }

    /// Waits until the page shows `text` somewhere.
    pub async fn shows(b: &fantoccini::Client, text: &str) -> Run {
        let xpath = format!("//*[contains(normalize-space(.), \"{text}\")]");
        b.wait()
            .for_element(Locator::XPath(&xpath))
            .await
            .map(|_| ())
    }
}
