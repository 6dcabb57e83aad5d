//! [`ServedMethods`]: the methods a server has been seen to serve, the only ones its metric
//! labels name when a call was answered before routing.
//!
//! A server layer sits in front of routing: it cannot ask which methods the server has, so
//! the method name is the caller's word. tonic's router answers a made-up method with
//! UNIMPLEMENTED, which the layer reads as "no such method"; but a layer under the server
//! layer that answers before routing (authentication, rate limiting, load shedding) answers
//! a made-up method as it does a real one, and a scanner would mint a metric series per
//! name it makes up. What a routed call does and a call rejected before routing does not is
//! read its request: tonic's codec reads the request message before the handler runs. So a
//! method whose call read a request message (and was not answered UNIMPLEMENTED: a proxy
//! reads every request, whatever its upstream has) is one the server has, and any other
//! call keeps its method's name only once the method has been seen so; until then it is
//! `_OTHER` (RPC conventions, `rpc.method`: `_OTHER` "when instrumentation is not able to
//! reliably detect if the method is predefined"). A method seen so also keeps its name when
//! tonic answers it UNIMPLEMENTED without reading it, for a `grpc-encoding` it does not
//! take.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::grpc::RpcNames;

/// Methods remembered at most: more than a server has, and a bound should a layer under the
/// server layer read every request (every name a caller sends would then count as served).
const MAX_SERVED_METHODS: usize = 1024;

/// The methods (`package.Service/Method`) a server layer has seen calls read the request of.
#[derive(Debug)]
pub(crate) struct ServedMethods {
    /// Tells this set from the others in a thread's memory of what it confirmed.
    id: u64,
    methods: RwLock<HashSet<Box<str>>>,
}

/// Slots of the per-thread memory of confirmed methods, by the method's address.
const SLOTS: usize = 16;

thread_local! {
    /// Sets and interned methods (their address and length: one string for the life of the
    /// process) this thread confirmed, one per slot: a server's calls go to a few methods,
    /// whose confirmation then costs a comparison and no lock.
    static CONFIRMED: [Cell<(u64, usize, usize)>; SLOTS] =
        const { [const { Cell::new((0, 0, 0)) }; SLOTS] };
}

impl ServedMethods {
    pub(crate) fn new() -> ServedMethods {
        // 0 is no set: the threads' memory starts with it.
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        ServedMethods {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            methods: RwLock::default(),
        }
    }

    /// Remembers that the server has `method`, as a call to it read its request; whether
    /// it is remembered (not when the set is full without it).
    pub(crate) fn confirm(&self, method: &RpcNames) -> bool {
        // Only an interned name is remembered by address: a copy's address may be reused.
        let key = method
            .interned()
            .map(|full| (self.id, full.as_ptr() as usize, full.len()));
        // An interned string starts where the allocator put it, on an 8- or 16-byte
        // boundary: the address's lowest bits are zero.
        let slot = key.map_or(0, |(_, address, _)| (address >> 3) % SLOTS);
        if key.is_some() && CONFIRMED.try_with(|slots| slots[slot].get()).ok() == key {
            return true;
        }
        let full = method.full();
        let known = self.methods.read().is_ok_and(|m| m.contains(full))
            || self.methods.write().is_ok_and(|mut methods| {
                methods.contains(full)
                    || (methods.len() < MAX_SERVED_METHODS && methods.insert(full.into()))
            });
        if known && let Some(key) = key {
            let _ = CONFIRMED.try_with(|slots| slots[slot].set(key));
        }
        known
    }

    /// Adds methods the server is configured to have
    /// ([`GrpcServerLayer::with_methods`](crate::GrpcServerLayer::with_methods)), beyond
    /// the bound on those learnt: the application's own list.
    pub(crate) fn add_configured<I: IntoIterator<Item = Box<str>>>(&self, methods: I) {
        if let Ok(mut known) = self.methods.write() {
            known.extend(methods);
        }
    }

    /// A new set (its own id) holding this one's methods: a layer's copy made by a builder.
    pub(crate) fn copied(&self) -> ServedMethods {
        let copy = ServedMethods::new();
        if let Ok(methods) = self.methods.read() {
            copy.add_configured(methods.iter().cloned());
        }
        copy
    }

    /// Whether a call to `method` has been seen to read its request, or is configured.
    pub(crate) fn contains(&self, method: &RpcNames) -> bool {
        self.methods
            .read()
            .is_ok_and(|methods| methods.contains(method.full()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(path: &str) -> RpcNames {
        RpcNames::of_path(path).expect("a method path")
    }

    #[test]
    fn confirmed_methods_are_kept_per_set_up_to_the_bound() {
        let served = ServedMethods::new();
        let get = names("/shop.v1.Orders/Get");
        assert!(!served.contains(&get));
        assert!(served.confirm(&get));
        // Again, from this thread's memory of it.
        assert!(served.confirm(&get));
        assert!(served.contains(&get));
        // Another layer's set has seen nothing, though this thread remembers `get`.
        let other = ServedMethods::new();
        assert!(!other.contains(&get));
        assert!(other.confirm(&get));
        assert!(other.contains(&get));
        // A layer under the server layer reading every request (each made-up name then
        // reads as served) fills the set to its bound and no further.
        for i in 1..MAX_SERVED_METHODS {
            assert!(served.confirm(&names(&format!("/scan.Svc/M{i}"))));
        }
        let beyond = names("/scan.Svc/Beyond");
        assert!(!served.confirm(&beyond));
        assert!(!served.contains(&beyond));
        assert!(served.confirm(&get));
        assert!(served.contains(&names(&format!("/scan.Svc/M{}", MAX_SERVED_METHODS - 1))));
    }
}
