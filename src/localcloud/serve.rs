//! The HTTP server under [`super::run`]: one hyper HTTP/1.1 connection per accepted socket,
//! bounded so that slow or abundant clients cannot take the local cloud down.
//!
//! - **Header read timeout** ([`ServeLimits::header_read_timeout`], 30 s): a client that has
//!   not sent a whole request head by then (including an idle keep-alive connection) is
//!   disconnected (hyper's timer).
//! - **Body read timeout** ([`ServeLimits::body_read_timeout`], 30 s): a request body that
//!   produces no bytes for that long fails, and the surface answers its own error
//!   (`tower_http`'s `TimeoutBody`, applied in `dispatch`).
//! - **Connection capacity** ([`ServeLimits::max_connections`], by default the open-file limit
//!   minus a reserve for the store, blobs and function workers): every socket holds a slot,
//!   WebSocket connections included, until it closes. A connection beyond it is answered at
//!   once with the documented `503` and `{"errNo":6,…}` and closed, instead of the accept
//!   failing with `EMFILE` and clients seeing 502/504.
//! - At start, the soft `RLIMIT_NOFILE` is raised to the hard limit
//!   ([`raise_open_file_limit`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// File descriptors kept back from client connections: the database, blob files being
/// written, function workers' pipes and fork server, logs.
pub const FD_RESERVE: u64 = 256;

/// The body length a request declares (`Content-Length`), if it declares one: what a handler
/// compares with its limit before reading a byte, so an oversized body is refused at once
/// instead of held until the body timeout.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// How the server bounds its clients (defaults in the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// Longest wait for a request head.
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_read_timeout: Duration,
    /// Open client connections at most; `None` = derived from the open-file limit.
    pub max_connections: Option<usize>,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: None,
        }
    }
}

impl ServeLimits {
    /// The connection capacity: `max_connections`, else the open-file soft limit (raised to
    /// the hard limit first) minus [`FD_RESERVE`], at least 16.
    pub fn capacity(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let limit = raise_open_file_limit();
            usize::try_from(limit.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX)
        })
    }
}

/// Raises the soft open-file limit to the hard limit (once is enough; later calls only read
/// it) and returns the soft limit now in force.
#[cfg(unix)]
#[allow(clippy::useless_conversion)] // rlim_t is u64 on Linux, not everywhere
pub fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                tracing::debug!(
                    from = lim.rlim_cur,
                    to = lim.rlim_max,
                    "raised the open-file limit"
                );
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    u64::from(lim.rlim_cur)
}

/// Off Unix the limit is not changed; assume a conservative one.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> u64 {
    2048
}

/// A socket holding a connection slot until it is dropped (after a WebSocket upgrade too:
/// hyper hands the same IO to the upgraded connection).
struct Counted {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The answer to a connection over capacity (README: "connection limit reached | 503 | 6").
const OVER_CAPACITY: &str = "{\"errNo\":6,\"errMsg\":\"the local cloud has as many open \
                             connections as it can hold; retry later\"}";

async fn refuse_over_capacity(mut tcp: TcpStream) {
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        OVER_CAPACITY.len()
    );
    let write = async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(OVER_CAPACITY.as_bytes()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Serves `router` on `listener` until `stop` is cancelled; then stops accepting, lets each
/// connection finish the request it is on, and returns once they have.
pub(super) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: &ServeLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let capacity = limits.capacity();
    let slots = Arc::new(Semaphore::new(capacity));
    tracing::debug!(capacity, "serving");
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    let mut full_logged = false;
    loop {
        while connections.try_join_next().is_some() {}
        let (tcp, remote) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE/ENFILE and the like: wait for sockets to close, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !full_logged {
                tracing::warn!("{capacity} connections open, the most it holds: answering 503");
                full_logged = true;
            }
            connections.spawn(refuse_over_capacity(tcp));
            continue;
        };
        full_logged = false;
        // Small replies and frames go out at once (no Nagle): a pipelined push-back client
        // or a WebSocket client that delays its ACKs would otherwise wait ~40 ms per reply.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let io = TokioIo::new(Counted {
            io: tcp,
            _slot: slot,
        });
        // The client's address goes in each request's extensions (`ConnectInfo`, which the
        // gateway reports as `sourceIp`).
        let tower = hyper_util::service::TowerToHyperService::new(router.clone());
        let service =
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                hyper::service::Service::call(&tower, req)
            });
        let conn = builder.serve_connection(io, service).with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            tokio::pin!(conn);
            let served = tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::debug!("connection from {remote}: {e}");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}
