//! A connection the accept loop can cut after it has handed the socket away.
//!
//! An HTTP connection's task is the accept loop's own: dropping it closes the socket. A
//! WebSocket is not: hyper hands the upgraded socket to a task of jsonrpsee's, which holds it
//! (and every subscription on it) until the client closes it. To close it all the same when its
//! client is banned, the accept loop serves every connection through a [`Severable`] socket and
//! keeps its [`Cut`]:
//!
//! - [`Cut::sever`] makes every read of the socket from then on end (EOF) and every write fail,
//!   and wakes the task waiting on either: jsonrpsee's task then ends and drops the socket and
//!   the subscriptions;
//! - [`Cut::released`] resolves once the socket is dropped, by whichever task held it: how long
//!   the accept loop has to keep watching for a ban.

use futures::task::AtomicWaker;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// What the socket and its [`Cut`] share.
#[derive(Default)]
struct Shared {
    severed: AtomicBool,
    /// The tasks last waiting to read and to write (they may be two).
    reader: AtomicWaker,
    writer: AtomicWaker,
    /// Notified (a permit kept) when the socket is dropped.
    released: Notify,
}

/// `io` served so that the returned [`Cut`] can end it.
pub(super) fn severable<S>(io: S) -> (Severable<S>, Cut) {
    let shared = Arc::new(Shared::default());
    (
        Severable {
            io,
            shared: shared.clone(),
        },
        Cut(shared),
    )
}

/// A socket that reads EOF and refuses writes once its [`Cut`] is severed.
pub(super) struct Severable<S> {
    io: S,
    shared: Arc<Shared>,
}

/// Ends a [`Severable`] socket wherever it is held.
pub(super) struct Cut(Arc<Shared>);

impl Cut {
    /// From now on the socket reads EOF and refuses writes; its waiting tasks are woken.
    pub(super) fn sever(&self) {
        self.0.severed.store(true, Ordering::Release);
        self.0.reader.wake();
        self.0.writer.wake();
    }

    /// Resolves once the socket has been dropped (at once if it already was).
    pub(super) async fn released(&self) {
        self.0.released.notified().await;
    }
}

impl<S> Severable<S> {
    /// Whether the socket was severed, after registering `waker` to hear of it. Registering
    /// first, then reading the flag, means a [`Cut::sever`] between the two still wakes us.
    fn severed(&self, waker: &AtomicWaker, cx: &Context<'_>) -> bool {
        waker.register(cx.waker());
        self.shared.severed.load(Ordering::Acquire)
    }
}

fn severed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the connection was closed by the node",
    )
}

impl<S> Drop for Severable<S> {
    fn drop(&mut self) {
        self.shared.released.notify_one();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Severable<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.severed(&self.shared.reader, cx) {
            // Nothing put into `buf`: end of stream.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Severable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.severed(&self.shared.writer, cx) {
            return Poll::Ready(Err(severed_error()));
        }
        Pin::new(&mut self.io).poll_write(cx, bytes)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.severed(&self.shared.writer, cx) {
            return Poll::Ready(Err(severed_error()));
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.severed(&self.shared.writer, cx) {
            return Poll::Ready(Err(severed_error()));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shared.severed.load(Ordering::Acquire) {
            // Nothing more will be written either way.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SOON: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_severed_socket_ends_the_read_its_holder_waits_on_and_refuses_writes() {
        let (near, mut far) = tokio::io::duplex(64);
        let (mut io, cut) = severable(near);
        // Before the cut the socket is the socket.
        far.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        // A read waiting for bytes that never come ends when the socket is severed.
        let holder = tokio::spawn(async move {
            let mut buffer = [0u8; 16];
            let read = io.read(&mut buffer).await;
            (read.map_err(|e| e.kind()), io)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !holder.is_finished(),
            "the read waits while the peer says nothing"
        );
        cut.sever();
        let (read, mut io) = tokio::time::timeout(SOON, holder).await.unwrap().unwrap();
        assert_eq!(read, Ok(0), "end of stream");
        let write = io.write_all(b"pong").await.unwrap_err();
        assert_eq!(write.kind(), io::ErrorKind::ConnectionAborted);
        // The peer sent more after the cut: it is not read either.
        far.write_all(b"more").await.unwrap();
        assert_eq!(io.read(&mut got).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn released_resolves_when_the_socket_is_dropped_wherever_it_is_held() {
        let (near, _far) = tokio::io::duplex(64);
        let (io, cut) = severable(near);
        let waiting = tokio::time::timeout(Duration::from_millis(50), cut.released()).await;
        assert!(waiting.is_err(), "the socket is still held");
        tokio::spawn(async move { drop(io) }).await.unwrap();
        tokio::time::timeout(SOON, cut.released()).await.unwrap();
    }
}
