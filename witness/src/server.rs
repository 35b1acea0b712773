//! The HTTP/1.1 accept loop the witness and the node serve with, bounded against clients
//! that connect and then say nothing (or say it slowly).
//!
//! `axum::serve` sets no header-read timer and takes every connection it is offered, so a
//! few hundred half-open connections ("slowloris") are held forever and each costs a
//! socket. Here:
//! - every connection must deliver a complete request head within `header_read_timeout`
//!   of the server starting to wait for it, and that wait starts again after each
//!   response, so the same timer is the keep-alive idle timeout;
//! - at most `max_connections` are served at once; beyond that the loop stops accepting
//!   and new connections wait in the kernel's backlog until a slot frees (which the timer
//!   guarantees happens), so file descriptors never run out.
//!
//! - a connection whose client accepts no response bytes for `header_read_timeout`
//!   (a "slow read": the response waits on a zero TCP window) is closed, so a reader that
//!   stalls cannot keep its slot and its response buffers for ever.
//!
//! Request bodies and handlers are bounded by the routers' own body limits and request
//! timeouts.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connection limits for [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time a connection has to send a complete request head (and the longest a
    /// keep-alive connection may sit idle between requests, or a response may wait for
    /// the client to accept any byte).
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            // Longer than the 10 s recosign interval, so a log's keep-alive connection to
            // a witness is not closed just as its next request goes out.
            header_read_timeout: Duration::from_secs(15),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, asks every
/// open connection to finish its current request and close, and waits for them (callers
/// bound that wait with their own grace period).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve_tls(listener, app, limits, None, shutdown).await
}

/// As [`serve`]; with `tls`, every connection is HTTPS. The TLS handshake runs in the
/// connection's own task and must finish within `header_read_timeout` (the same bound as
/// a request head), so a client that stalls in it holds its slot no longer than that.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, peer)) => (s, peer),
                Err(e) => {
                    // Per-connection errors (reset before accept) are the client's; running
                    // out of descriptors clears when connections close, so wait a little.
                    if !is_connection_error(&e) {
                        tracing::warn!("accept failed: {e}; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        let guarded = WriteStallGuard::new(stream, limits.header_read_timeout);
        // Handlers that log who asked (a refused submission) read the client's address
        // as axum's `ConnectInfo`.
        let svc = tower_layer::Layer::layer(
            &axum::Extension(axum::extract::ConnectInfo(peer)),
            app.clone(),
        );
        if let Some(acceptor) = &tls {
            let (acceptor, builder, watcher) =
                (acceptor.clone(), builder.clone(), graceful.watcher());
            let limit = limits.header_read_timeout;
            tokio::spawn(async move {
                match tokio::time::timeout(limit, acceptor.accept(guarded)).await {
                    Ok(Ok(stream)) => {
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!("connection closed: {e}");
                        }
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake not finished within {limit:?}"),
                }
                drop(permit);
            });
            continue;
        }
        let io = TokioIo::new(guarded);
        let conn = builder.serve_connection(io, TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// A socket whose writes fail with `TimedOut` once one has made no progress for `limit`:
/// hyper has no write timeout, and a client that stops reading would otherwise hold its
/// connection (and the response being sent to it) indefinitely.
struct WriteStallGuard {
    io: TcpStream,
    limit: Duration,
    /// Running while a write or flush waits on the client; cleared by any progress.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteStallGuard {
    fn new(io: TcpStream, limit: Duration) -> Self {
        WriteStallGuard {
            io,
            limit,
            stall: None,
        }
    }

    /// Passes a finished write through (clearing the timer); turns a pending one into
    /// `TimedOut` once the timer fires.
    fn guard<T>(&mut self, r: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stall = None;
            return r;
        }
        let limit = self.limit;
        let timer = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client accepted no response bytes for {limit:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for WriteStallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteStallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.guard(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.guard(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.guard(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_shutdown(cx);
        self.guard(r, cx)
    }
}
