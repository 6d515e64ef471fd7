//! Serving the router with bounds (README, "The HTTP API"): a header-read timeout, an
//! idle timeout, a connection limit that makes room by closing connections that never
//! sent a request (see [`slots`](super::slots)), and a request body limit. HTTP/1.1 only:
//! probes, Prometheus and browsers speak it to a plain-HTTP port, and hyper's auto
//! protocol detection would wait for a partial HTTP/2 preface with no timeout at all.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Response;
use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use super::slots::{Slot, Slots};

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's headers must arrive within this of the connection (or the previous
    /// response) being ready to read them.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight is closed this long after its last one.
    /// (hyper's header-read timer already bounds a kept-alive connection waiting for its
    /// next request; this bounds the rest, e.g. a client that never reads its response.)
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Larger request bodies are refused with 413 before they are read.
    pub max_body_bytes: usize,
}

pub const LIMITS: Limits = Limits {
    header_read_timeout: Duration::from_secs(5),
    idle_timeout: Duration::from_secs(60),
    // Each connection costs hyper an 8 KiB read buffer plus its task: 512 stay far below
    // the daemon's memory budget, and far above what probes, scrapes and users need.
    max_connections: 512,
    // No route reads a body; the POST operations take none.
    max_body_bytes: 64 * 1024,
};

/// Pending connections the kernel queues for `accept`. A burst larger than this makes it
/// drop SYNs, and a dropped SYN costs the client (a kubelet probe among them) a
/// one-second retransmit; Linux caps it at `net.core.somaxconn` (4096 by default).
const BACKLOG: u32 = 4096;

/// A listening socket on `address` with a deep accept queue.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Slots::new(limits.max_connections);
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted:
                // pause briefly rather than spin, and keep serving.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some((slot, evicted)) = slots.admit() else {
            tracing::debug!("connection limit reached with every connection in use: refusing one");
            continue;
        };
        if head_arrived(&stream) {
            slot.served();
        }
        tokio::spawn(connection(stream, router.clone(), limits, Arc::new(slot), evicted, stopping.clone()));
    }
    let _ = stop.send(true);
    while slots.open() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// True when a whole request head already waits in the connection's receive buffer: a
/// client's connection (a probe sends its request at once), not a slowloris', so it is
/// never pushed out for newer ones even if its task is polled only after hundreds more
/// connections were accepted in a flood.
fn head_arrived(stream: &TcpStream) -> bool {
    let mut bytes = [0u8; 2048];
    let mut buf = tokio::io::ReadBuf::new(&mut bytes);
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    match stream.poll_peek(&mut cx, &mut buf) {
        std::task::Poll::Ready(Ok(_)) => buf.filled().windows(4).any(|w| w == b"\r\n\r\n"),
        _ => false,
    }
}

/// One connection, until the client closes it, a timeout, an eviction or shutdown.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    slot: Arc<Slot>,
    mut evicted: tokio::sync::oneshot::Receiver<()>,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let service = Tracked { inner: TowerToHyperService::new(router), slot: slot.clone(), activity: activity.clone() };
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    loop {
        let idle_check = tokio::time::sleep(activity.until_idle(limits.idle_timeout));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = &mut evicted => return,
            () = idle_check => {
                if activity.is_idle(limits.idle_timeout) {
                    return;
                }
            }
            _ = stopping.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(limits.header_read_timeout, conn.as_mut()).await;
                return;
            }
        }
    }
}

/// The router, marking the connection served and busy while a request is handled.
struct Tracked {
    inner: TowerToHyperService<Router>,
    slot: Arc<Slot>,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.slot.served();
        let busy = Busy::start(self.activity.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(busy);
            response
        })
    }
}

/// When a connection last started or finished a request, and how many are in flight.
struct Activity {
    since: Instant,
    /// Milliseconds after `since`.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity { since: Instant::now(), last: AtomicU64::new(0), in_flight: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        let now = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Release);
    }

    fn quiet_for(&self) -> Duration {
        self.since.elapsed().saturating_sub(Duration::from_millis(self.last.load(Ordering::Acquire)))
    }

    fn is_idle(&self, idle_timeout: Duration) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && self.quiet_for() >= idle_timeout
    }

    /// How long until the connection could be idle (at least a moment, so a busy
    /// connection is looked at again rather than spun on).
    fn until_idle(&self, idle_timeout: Duration) -> Duration {
        idle_timeout.saturating_sub(self.quiet_for()).max(Duration::from_millis(100))
    }
}

/// A request in flight on a connection.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.touch();
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_without_requests_in_flight_for_the_timeout() {
        let activity = Arc::new(Activity::new());
        assert!(activity.is_idle(Duration::ZERO));
        assert!(!activity.is_idle(Duration::from_secs(60)));
        let busy = Busy::start(activity.clone());
        assert!(!activity.is_idle(Duration::ZERO), "a request in flight is never idle");
        drop(busy);
        assert!(activity.is_idle(Duration::ZERO));
        assert!(activity.until_idle(Duration::from_secs(60)) > Duration::from_secs(59));
    }
}
