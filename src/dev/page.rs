//! The web page `chatstack dev` serves: the project's `web/` directory (or the chat template's
//! page when the project has none), `/chatstack.json` with the deployed WebSocket URL, and
//! `/_chatstack/events`, a server-sent event stream that says `web` when a page file changes so
//! the page reloads itself.
//!
//! It listens on loopback only, answers only requests addressed to a loopback name (so a web
//! page cannot reach it through DNS rebinding), serves files below the web directory only
//! (tower-http's `ServeDir` refuses `..`), and runs nothing: it is a static file server.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::broadcast;

/// Where the page's files come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The project's own directory (edited by the user, served as it is on disk).
    Dir(PathBuf),
    /// The chat template's `web/index.html`, embedded in the binary.
    Builtin(&'static [u8]),
}

/// What the page needs to know, served as `/chatstack.json`.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    /// `ws://…` of the deployed stack (empty until the first deploy succeeds).
    pub websocket_url: String,
    /// The stack's name.
    pub stack: String,
    /// The stage.
    pub stage: String,
    /// The event stream to listen on for reloads.
    pub reload: &'static str,
}

/// The path of the reload event stream.
pub const EVENTS: &str = "/_chatstack/events";

/// A handle to change what the page server says while it runs.
#[derive(Debug, Clone)]
pub struct Page {
    config: Arc<RwLock<PageConfig>>,
    events: broadcast::Sender<&'static str>,
}

impl Page {
    /// A page server's state, before it serves.
    pub fn new(config: PageConfig) -> Self {
        let (events, _) = broadcast::channel(16);
        Page {
            config: Arc::new(RwLock::new(config)),
            events,
        }
    }

    /// Points the page at a (new) WebSocket URL.
    pub fn set_websocket_url(&self, url: &str) {
        self.config.write().expect("page config lock").websocket_url = url.to_owned();
    }

    /// Tells open pages that their files changed (they reload).
    pub fn web_changed(&self) {
        let _ = self.events.send("web");
    }

    /// The router: `/chatstack.json`, the event stream, then the files.
    pub fn router(&self, source: Source) -> Router {
        let app = Router::new()
            .route("/chatstack.json", get(config))
            .route(EVENTS, get(events))
            .with_state(self.clone());
        match source {
            Source::Dir(dir) => app.fallback_service(
                tower_http::services::ServeDir::new(dir).append_index_html_on_directories(true),
            ),
            Source::Builtin(html) => app.fallback(move || async move { builtin(html) }),
        }
        .layer(axum::middleware::from_fn(loopback_host_only))
    }
}

/// Refuses a request whose `Host` is not a loopback name: a page on another site that rebinds
/// its own name to 127.0.0.1 still sends its own name.
async fn loopback_host_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if is_loopback_host(host) {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "chatstack dev serves this page to loopback names only (127.0.0.1, localhost, [::1])\n",
        )
            .into_response()
    }
}

/// `127.0.0.1[:port]`, `localhost[:port]`, `[::1][:port]` (any 127.x address too).
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn config(State(page): State<Page>) -> Response {
    let config = page.config.read().expect("page config lock").clone();
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(config)).into_response()
}

async fn events(State(page): State<Page>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut rx = page.events.subscribe();
    let stream = async_stream(move |tx| async move {
        loop {
            match rx.recv().await {
                Ok(name) => {
                    if tx
                        .send(Event::default().event(name).data(name))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A stream fed by a task (no extra crate for generator syntax).
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}

fn builtin(html: &'static [u8]) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_body(app: Router, path: &str) -> (StatusCode, String) {
        get_from(app, path, "127.0.0.1:8080").await
    }

    async fn get_from(app: Router, path: &str, host: &str) -> (StatusCode, String) {
        let res = app
            .oneshot(
                Request::get(path)
                    .header("host", host)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn serves_the_config_and_the_files_below_the_web_dir_only() {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web");
        std::fs::create_dir(&web).unwrap();
        std::fs::write(web.join("index.html"), "<h1>chat</h1>").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let page = Page::new(PageConfig {
            stack: "demo".into(),
            stage: "dev".into(),
            reload: EVENTS,
            ..Default::default()
        });
        page.set_websocket_url("ws://127.0.0.1:1/service-x/release/");
        let app = page.router(Source::Dir(web));
        let (status, body) = get_body(app.clone(), "/").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "<h1>chat</h1>"));
        let (_, body) = get_body(app.clone(), "/chatstack.json").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["websocketUrl"], "ws://127.0.0.1:1/service-x/release/");
        assert_eq!(v["reload"], EVENTS);
        for escape in ["/../secret.txt", "/%2e%2e/secret.txt"] {
            let (status, body) = get_body(app.clone(), escape).await;
            assert_ne!(body, "no", "{escape} reached outside the web dir");
            assert!(status.is_client_error(), "{escape}: {status}");
        }
    }

    #[tokio::test]
    async fn only_loopback_names_are_served() {
        let page = Page::new(PageConfig::default());
        let app = page.router(Source::Builtin(b"<p>x</p>"));
        for host in [
            "127.0.0.1:1",
            "localhost:9",
            "[::1]:80",
            "LOCALHOST",
            "127.0.0.2",
        ] {
            assert_eq!(
                get_from(app.clone(), "/", host).await.0,
                StatusCode::OK,
                "{host}"
            );
        }
        for host in [
            "evil.example:80",
            "127.0.0.1.evil.example",
            "",
            "10.0.0.1:80",
        ] {
            assert_eq!(
                get_from(app.clone(), "/", host).await.0,
                StatusCode::FORBIDDEN,
                "{host}"
            );
        }
    }

    #[tokio::test]
    async fn a_builtin_page_answers_every_path() {
        let page = Page::new(PageConfig::default());
        let (status, body) = get_body(page.router(Source::Builtin(b"<p>x</p>")), "/").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "<p>x</p>"));
    }
}
