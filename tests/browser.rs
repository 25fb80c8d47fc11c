//! The chat page in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver): two tabs on the page `chatstack dev` serves exchange a message, see
//! the online count, and keep their connection through a code reload. Screenshots at desktop
//! and phone width land in `target/test-artifacts/`.
//!
//! Without Chromium and ChromeDriver the test says so in one line and passes, except under CI
//! (`CI` set), where `.ci/run` installs them and their absence is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use thirtyfour::prelude::*;

use crate::dev::{DevProcess, init_project};

/// Chromium's and ChromeDriver's paths, if both are installed.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            let p = Path::new(n);
            if p.is_absolute() {
                return p.is_file().then(|| p.to_owned());
            }
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(n))
                .find(|c| c.is_file())
        })
    };
    let chromium = std::env::var_os("CHATSTACK_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| find(&["chromium", "chromium-browser", "google-chrome"]))?;
    let driver = find(&["chromedriver"])?;
    Some((chromium, driver))
}

/// `chromedriver` on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(path: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `script` (a function body returning a value) until it returns something truthy.
async fn wait_js(driver: &WebDriver, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = driver
            .execute(script, Vec::new())
            .await
            .expect("the script runs")
            .json()
            .clone();
        let truthy = !(v.is_null() || v == false || v == 0 || v == "");
        if truthy {
            return v;
        }
        assert!(Instant::now() < deadline, "waited 20 s for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_open(driver: &WebDriver) {
    wait_js(
        driver,
        "the connection to open",
        "return document.getElementById('state').dataset.state === 'open'",
    )
    .await;
}

/// Types a name into `#name` and leaves the field (the page says hello with it).
async fn set_name(driver: &WebDriver, name: &str) {
    let field = driver.find(By::Id("name")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(name).await.unwrap();
    field.send_keys(Key::Enter).await.unwrap();
}

async fn say(driver: &WebDriver, text: &str) {
    let field = driver.find(By::Id("text")).await.unwrap();
    field.send_keys(text).await.unwrap();
    driver
        .find(By::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits for a message with `text` from someone else.
async fn wait_message(driver: &WebDriver, text: &str) {
    let script = format!(
        "return [...document.querySelectorAll('#messages .msg[data-type=message]:not(.own) .text')]\
         .some(e => e.textContent === {})",
        Value::from(text)
    );
    wait_js(driver, &format!("a message {text:?}"), &script).await;
}

const WELCOMES: &str =
    "return document.querySelectorAll('#messages .msg[data-type=welcome]').length";

#[tokio::test(flavor = "multi_thread")]
async fn two_tabs_chat_and_keep_their_connection_through_a_code_reload() {
    let Some((chromium, chromedriver)) = browser() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium and ChromeDriver are missing under CI: install chromium and chromium-driver"
        );
        crate::support::note(
            "skipped: browser::two_tabs_chat_and_keep_their_connection_through_a_code_reload \
             needs chromium and chromedriver (Debian: apt install chromium chromium-driver)",
        );
        return;
    };
    // reqwest (inside thirtyfour) needs the process's TLS provider, as every client of ours.
    chatstack::providers::tencent::http::client().expect("the TLS provider installs");

    let parent = tempfile::tempdir().unwrap();
    let project = init_project(parent.path(), "webchat");
    let mut dev = DevProcess::start(&project, &[]);
    let page = dev.ready["page"].as_str().unwrap().to_owned();

    let chromedriver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(&chromium.to_string_lossy()).unwrap();
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--window-size=1280,800",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
        .unwrap();
    let driver = WebDriver::new(&chromedriver.url, caps)
        .await
        .expect("a Chromium session");

    driver.goto(&page).await.unwrap();
    wait_open(&driver).await;
    set_name(&driver, "Ann").await;
    let ann = driver.window().await.unwrap();

    let bob = driver.new_tab().await.unwrap();
    driver.switch_to_window(bob.clone()).await.unwrap();
    driver.goto(&page).await.unwrap();
    wait_open(&driver).await;
    set_name(&driver, "Bob").await;
    say(&driver, "hello from Bob").await;

    driver.switch_to_window(ann.clone()).await.unwrap();
    wait_message(&driver, "hello from Bob").await;
    wait_js(
        &driver,
        "the online count to say 2",
        "return document.getElementById('online').textContent.trim() === '2'",
    )
    .await;
    say(&driver, "hi Bob, I see you").await;
    wait_js(
        &driver,
        "Ann's own message",
        "return document.querySelectorAll('#messages .msg.own').length > 0",
    )
    .await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    driver
        .screenshot(&artifacts.join("chat-desktop.png"))
        .await
        .unwrap();

    // A code reload: the next message runs the new transport, on the same connections.
    let welcomes = driver
        .execute(WELCOMES, Vec::new())
        .await
        .unwrap()
        .json()
        .clone();
    let transport = project.join("code/transport.py");
    let code = std::fs::read_to_string(&transport).unwrap();
    std::fs::write(
        &transport,
        code.replace(
            "text=text, online=online",
            "text=text.upper(), online=online",
        ),
    )
    .unwrap();
    dev.wait_for("deployed", Duration::from_secs(60));
    driver.switch_to_window(bob.clone()).await.unwrap();
    say(&driver, "after the reload").await;
    driver.switch_to_window(ann.clone()).await.unwrap();
    wait_message(&driver, "AFTER THE RELOAD").await;
    assert_eq!(
        driver.execute(WELCOMES, Vec::new()).await.unwrap().json(),
        &welcomes,
        "Ann's page reconnected during the reload"
    );
    wait_open(&driver).await;

    driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    driver
        .screenshot(&artifacts.join("chat-phone.png"))
        .await
        .unwrap();
    driver.quit().await.unwrap();
    let (_, status) = dev.interrupt();
    assert!(status.success());
}
