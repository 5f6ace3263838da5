//! The node's listener, plain HTTP or HTTPS (when `node.tls` names a certificate and key:
//! rustls on the `ring` provider, TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`), with the
//! limits a hostile client meets (`[http]`):
//!
//! - at most `max_connections` open at once: the next one is accepted when one closes
//!   (it waits in the kernel's backlog meanwhile, costing us nothing);
//! - a request's headers within `header_read_timeout_ms` (hyper's own timer: slowloris);
//! - a first byte within `header_read_timeout_ms` too, then no byte either way for
//!   `idle_timeout_ms` closes the connection ([`Idle`]), kept-alive ones included; the TLS
//!   handshake counts as traffic and has 10 s at most.
//!
//! Per request (body timeout, in-flight cap) see `http::edge`. On shutdown the listener
//! stops accepting and open connections finish (hyper's graceful shutdown); the runtime
//! bounds that wait.

use crate::config::{HttpConfig, TlsFiles};
use crate::metrics as m;
use axum::Router;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How long a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("node.tls: {path}: {detail}")]
    File { path: String, detail: String },
    #[error("node.tls: the certificate and key do not make a TLS server: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_error(path: &Path, detail: impl ToString) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// The TLS acceptor for `files`: every problem (unreadable file, no certificate, a key that
/// does not match) is an error naming the file, at start, never at the first connection.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert_file)
        .map_err(|e| file_error(&files.cert_file, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&files.cert_file, e))?;
    if certs.is_empty() {
        return Err(file_error(&files.cert_file, "no PEM certificate in it"));
    }
    // A private key: owner (or its group) only, as every key file (`secret_file`).
    crate::secret_file::check(&files.key_file).map_err(|e| file_error(&files.key_file, e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .map_err(|e| file_error(&files.key_file, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// The most bytes of target and headers a request may carry (431 beyond, from `edge`; the
/// HTTP/2 header list too): far above a vote's (a bearer token and a few headers).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Serves `app` on `listener` until `stop` turns true, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: HttpConfig,
    stop: watch::Receiver<bool>,
) {
    let mut stop = stop;
    let mut stopped = std::pin::pin!(async move {
        let _ = stop.wait_for(|v| *v).await;
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        // What one connection may buffer of a request head before refusing it (hyper's
        // default is ~400 KB); the exact head limit is `edge`'s, in http/mod.rs.
        .max_buf_size(4 * MAX_HEADER_BYTES);
    builder
        .http2()
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let first_byte = Duration::from_millis(limits.header_read_timeout_ms);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let (slot, tcp) = tokio::select! {
            r = accept(&listener, &slots) => r,
            _ = &mut stopped => break,
        };
        let (tls, app, builder, watcher) = (
            tls.clone(),
            app.clone(),
            builder.clone(),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let _open = OpenConnection::new();
            let io = Idle::new(tcp, first_byte, idle);
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let served = match tls {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), svc);
                    watcher.watch(conn.into_owned()).await
                }
                Some(tls) => {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(io)).await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder
                        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
}

/// The next connection, once a slot is free (a permit of `slots`, held while it is open).
async fn accept(
    listener: &TcpListener,
    slots: &Arc<tokio::sync::Semaphore>,
) -> (tokio::sync::OwnedSemaphorePermit, tokio::net::TcpStream) {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => return (slot, tcp),
            Err(e) => {
                // EMFILE and the like: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `votechain_http_open_connections` while alive.
struct OpenConnection;

impl OpenConnection {
    fn new() -> OpenConnection {
        metrics::gauge!(m::HTTP_OPEN_CONNECTIONS).increment(1.0);
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(m::HTTP_OPEN_CONNECTIONS).decrement(1.0);
    }
}

/// A stream that fails with `TimedOut` when its first byte does not come within `first`,
/// or after `timeout` without a byte read or written, which ends the connection (hyper
/// drops it). Every transfer restarts the clock. (hyper's header-read timer starts at a
/// request's first byte: a connection that never sends one is this wrapper's.)
pub struct Idle<S> {
    inner: S,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<S> Idle<S> {
    pub fn new(inner: S, first: Duration, timeout: Duration) -> Idle<S> {
        Idle {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(first)),
        }
    }

    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
    }

    /// `Pending` from the inner stream: still pending, unless the idle deadline passed.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                metrics::counter!(m::HTTP_IDLE_CLOSED).increment(1);
                Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_times_out_at_its_first_byte() {
        let (a, _b) = tokio::io::duplex(64);
        let mut a = Idle::new(a, Duration::from_secs(2), Duration::from_secs(60));
        let t0 = tokio::time::Instant::now();
        let err = a.read(&mut [0u8; 4]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_streams_time_out_and_traffic_restarts_the_clock() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = Idle::new(a, Duration::from_secs(2), Duration::from_secs(5));
        let mut buf = [0u8; 4];
        // The first byte may take up to 2 s.
        tokio::time::sleep(Duration::from_millis(1900)).await;
        b.write_all(b"ping").await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        // Traffic at 4 s intervals keeps it open past 5 s.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            b.write_all(b"ping").await.unwrap();
            a.read_exact(&mut buf).await.unwrap();
        }
        // Then silence: the read fails once 5 s pass without a byte.
        let t0 = tokio::time::Instant::now();
        let err = a.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let files = TlsFiles {
            cert_file: cert.clone(),
            key_file: key.clone(),
        };
        let err = acceptor(&files).err().unwrap().to_string();
        assert!(err.contains("c.pem"), "{err}");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let err = acceptor(&files).err().unwrap().to_string();
        assert!(err.contains("c.pem") && err.contains("no PEM"), "{err}");
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        // Readable by others: refused before it is even read.
        use std::os::unix::fs::PermissionsExt;
        let mode = |m| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(m));
        mode(0o644).unwrap();
        let err = acceptor(&files).err().unwrap().to_string();
        assert!(err.contains("k.pem") && err.contains("0644"), "{err}");
        mode(0o600).unwrap();
        let err = acceptor(&files).err().unwrap().to_string();
        assert!(err.contains("node.tls"), "{err}");
        // Another certificate's key does not match.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        assert!(acceptor(&files).is_err());
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        acceptor(&files).unwrap();
    }
}
