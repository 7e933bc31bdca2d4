//! TLS for the listener (`serve --tls-cert FILE --tls-key FILE`), so an inbox can face the
//! internet without a proxy. Handshakes run on tasks of their own: one slow or silent client
//! must not hold up accepting the next.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod};
use openssl::x509::X509;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_openssl::SslStream;

use crate::receive::write_stall::Guarded;
use crate::{Error, Result};

/// A handshake not done by then is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Connections handshaken but not yet taken by the server.
const READY: usize = 64;
/// Handshakes at once; past this, new connections are closed at once (unauthenticated
/// clients must not be able to hold sockets and tasks without bound).
const HANDSHAKING: usize = 256;

/// A connection whose handshake is done.
pub type TlsStream = SslStream<TcpStream>;

/// A certificate chain and its key, ready to serve.
#[derive(Clone)]
pub struct TlsConfig(Arc<SslAcceptor>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (the server's own first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), and checks that they belong together: a wrong pair is told
    /// at start, not as failed handshakes later. Protocols and ciphers are Mozilla's
    /// "intermediate" profile (TLS 1.2 and 1.3).
    pub fn load(cert: &Path, key: &Path) -> Result<TlsConfig> {
        let cert_error = |e: &dyn std::fmt::Display| {
            Error::Invalid(format!("--tls-cert {}: {e}", cert.display()))
        };
        let key_error =
            |e: &dyn std::fmt::Display| Error::Invalid(format!("--tls-key {}: {e}", key.display()));
        let chain = std::fs::read(cert).map_err(|e| cert_error(&e))?;
        let chain = X509::stack_from_pem(&chain).map_err(|e| cert_error(&e))?;
        let Some((leaf, rest)) = chain.split_first() else {
            return Err(cert_error(&"no PEM certificate in it"));
        };
        let pem = std::fs::read(key).map_err(|e| key_error(&e))?;
        let private = PKey::private_key_from_pem(&pem)
            .map_err(|e| key_error(&format!("not a PEM private key ({e})")))?;
        let tls = |e: openssl::error::ErrorStack| Error::Invalid(format!("TLS: {e}"));
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(tls)?;
        acceptor.set_certificate(leaf).map_err(tls)?;
        for intermediate in rest {
            acceptor
                .add_extra_chain_cert(intermediate.clone())
                .map_err(tls)?;
        }
        // OpenSSL checks the key against the certificate as it takes it, and again here.
        let not_a_pair = |e: openssl::error::ErrorStack| {
            Error::Invalid(format!("--tls-cert/--tls-key do not make a pair: {e}"))
        };
        acceptor.set_private_key(&private).map_err(not_a_pair)?;
        acceptor.check_private_key().map_err(not_a_pair)?;
        Ok(TlsConfig(Arc::new(acceptor.build())))
    }

    /// The handshake with one client, as the server.
    async fn accept(&self, tcp: TcpStream) -> std::result::Result<TlsStream, String> {
        let ssl = Ssl::new(self.0.context()).map_err(|e| e.to_string())?;
        let mut stream = SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
        std::pin::Pin::new(&mut stream)
            .accept()
            .await
            .map_err(|e| e.to_string())?;
        Ok(stream)
    }
}

/// Accepts TCP connections and hands out those whose TLS handshake succeeded.
pub struct TlsListener {
    ready: mpsc::Receiver<(Guarded<TlsStream>, SocketAddr)>,
    addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(inner: TcpListener, config: &TlsConfig, stall: Duration) -> io::Result<TlsListener> {
        let addr = inner.local_addr()?;
        let acceptor = config.clone();
        let (sender, ready) = mpsc::channel(READY);
        let mut inner = inner;
        let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKING));
        let accepting = tokio::spawn(async move {
            loop {
                // Logs and retries accept errors itself.
                let (tcp, peer) = axum::serve::Listener::accept(&mut inner).await;
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(
                        "{HANDSHAKING} TLS handshakes under way: closing {peer}'s connection"
                    );
                    continue;
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((Guarded::new(tls, stall), peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Guarded<TlsStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accepting task ended only if the listener is going away.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
