//! A served connection's two clocks, kept apart: a request's headers must come within
//! [`HEADER_READ_TIMEOUT`] (slowloris), and a kept-alive connection with no request may sit
//! idle for [`IDLE_TIMEOUT`], longer than its clients keep an idle connection.
//!
//! hyper has one timer for both (its header read timeout starts when it waits for the next
//! request, so a kept-alive connection is closed after that long idle). A server closing an
//! idle connection races a client that sends a request on it at that moment: the request
//! arrives after the close and is lost, unanswered, a `POST` no client may send again. The
//! client ending its idle connections first (hyper's and Go's pools: 90 s) closes no race.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::rt::Timer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::server::HEADER_READ_TIMEOUT;

/// How long a kept-alive connection may sit with no request before the server closes it:
/// longer than [`super::client::POOL_IDLE_TIMEOUT`] (and the 90 s of hyper's and Go's client
/// pools), so the client retires an idle connection before the server would.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a connection is between requests, shared by its stream and its service.
#[derive(Debug)]
struct Phase {
    /// When the connection is closed unless something happens first (`None`: a request is
    /// being served, the handler's own time).
    deadline: Option<Instant>,
    /// No byte of a next request yet: the first one starts the header clock.
    idle: bool,
    /// Whether the connection has these limits at all (a simulated stand-in for a large
    /// service has none).
    limited: bool,
    /// The connection's task as it last waited to read: woken when a deadline is set, so
    /// that it waits for the deadline too (hyper does not read again after an answer until
    /// bytes come).
    reader: Option<Waker>,
}

/// The shared clock of one connection: the service says when a request starts and ends.
#[derive(Debug, Clone)]
pub(super) struct Watch(Arc<Mutex<Phase>>);

impl Watch {
    /// A new connection: with `limited`, closed for time once [`Watch::begin`] starts its
    /// clock; without, never.
    pub(super) fn new(limited: bool) -> Self {
        Watch(Arc::new(Mutex::new(Phase {
            deadline: None,
            idle: false,
            limited,
            reader: None,
        })))
    }

    /// The connection is served (out of the backlog): its first request's headers are due
    /// within the header timeout.
    pub(super) fn begin(&self) {
        let mut phase = self.phase();
        if phase.limited {
            phase.deadline = Some(Instant::now() + HEADER_READ_TIMEOUT);
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A request's headers have been read: no deadline while it is served.
    pub(super) fn serving(&self) {
        let mut phase = self.phase();
        phase.deadline = None;
        phase.idle = false;
    }

    /// A response is ready: the connection idles until the next request's first byte.
    pub(super) fn answered(&self) {
        let mut phase = self.phase();
        if phase.limited {
            phase.deadline = Some(Instant::now() + IDLE_TIMEOUT);
            phase.idle = true;
            if let Some(reader) = phase.reader.take() {
                reader.wake();
            }
        }
    }

    /// Bytes arrived: an idle connection's next request has begun.
    fn read_some(&self) {
        let mut phase = self.phase();
        if phase.idle {
            phase.idle = false;
            phase.deadline = Some(Instant::now() + HEADER_READ_TIMEOUT);
        }
    }

    /// The deadline; `waker` is woken when another is set.
    fn deadline(&self, waker: &Waker) -> Option<Instant> {
        let mut phase = self.phase();
        if phase.limited {
            phase.reader = Some(waker.clone());
        }
        phase.deadline
    }
}

/// A served connection's stream that ends (reads end of stream) at its [`Watch`]'s deadline.
pub(super) struct Watched<S> {
    inner: S,
    watch: Watch,
    sleep: Option<(Instant, Pin<Box<dyn hyper::rt::Sleep>>)>,
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, watch: Watch) -> Self {
        Watched {
            inner,
            watch,
            sleep: None,
        }
    }

    /// Whether the deadline has passed; if not, the task wakes at it.
    fn due(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.watch.deadline(cx.waker()) else {
            self.sleep = None;
            return false;
        };
        if Instant::now() >= deadline {
            return true;
        }
        let timer = crate::time::HyperTimer;
        match &mut self.sleep {
            Some((at, _)) if *at == deadline => {}
            Some((at, sleep)) => {
                timer.reset(sleep, deadline.into());
                *at = deadline;
            }
            None => self.sleep = Some((deadline, timer.sleep_until(deadline.into()))),
        }
        let (_, sleep) = self.sleep.as_mut().expect("set above");
        sleep.as_mut().poll(cx).is_ready()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.watch.read_some();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // Past the deadline: end of stream, and hyper closes the connection (quietly
            // when it is idle, as an incomplete request when headers were coming).
            Poll::Pending if this.due(cx) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
