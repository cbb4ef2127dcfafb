//! TLS connections that read into a bounded window of the driver's buffer.
//!
//! tokio-postgres reads into a `BytesMut` that grows to hold the whole message being received
//! (a 200 MB value arrives as one 200 MB `DataRow` or `CopyData`), and hands each read the
//! buffer's entire spare capacity. tokio-native-tls's `poll_read` calls
//! `ReadBuf::initialize_unfilled()` on what it is given before decrypting one TLS record (at
//! most 16 KB) into it: with a fresh, uninitialised window of up to the message's size on
//! every call, each 16 KB read first zeroes up to hundreds of megabytes. Measured on a 200 MB
//! value (`docs/benchmarks/backup.md`): most of a TLS backup's time went to `memset` under
//! `initialize_unfilled`.
//!
//! [`BoundedReads`] wraps any `MakeTlsConnect` so that each read is offered at most
//! [`READ_WINDOW`] bytes of the spare capacity: the zeroing then costs what the read does, and
//! nothing else changes (the same TLS library, certificates and checks).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// The most a single read may fill (and so the most the TLS layer zeroes first): a few TLS
/// records.
pub const READ_WINDOW: usize = 64 * 1024;

/// A TLS connector (or a maker of them) whose streams read through [`BoundedReadStream`].
#[derive(Clone, Debug)]
pub struct BoundedReads<T>(pub T);

impl<S, M> MakeTlsConnect<S> for BoundedReads<M>
where
    M: MakeTlsConnect<S>,
    <M::TlsConnect as TlsConnect<S>>::Future: Send + 'static,
{
    type Stream = BoundedReadStream<M::Stream>;
    type TlsConnect = BoundedReads<M::TlsConnect>;
    type Error = M::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        self.0.make_tls_connect(domain).map(BoundedReads)
    }
}

impl<S, T> TlsConnect<S> for BoundedReads<T>
where
    T: TlsConnect<S>,
    T::Future: Send + 'static,
{
    type Stream = BoundedReadStream<T::Stream>;
    type Error = T::Error;
    #[allow(clippy::type_complexity)]
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, Self::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connecting = self.0.connect(stream);
        Box::pin(async move { connecting.await.map(BoundedReadStream) })
    }
}

/// A TLS stream whose reads fill at most [`READ_WINDOW`] bytes at a time.
pub struct BoundedReadStream<S>(S);

impl<S: AsyncRead + Unpin> AsyncRead for BoundedReadStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() <= READ_WINDOW {
            return Pin::new(&mut self.0).poll_read(cx, buf);
        }
        // SAFETY: only the first `filled` bytes of the window are marked initialised and
        // filled below, and the window never is read before the inner stream filled it.
        let window = unsafe { &mut buf.unfilled_mut()[..READ_WINDOW] };
        let mut limited = ReadBuf::uninit(window);
        let polled = Pin::new(&mut self.0).poll_read(cx, &mut limited);
        let filled = limited.filled().len();
        if let Poll::Ready(Ok(())) = polled {
            // SAFETY: the inner stream initialised and filled `filled` bytes of the window,
            // which starts where `buf`'s unfilled part does.
            unsafe { buf.assume_init(filled) };
            buf.advance(filled);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BoundedReadStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl<S: TlsStream + Unpin> TlsStream for BoundedReadStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.0.channel_binding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A stream that, like tokio-native-tls, initialises everything it is offered, and
    /// records the largest window it saw.
    struct Initialising {
        data: Vec<u8>,
        largest_window: usize,
    }

    impl AsyncRead for Initialising {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.largest_window = self.largest_window.max(buf.remaining());
            let window = buf.initialize_unfilled();
            let n = window.len().min(self.data.len()).min(16 * 1024);
            window[..n].copy_from_slice(&self.data[..n]);
            self.data.drain(..n);
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn reads_see_a_bounded_window_and_every_byte_arrives() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut stream = BoundedReadStream(Initialising {
            data: data.clone(),
            largest_window: 0,
        });
        let mut received = bytes::BytesMut::with_capacity(8 * 1024 * 1024);
        while stream.read_buf(&mut received).await.unwrap() > 0 {}
        assert_eq!(&received[..], &data[..]);
        assert!(stream.0.largest_window <= READ_WINDOW);
    }
}
