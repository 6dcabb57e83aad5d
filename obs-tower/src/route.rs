//! The route template (`http.route`), the peer's address (`network.peer.address`, and
//! `client.address` unless a trusted proxy names the client) and the URI as received
//! (`url.path`, `url.query`) a framework put in the request extensions.

use http::{Extensions, Uri};

/// The matched route template, e.g. `/users/{id}`: never the raw path, so span names and
/// metric labels stay bounded.
#[derive(Clone, Debug)]
pub(crate) struct Route(Template);

#[cfg(feature = "axum")]
type Template = axum::extract::MatchedPath;
/// Without a framework no route is ever known.
#[cfg(not(feature = "axum"))]
type Template = std::convert::Infallible;

// Routes are compared and hashed by their template (metric label sets are keyed by them).
impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Route {
    /// The template axum matched (`Router::layer` and `route_layer` see it; a layer wrapped
    /// around the whole router runs before routing and sees none).
    #[cfg(feature = "axum")]
    pub(crate) fn of(extensions: &Extensions) -> Option<Route> {
        extensions
            .get::<axum::extract::MatchedPath>()
            .cloned()
            .map(Route)
    }

    /// Without a framework there is no route template.
    #[cfg(not(feature = "axum"))]
    pub(crate) fn of(_extensions: &Extensions) -> Option<Route> {
        None
    }

    #[cfg(feature = "axum")]
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }

    #[cfg(not(feature = "axum"))]
    pub(crate) fn as_str(&self) -> &str {
        match self.0 {}
    }
}

/// The peer's IP address and port: from axum's `ConnectInfo<SocketAddr>` (set by
/// `into_make_service_with_connect_info`), else from a [`PeerAddr`] the server put there.
pub(crate) fn peer_address(extensions: &Extensions) -> Option<std::net::SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return Some(info.0);
    }
    extensions.get::<PeerAddr>().map(|peer| peer.0)
}

/// The address of a request's connection peer, for servers that record none where the
/// layer looks (axum's `ConnectInfo`): plain hyper, say. Put into each request's
/// extensions before [`HttpServerLayer`](crate::HttpServerLayer) sees it, it gives the
/// server span `client.address`, `network.peer.address` and `network.peer.port`.
///
/// ```
/// use obs_tower::{HttpServerLayer, PeerAddr};
/// use tower::ServiceBuilder;
/// # use std::convert::Infallible;
/// # fn accepted(peer: std::net::SocketAddr) {
/// // Per accepted connection, with `peer` from `TcpListener::accept`:
/// let service = ServiceBuilder::new()
///     .map_request(move |mut request: http::Request<String>| {
///         request.extensions_mut().insert(PeerAddr(peer));
///         request
///     })
///     .layer(HttpServerLayer::new())
///     .service_fn(|_request: http::Request<String>| async {
///         Ok::<_, Infallible>(http::Response::new(String::new()))
///     });
/// # drop(service);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The URI the request arrived with, from axum's `OriginalUri`: inside a router nested
/// with `Router::nest`, the request's own URI has lost the nest's prefix (which
/// `MatchedPath` keeps). One lookup, paid only by recording spans.
#[cfg(feature = "axum")]
pub(crate) fn original_uri(extensions: &Extensions) -> Option<&Uri> {
    extensions
        .get::<axum::extract::OriginalUri>()
        .map(|original| &original.0)
}

/// Without a framework the request's URI is the original.
#[cfg(not(feature = "axum"))]
pub(crate) fn original_uri(_extensions: &Extensions) -> Option<&Uri> {
    None
}
