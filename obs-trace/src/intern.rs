//! A bounded, process-wide interner for the strings middleware puts on every span of an
//! endpoint: span names, route templates, RPC services and methods, server addresses.
//!
//! A span's owned strings are allocated on the request's thread and freed on the
//! exporter's, after the span is sent; an interned string is shared and never freed, so a
//! span named and attributed from interned strings costs no allocation for them. Only
//! values drawn from a small set belong here: the set is capped, and once full (a client
//! sending made-up paths can fill it), new strings are copied as if there were no interner,
//! and the strings it holds are found without a lock.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::OnceLock;
use std::thread::LocalKey;

use parking_lot::Mutex;

/// How many strings the process keeps at most.
const MAX_ENTRIES: usize = 4096;
/// How many bytes of strings the process keeps at most.
const MAX_BYTES: usize = 256 * 1024;
/// Longer strings are not interned (no name or template of an endpoint is this long).
const MAX_LEN: usize = 256;

struct Interned {
    strings: HashSet<&'static str>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Interned {
    fn new(max_entries: usize, max_bytes: usize) -> Interned {
        Interned {
            strings: HashSet::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// Finds `s`, or adds it if there is room.
    fn find_or_add(&mut self, s: &str) -> Option<&'static str> {
        if let Some(&shared) = self.strings.get(s) {
            return Some(shared);
        }
        if self.strings.len() >= self.max_entries || self.bytes + s.len() > self.max_bytes {
            return None;
        }
        // Kept for the life of the process, within the caps.
        let shared: &'static str = Box::leak(s.into());
        self.strings.insert(shared);
        self.bytes += s.len();
        Some(shared)
    }
}

/// The set while strings are added, then, once it has refused one (so is full but for a
/// few bytes), the same set frozen: it never changes again, so a thread whose cache misses
/// looks it up without the lock. A full interner is the lot of a long-running service
/// whose clients sent made-up values; from then on every string the set does not hold
/// misses the caches, and a lock taken on each such request would serialize them all.
struct Interner {
    growing: Mutex<Option<Interned>>,
    frozen: OnceLock<HashSet<&'static str>>,
    max_entries: usize,
    max_bytes: usize,
}

impl Interner {
    const fn new(max_entries: usize, max_bytes: usize) -> Interner {
        Interner {
            growing: Mutex::new(None),
            frozen: OnceLock::new(),
            max_entries,
            max_bytes,
        }
    }

    /// The shared copy of `s`, added if there is room.
    fn shared(&self, s: &str) -> Option<&'static str> {
        if let Some(frozen) = self.frozen.get() {
            return frozen.get(s).copied();
        }
        let mut growing = self.growing.lock();
        // Frozen while this thread waited for the lock.
        if let Some(frozen) = self.frozen.get() {
            return frozen.get(s).copied();
        }
        let table = growing.get_or_insert_with(|| Interned::new(self.max_entries, self.max_bytes));
        let shared = table.find_or_add(s);
        if shared.is_none() {
            let _ = self.frozen.set(std::mem::take(&mut table.strings));
        }
        shared
    }
}

static INTERNER: Interner = Interner::new(MAX_ENTRIES, MAX_BYTES);

/// Sets of the per-thread cache in front of the shared set, two strings each (the one used
/// last first): a hit costs a hash of the string and at most two comparisons, with no lock.
const SETS: usize = 64;

thread_local! {
    static RECENT: [[Cell<&'static str>; 2]; SETS] =
        const { [const { [const { Cell::new("") }, const { Cell::new("") }] }; SETS] };
}

/// `s` as a shared `&'static str` when it is interned or there is room to intern it, else
/// a copy: for a span name ([`SpanStart::set_name`](crate::SpanStart::set_name)) or an
/// attribute value (`KeyValue::new(key, intern(s))`) whose values come from a small set.
///
/// ```
/// let name = obs_trace::intern("helloworld.Greeter/SayHello");
/// assert_eq!(name, "helloworld.Greeter/SayHello");
/// // Interned: the same string is handed out again, without a copy.
/// let again = obs_trace::intern("helloworld.Greeter/SayHello");
/// assert!(matches!((&name, &again), (std::borrow::Cow::Borrowed(a), std::borrow::Cow::Borrowed(b)) if std::ptr::eq(*a, *b)));
/// ```
pub fn intern(s: &str) -> Cow<'static, str> {
    match interned(s) {
        Some(shared) => Cow::Borrowed(shared),
        None => Cow::Owned(s.to_owned()),
    }
}

fn interned(s: &str) -> Option<&'static str> {
    if s.len() > MAX_LEN {
        return None;
    }
    if s.is_empty() {
        // The cache's empty places hold "": never a hit.
        return Some("");
    }
    let set = set_of(s);
    if let Ok(Some(cached)) = RECENT.try_with(|recent| {
        let [first, second] = &recent[set];
        if same(first.get(), s) {
            return Some(first.get());
        }
        let hit = second.get();
        same(hit, s).then(|| second.swap(first)).map(|()| hit)
    }) {
        return Some(cached);
    }
    let shared = INTERNER.shared(s)?;
    let _ = RECENT.try_with(|recent| {
        let [first, second] = &recent[set];
        second.set(first.replace(shared));
    });
    Some(shared)
}

