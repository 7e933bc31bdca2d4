//! TLS for the listener (`serve --tls-cert FILE --tls-key FILE`), so an inbox can face the
//! internet without a proxy. Handshakes run on tasks of their own: one slow or silent client
//! must not hold up accepting the next.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::receive::write_stall::Guarded;
use crate::{Error, Result};

/// A handshake not done by then is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Connections handshaken but not yet taken by the server.
const READY: usize = 64;
/// Handshakes at once; past this, new connections are closed at once (unauthenticated
/// clients must not be able to hold sockets and tasks without bound).
const HANDSHAKING: usize = 256;

/// A certificate chain and its key, ready to serve.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn load(cert: &Path, key: &Path) -> Result<TlsConfig> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| Error::Invalid(format!("--tls-cert {}: {e}", cert.display())))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Invalid(format!("--tls-cert {}: {e}", cert.display())))?;
        if chain.is_empty() {
            return Err(Error::Invalid(format!(
                "--tls-cert {}: no PEM certificate in it",
                cert.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Error::Invalid(format!("--tls-key {}: {e}", key.display())))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Invalid(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| Error::Invalid(format!("--tls-cert/--tls-key do not make a pair: {e}")))?;
        Ok(TlsConfig(Arc::new(config)))
    }
}

/// Accepts TCP connections and hands out those whose TLS handshake succeeded.
pub struct TlsListener {
    ready: mpsc::Receiver<(Guarded<TlsStream<TcpStream>>, SocketAddr)>,
    addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(inner: TcpListener, config: &TlsConfig, stall: Duration) -> io::Result<TlsListener> {
        let addr = inner.local_addr()?;
        let acceptor = TlsAcceptor::from(config.0.clone());
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
    type Io = Guarded<TlsStream<TcpStream>>;
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
