//! An endpoint's history: every input it was given, in order, as a shared
//! (persistent) list. `finack_core::Endpoint` cannot be cloned, so a model
//! state keeps the history instead and the endpoint is rebuilt by replaying
//! it (the engine is deterministic). Two states whose endpoints were fed the
//! same inputs at the same instants are the same state.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One input to an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Input {
    /// A fresh endpoint (the first input; `epoch` counts crashes, and keys
    /// the endpoint's secret so a rebooted host picks other ISNs).
    Boot(u8),
    /// The server application listens.
    Listen,
    /// The client application opens incarnation `n`.
    Connect(u8),
    /// A packet arrives; its incarnation tag (see `net::classify`).
    Packet(Arc<[u8]>, Option<u8>),
    /// The endpoint's timers due at this instant run.
    Timeout,
    /// The application sends one byte on its connection `i`.
    Send(u8),
    /// `shutdown(SHUT_WR)` on connection `i`.
    Shutdown(u8),
    /// `close()` on connection `i`.
    Close(u8),
    /// `abort()` on connection `i`.
    Abort(u8),
}

struct Node {
    prev: Option<Hist>,
    now: u64,
    input: Input,
    len: u32,
    digest: u64,
}

/// The list of `(instant in microseconds, input)`, newest last.
#[derive(Clone)]
pub(crate) struct Hist(Arc<Node>);

impl Hist {
    /// A history that starts with `input` at `now`.
    pub(crate) fn root(now: u64, input: Input) -> Hist {
        Hist::node(None, now, input)
    }

    /// This history followed by `input` at `now`.
    pub(crate) fn push(&self, now: u64, input: Input) -> Hist {
        Hist::node(Some(self.clone()), now, input)
    }

    fn node(prev: Option<Hist>, now: u64, input: Input) -> Hist {
        let mut h = DefaultHasher::new();
        prev.as_ref().map(|p| p.0.digest).hash(&mut h);
        now.hash(&mut h);
        input.hash(&mut h);
        let len = prev.as_ref().map_or(1, |p| p.0.len + 1);
        Hist(Arc::new(Node {
            prev,
            now,
            input,
            len,
            digest: h.finish(),
        }))
    }

    /// Number of inputs.
    pub(crate) fn len(&self) -> usize {
        self.0.len as usize
    }

    /// The inputs, oldest first.
    pub(crate) fn entries(&self) -> Vec<(u64, &Input)> {
        let mut out = Vec::with_capacity(self.len());
        let mut cur = Some(self);
        while let Some(h) = cur {
            out.push((h.0.now, &h.0.input));
            cur = h.0.prev.as_ref();
        }
        out.reverse();
        out
    }
}

impl Hash for Hist {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.len.hash(state);
        self.0.digest.hash(state);
    }
}

impl PartialEq for Hist {
    fn eq(&self, other: &Hist) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.len == other.0.len && self.0.digest == other.0.digest)
    }
}

impl Eq for Hist {}

impl fmt::Debug for Hist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hist({} inputs, {:016x})", self.0.len, self.0.digest)
    }
}

impl Drop for Node {
    // Unlink iteratively: a long shared chain dropped at once must not
    // recurse once per node.
    fn drop(&mut self) {
        let mut prev = self.prev.take();
        while let Some(h) = prev {
            match Arc::try_unwrap(h.0) {
                Ok(mut node) => prev = node.prev.take(),
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_give_equal_histories_and_entries_come_oldest_first() {
        let a = Hist::root(0, Input::Boot(0)).push(5, Input::Listen);
        let b = Hist::root(0, Input::Boot(0)).push(5, Input::Listen);
        let c = Hist::root(0, Input::Boot(0)).push(6, Input::Listen);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 2);
        let e = a.entries();
        assert_eq!(e[0], (0, &Input::Boot(0)));
        assert_eq!(e[1], (5, &Input::Listen));
    }
}