/// The last string a thread worked something out from, and what it worked out: a
/// repeat of the string gets the value back for one comparison, instead of parsing and
/// interning again. Middleware keeps one in a `thread_local!` per derivation (a server
/// sees the same authority on request after request).
///
/// ```
/// use std::cell::RefCell;
/// use obs_trace::LastSeen;
///
/// thread_local! {
///     static LAST_LENGTH: RefCell<LastSeen<usize>> = const { RefCell::new(LastSeen::new()) };
/// }
///
/// fn length(s: &str) -> usize {
///     if let Some(length) = LastSeen::recall(&LAST_LENGTH, s) {
///         return length;
///     }
///     let length = s.chars().count();
///     LastSeen::store(&LAST_LENGTH, s, length);
///     length
/// }
/// assert_eq!(length("héllo"), 5);
/// assert_eq!(length("héllo"), 5); // remembered
/// assert_eq!(length("hi"), 2);
/// ```
#[derive(Debug)]
pub struct LastSeen<V> {
    key: String,
    value: Option<V>,
}

impl<V: Copy> LastSeen<V> {
    /// Remembers nothing yet.
    pub const fn new() -> Self {
        LastSeen {
            key: String::new(),
            value: None,
        }
    }

    /// The value remembered for `key`, if `key` is the last one remembered.
    #[inline]
    pub fn get(&self, key: &str) -> Option<V> {
        self.value.filter(|_| same(&self.key, key))
    }

    /// Remembers `value` for `key`, in place of the last one (unless `key` is longer than
    /// the interner takes: such keys are not expected to repeat).
    pub fn remember(&mut self, key: &str, value: V) {
        if key.len() <= MAX_LEN {
            self.key.clear();
            self.key.push_str(key);
            self.value = Some(value);
        }
    }
}

impl<V: Copy + 'static> LastSeen<V> {
    /// [`get`](Self::get) on this thread's `memo`: `None` while the thread is torn down.
    #[inline]
    pub fn recall(memo: &'static LocalKey<RefCell<LastSeen<V>>>, key: &str) -> Option<V> {
        memo.try_with(|last| last.try_borrow().ok()?.get(key))
            .ok()
            .flatten()
    }

    /// [`remember`](Self::remember) on this thread's `memo` (nothing while the thread is
    /// torn down).
    pub fn store(memo: &'static LocalKey<RefCell<LastSeen<V>>>, key: &str, value: V) {
        let _ = memo.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                last.remember(key, value);
            }
        });
    }
}

impl<V: Copy> Default for LastSeen<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// `a == b`, compared a word at a time in line: the strings here are short, and a call to
/// `memcmp` for each costs more than the comparison itself.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or_default());
    let (mut a_words, mut b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    (&mut a_words)
        .zip(&mut b_words)
        .all(|(x, y)| word(x) == word(y))
        && a_words
            .remainder()
            .iter()
            .zip(b_words.remainder())
            .all(|(x, y)| x == y)
}

