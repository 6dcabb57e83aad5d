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
    /// From tonic's `TcpConnectInfo` (`tonic::transport::Server` adds it to every request).
    #[cfg(feature = "transport")]
    pub(crate) fn of(extensions: &Extensions) -> Peer {
        match extensions.get::<tonic::transport::server::TcpConnectInfo>() {
            Some(info) => Peer {
                // A socket bound to `[::]` sees IPv4 clients as IPv4-mapped IPv6
                // (`::ffff:192.0.2.7`): the client's address is the IPv4 one.
                remote: info
                    .remote_addr()
                    .map(|remote| SocketAddr::new(remote.ip().to_canonical(), remote.port())),
                local_port: info.local_addr().map(|a| a.port()),
            },
            None => Peer::default(),
        }
    }

    /// Without the `transport` feature the connection is unknown.
    #[cfg(not(feature = "transport"))]
    pub(crate) fn of(_extensions: &Extensions) -> Peer {
        Peer::default()
    }
}
