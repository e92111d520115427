//! Connections: admitted under a cap, served by hyper one request each, watched for stalls.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tower_service::Service;

use crate::Limits;

/// Largest request head (line and headers); hyper answers 431 past it.
const MAX_HEAD: usize = 64 * 1024;
/// The kernel's send buffer per connection: small, so a client that stops reading is
/// noticed after kilobytes, not megabytes.
const SEND_BUFFER: usize = 64 * 1024;
/// After answering, what a client is still sending is read and dropped (bounded), so that
/// closing with unread input does not reset the connection before the answer is read.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 16 * 1024 * 1024;
/// The whole answer to a connection beyond the cap when every open one is busy.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 26\r\n\
retry-after: 1\r\nconnection: close\r\n\r\nthe server is busy: retry\n";

/// What the accept loop and every connection share.
pub(crate) struct Shared {
    limits: Arc<Limits>,
    router: Router,
    /// Open connections by age (ids only grow), each with its count of requests in progress.
    open: Mutex<BTreeMap<u64, Slot>>,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("limits", &self.limits).field("open", &self.open_connections()).finish()
    }
}

struct Slot {
    busy: Arc<AtomicUsize>,
    task: tokio::task::AbortHandle,
}

impl Shared {
    pub(crate) fn new(limits: Arc<Limits>, router: Router) -> Self {
        Shared { limits, router, open: Mutex::default(), next_id: AtomicU64::new(0), in_flight: AtomicUsize::new(0) }
    }

    pub(crate) fn open_connections(&self) -> usize {
        self.open.lock().expect("not poisoned").len()
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Closes every connection that has no request in progress.
    pub(crate) fn close_idle(&self) {
        self.open.lock().expect("not poisoned").retain(|_, slot| {
            let busy = slot.busy.load(Ordering::Acquire) > 0;
            if !busy {
                slot.task.abort();
            }
            busy
        });
    }

    /// Serves `stream` if there is room, making room by closing the oldest idle connection.
    fn admit(self: &Arc<Self>, stream: TcpStream) {
        let mut open = self.open.lock().expect("not poisoned");
        if open.len() >= self.limits.max_connections {
            let oldest_idle = open.iter().find(|(_, s)| s.busy.load(Ordering::Acquire) == 0).map(|(id, _)| *id);
            match oldest_idle.and_then(|id| open.remove(&id)) {
                Some(evicted) => evicted.task.abort(),
                None => {
                    drop(open);
                    tracing::debug!("every connection is busy: 503");
                    let _ = stream.try_write(BUSY);
                    return;
                }
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let busy = Arc::new(AtomicUsize::new(0));
        // Spawned under the lock, so the task's own removal (on exit) comes after this insert.
        let task = tokio::spawn(serve(self.clone(), id, stream, busy.clone()));
        open.insert(id, Slot { busy, task: task.abort_handle() });
    }
}

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => shared.admit(stream),
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Removes a connection from the table when its task ends, however it ends.
struct Leave {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.shared.open.lock().expect("not poisoned").remove(&self.id);
    }
}

async fn serve(shared: Arc<Shared>, id: u64, stream: TcpStream, busy: Arc<AtomicUsize>) {
    let _leave = Leave { shared: shared.clone(), id };
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Guarded::new(stream, shared.limits.write_stall));
    let handler = shared.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let held = Busy::enter(&handler, &busy);
        let mut router = handler.router.clone();
        let response = router.call(request.map(Body::new));
        async move {
            let response = response.await.unwrap_or_else(|never: Infallible| match never {});
            Ok::<_, Infallible>(response.map(|body| Held { body, _busy: held }))
        }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.head_timeout)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD)
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// A request in progress, from its head until its answer's last byte.
struct Busy {
    shared: Arc<Shared>,
    connection: Arc<AtomicUsize>,
}

impl Busy {
    fn enter(shared: &Arc<Shared>, connection: &Arc<AtomicUsize>) -> Self {
        connection.fetch_add(1, Ordering::AcqRel);
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy { shared: shared.clone(), connection: connection.clone() }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connection.fetch_sub(1, Ordering::AcqRel);
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in progress until it is sent (an
/// event stream's lasts as long as the stream).
struct Held {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client socket whose writes may not wait longer than the stall limit, and whose close
/// lingers briefly to read out what the client is still sending.
struct Guarded {
    stream: TcpStream,
    stall: Duration,
    stalled_since: Option<Pin<Box<Sleep>>>,
    linger: Option<(Pin<Box<Sleep>>, usize)>,
}

impl Guarded {
    fn new(stream: TcpStream, stall: Duration) -> Self {
        Guarded { stream, stall, stalled_since: None, linger: None }
    }

    /// Passes a write's outcome through, turning a wait longer than the stall limit into an
    /// error that ends the connection.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled_since = None;
            return polled;
        }
        let stall = self.stall;
        let timer = self.stalled_since.get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            let polled = Pin::new(&mut this.stream).poll_shutdown(cx);
            ready!(this.watch(cx, polled))?;
            this.linger = Some((Box::pin(tokio::time::sleep(LINGER)), 0));
        }
        let (until, drained) = this.linger.as_mut().expect("set above");
        let mut scratch = [0u8; 8192];
        while *drained < LINGER_BYTES {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break,
                Poll::Ready(Ok(())) => *drained += buf.filled().len(),
                Poll::Ready(Err(_)) => break,
                Poll::Pending => return until.as_mut().poll(cx).map(Ok),
            }
        }
        Poll::Ready(Ok(()))
    }
}