/// The cache set of `s`: a multiplicative hash of its bytes, 8 at a time, the last 8
/// (overlapping) for the rest, so no partial word is copied (no need to resist collisions:
/// a collision is a miss that looks in the shared set).
#[inline]
fn set_of(s: &str) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes = s.as_bytes();
    let mix = |hash: u64, word: u64| (hash.rotate_left(23) ^ word).wrapping_mul(K);
    let mut hash = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        hash = mix(
            hash,
            u64::from_le_bytes(chunk.try_into().unwrap_or_default()),
        );
    }
    if !chunks.remainder().is_empty() {
        let last = match bytes.len().checked_sub(8) {
            Some(start) => u64::from_le_bytes(bytes[start..].try_into().unwrap_or_default()),
            None => bytes.iter().fold(0, |word, &b| (word << 8) | u64::from(b)),
        };
        hash = mix(hash, last);
    }
    (hash >> (64 - SETS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_is_interned_once_and_shared() {
        let a = intern("pkg.Interned/Once");
        let b = intern(&String::from("pkg.Interned/Once"));
        let (Cow::Borrowed(a), Cow::Borrowed(b)) = (a, b) else {
            panic!("both interned");
        };
        assert!(std::ptr::eq(a, b));
        // From another thread (another cache), the same shared string.
        let c = std::thread::spawn(|| intern("pkg.Interned/Once"))
            .join()
            .unwrap();
        assert!(matches!(c, Cow::Borrowed(c) if std::ptr::eq(a, c)));
    }

    #[test]
    fn strings_that_share_a_cache_set_stay_distinct() {
        let strings: Vec<String> = (0..8 * SETS).map(|i| format!("/route/{i}")).collect();
        for _ in 0..2 {
            for s in &strings {
                assert_eq!(intern(s), s.as_str());
            }
        }
        assert_eq!(intern(""), "");
    }

    #[test]
    fn same_compares_whole_strings() {
        for (a, b) in [
            ("", ""),
            ("a", "a"),
            ("pkg.Svc/Method", "pkg.Svc/Method"),
            ("exactly8", "exactly8"),
            ("sixteen-bytes-16", "sixteen-bytes-16"),
        ] {
            assert!(same(a, b), "{a}");
        }
        for (a, b) in [
            ("a", ""),
            ("pkg.Svc/Method", "pkg.Svc/Methoe"),
            ("pkg.Svc/Method", "qkg.Svc/Method"),
            ("exactly8", "exactly9"),
            ("abc", "abcd"),
        ] {
            assert!(!same(a, b), "{a} {b}");
        }
    }

    #[test]
    fn last_seen_remembers_the_last_key() {
        let mut last = LastSeen::new();
        assert_eq!(last.get(""), None);
        last.remember("echo.internal:50051", 1);
        assert_eq!(last.get("echo.internal:50051"), Some(1));
        assert_eq!(last.get("echo.internal:50052"), None);
        assert_eq!(last.get(""), None);
        last.remember("", 2);
        assert_eq!(last.get(""), Some(2));
        assert_eq!(last.get("echo.internal:50051"), None);
        // Too long to be remembered: the last key stays.
        last.remember(&"x".repeat(MAX_LEN + 1), 3);
        assert_eq!(last.get(&"x".repeat(MAX_LEN + 1)), None);
        assert_eq!(last.get(""), Some(2));
    }

    #[test]
    fn long_strings_are_copied() {
        let long = "x".repeat(MAX_LEN + 1);
        assert!(matches!(intern(&long), Cow::Owned(s) if s == long));
    }

    #[test]
    fn a_full_interner_adds_nothing_more() {
        let mut interned = Interned::new(2, 12);
        assert_eq!(interned.find_or_add("a/1"), Some("a/1"));
        assert_eq!(interned.find_or_add("b/12345"), Some("b/12345"));
        // Over the entry cap; then over the byte cap with room for an entry.
        assert_eq!(interned.find_or_add("c"), None);
        let mut interned = Interned::new(10, 8);
        assert_eq!(interned.find_or_add("12345"), Some("12345"));
        assert_eq!(interned.find_or_add("6789"), None);
        assert_eq!(interned.find_or_add("678"), Some("678"));
        // What is in stays found.
        assert_eq!(interned.find_or_add("12345"), Some("12345"));
    }

    #[test]
    fn a_full_interner_is_read_without_its_lock() {
        let interner: &'static Interner = Box::leak(Box::new(Interner::new(2, 64)));
        assert_eq!(interner.shared("a/1"), Some("a/1"));
        assert_eq!(interner.shared("b/2"), Some("b/2"));
        assert_eq!(interner.shared("c/3"), None, "full");
        // Once full, the lock another thread holds (a long wait under contention) is no
        // longer in the way of a lookup.
        let _held = interner.growing.lock();
        let (found, recv) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = found.send([interner.shared("a/1"), interner.shared("c/3")]);
        });
        let found = recv
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the lookup waited for the lock");
        assert_eq!(found, [Some("a/1"), None]);
    }
}
