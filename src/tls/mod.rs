//! HTTPS at the edge: TLS listeners, custom domain names chosen by SNI, mutual TLS.
//!
//! [`settings`] reads certificates and builds one `rustls::ServerConfig` per domain on the
//! control plane; the result ([`domains::Domains`]) travels in the snapshot, so a SIGHUP swaps
//! certificates for new handshakes while open connections keep the session they have.
//! [`stream`] runs rustls over monoio sockets; [`subject`] turns a verified client
//! certificate into the identity later phases see.

pub mod backend;
pub mod domains;
pub mod model;
pub mod settings;
pub mod stream;
pub mod subject;

pub use domains::{Domain, Domains, Mapping};
pub use stream::TlsStream;
