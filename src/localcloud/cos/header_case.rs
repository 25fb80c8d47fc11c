//! COS's response header names, spelled as COS spells them (`ETag`, `Content-Type`,
//! `Last-Modified`, but `x-cos-request-id`).
//!
//! The case is observable: the official Python SDK returns response headers as a plain `dict`
//! (`put_object(...)['ETag']`), so a server that writes `etag:` breaks code written against the
//! real COS. The `http` crate lowercases every name, and hyper writes them lowercase unless the
//! response carries hyper's header-case map — a type hyper does not export, which it builds only
//! while parsing a message with `preserve_header_case`. So we let hyper parse, once, an
//! in-memory request whose header names are spelled as COS spells its response headers, keep
//! that request's extensions, and attach a copy to each COS response.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use axum::http::Extensions;

/// The names whose spelling differs from lowercase in COS responses.
const TEMPLATE: &[u8] = b"GET / HTTP/1.1\r\n\
Host: h\r\n\
ETag: x\r\n\
Content-Type: x\r\n\
Content-Length: 0\r\n\
Content-Range: x\r\n\
Last-Modified: x\r\n\
Accept-Ranges: x\r\n\
Server: x\r\n\
Date: x\r\n\
Cache-Control: x\r\n\
Content-Disposition: x\r\n\
Content-Encoding: x\r\n\
Content-Language: x\r\n\
Expires: x\r\n\
Connection: close\r\n\
\r\n";

/// Extensions to add to a response so hyper writes COS's header spelling; empty if hyper could
/// not produce them (then names go out lowercase, which HTTP allows).
pub(crate) fn extensions() -> &'static Extensions {
    static CASE: OnceLock<Extensions> = OnceLock::new();
    CASE.get_or_init(|| capture().unwrap_or_default())
}

fn capture() -> Option<Extensions> {
    let captured: Arc<Mutex<Option<Extensions>>> = Arc::default();
    let sink = captured.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        if let Ok(mut slot) = sink.lock() {
            *slot = Some(req.extensions().clone());
        }
        async { Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_empty())) }
    });
    let io = MemoryIo {
        input: TEMPLATE,
        pos: 0,
    };
    let mut conn = std::pin::pin!(
        hyper::server::conn::http1::Builder::new()
            .preserve_header_case(true)
            .serve_connection(io, service)
    );
    // The I/O is always ready and no timer is configured, so polling never waits on anything.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    for _ in 0..100 {
        if conn.as_mut().poll(&mut cx).is_ready() {
            break;
        }
    }
    let mut slot = captured.lock().ok()?;
    slot.take()
}

fn http_body_empty() -> axum::body::Body {
    axum::body::Body::empty()
}

/// Reads `input`, then end of file; swallows writes.
struct MemoryIo {
    input: &'static [u8],
    pos: usize,
}

impl hyper::rt::Read for MemoryIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let rest = &self.input[self.pos..];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for MemoryIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hyper_hands_over_a_case_map() {
        assert!(!super::extensions().is_empty());
    }
}
