//! The connection's addresses, as tonic's transport puts them in the request extensions.

use std::net::SocketAddr;

use http::Extensions;

/// The local and remote addresses of the connection a request came on, when known.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Peer {
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) local_port: Option<u16>,
}

impl Peer {
    /// From tonic's `TcpConnectInfo` (`tonic::transport::Server` adds it to every request
    /// on a TCP connection, TLS with `Server::tls_config` included). A server's own TLS
    /// acceptor (`serve_with_incoming` of rustls streams: certificates reloaded, say) gives
    /// it only inside a `TlsConnectInfo`, a type that exists only with tonic's TLS
    /// features, and that tonic's `Request::remote_addr` looks into when they are on: the
    /// extensions go through a `tonic::Request` for that, moved there and back (no copy, no
    /// allocation). Only requests without a plain `TcpConnectInfo` pay for it.
    #[cfg(feature = "transport")]
    pub(crate) fn of(extensions: &mut Extensions) -> Peer {
        if let Some(info) = extensions.get::<tonic::transport::server::TcpConnectInfo>() {
            return Peer::new(info.remote_addr(), info.local_addr());
        }
        let request = tonic::Request::from_parts(
            tonic::metadata::MetadataMap::new(),
            std::mem::take(extensions),
            (),
        );
        let peer = Peer::new(request.remote_addr(), request.local_addr());
        *extensions = request.into_parts().1;
        peer
    }

    /// The peer of a connection between `remote` and `local`. A socket bound to `[::]`
    /// sees IPv4 clients as IPv4-mapped IPv6 (`::ffff:192.0.2.7`): the client's address is
    /// the IPv4 one.
    #[cfg(feature = "transport")]
    fn new(remote: Option<SocketAddr>, local: Option<SocketAddr>) -> Peer {
        Peer {
            remote: remote.map(|remote| SocketAddr::new(remote.ip().to_canonical(), remote.port())),
            local_port: local.map(|local| local.port()),
        }
    }

    /// Without the `transport` feature the connection is unknown.
    #[cfg(not(feature = "transport"))]
    pub(crate) fn of(_extensions: &mut Extensions) -> Peer {
        Peer::default()
    }
}
