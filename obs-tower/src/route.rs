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

/// The peer's IP address and port, from axum's `ConnectInfo<SocketAddr>` (set by
/// `into_make_service_with_connect_info`).
#[cfg(feature = "axum")]
pub(crate) fn peer_address(extensions: &Extensions) -> Option<std::net::SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0)
}

/// Without a framework the peer address is unknown.
#[cfg(not(feature = "axum"))]
pub(crate) fn peer_address(_extensions: &Extensions) -> Option<std::net::SocketAddr> {
    None
}

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
