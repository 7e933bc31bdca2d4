//! Every request Gatehouse makes (the account sync, following an inbox, `send`) starts from
//! one [`agent`], so all of them speak TLS the same way: through the system's TLS library
//! (OpenSSL on Linux, Secure Transport on macOS, SChannel on Windows) and the system's trust
//! store. That store is the one a company adds its own CA to (a GitHub Enterprise or GitLab
//! behind an internal certificate, an inbox behind a private CA), and it is kept up to date
//! by the system; a bundled TLS stack with its own root list was also 1 MB of the binary.

use std::io;
use std::sync::{Arc, LazyLock};

/// Built once: loading the trust store is the slow part, and it does not change while we run.
static CONNECTOR: LazyLock<Arc<SystemTls>> =
    LazyLock::new(|| match native_tls::TlsConnector::new() {
        Ok(connector) => Arc::new(SystemTls::Ready(connector)),
        Err(e) => Arc::new(SystemTls::Unavailable(e.to_string())),
    });

/// An agent builder whose HTTPS goes through the system's TLS. Callers add their timeouts.
pub fn agent() -> ureq::AgentBuilder {
    ureq::AgentBuilder::new().tls_connector(CONNECTOR.clone())
}

enum SystemTls {
    Ready(native_tls::TlsConnector),
    /// The system's TLS could not be set up (no usable OpenSSL configuration): each HTTPS
    /// request then fails with that reason, as a transport error the caller already
    /// reports, instead of the process refusing to start for HTTPS it may never make.
    Unavailable(String),
}

impl ureq::TlsConnector for SystemTls {
    fn connect(
        &self,
        dns_name: &str,
        io: Box<dyn ureq::ReadWrite>,
    ) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        match self {
            SystemTls::Ready(connector) => ureq::TlsConnector::connect(connector, dns_name, io),
            SystemTls::Unavailable(reason) => Err(io::Error::other(format!(
                "the system's TLS could not be set up: {reason}"
            ))
            .into()),
        }
    }
}
