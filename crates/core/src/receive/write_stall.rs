//! Connections whose peer stops reading are closed after a while. Without this, a client
//! that never reads its answer (a stalled stream subscriber above all) would hold its
//! connection and the server's buffers for it forever: hyper stops polling a response body
//! while the socket is full, so nothing in the handler can end it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Accepts like a [`TcpListener`], handing out [`Guarded`] connections.
pub struct GuardedListener {
    inner: TcpListener,
    limit: Duration,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, limit: Duration) -> GuardedListener {
        GuardedListener { inner, limit }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = Guarded<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (Guarded::new(io, self.limit), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection whose writes fail with `TimedOut` once one has waited `limit` for room.
pub struct Guarded<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write waits.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, limit: Duration) -> Guarded<S> {
        Guarded {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes a write's result through, timing how long it has been waiting.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.stalled = None;
            return result;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer read nothing for {limit:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_limit() {
        // A duplex pipe of 64 bytes that nobody reads: the second write waits for room.
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(ours, Duration::from_millis(100));
        guarded.write_all(&[0; 64]).await.expect("fits");
        let started = std::time::Instant::now();
        let err = guarded
            .write_all(&[0; 64])
            .await
            .expect_err("no room, ever");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_reader_that_keeps_up_is_left_alone() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(ours, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut theirs, &mut sink)
                .await
                .map(|_| sink.len())
        });
        // Each write waits a little for room, never the limit in one go.
        for _ in 0..20 {
            guarded.write_all(&[1; 64]).await.expect("room comes");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(guarded);
        assert_eq!(reader.await.expect("reader").expect("read"), 20 * 64);
    }
}
