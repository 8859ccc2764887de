//! The connection table: 4-tuple → slot index, without a second copy of the
//! tuple. Entries are bare slot indices in a hash table keyed by a secret
//! SipHash of the tuple (so a remote host cannot choose colliding tuples);
//! the tuple itself is read from the slot when comparing or rehashing. That
//! saves 64 bytes per connection over a map keyed by the tuple, which matters
//! most for the many small TIME-WAIT entries.

use alloc::boxed::Box;
use core::hash::BuildHasher;
use core::net::{SocketAddr, SocketAddrV4};

use hashbrown::HashTable;
use siphasher::sip::SipHasher13;

/// (local, remote).
pub(crate) type Tuple = (SocketAddr, SocketAddr);

/// Keyed SipHash for the demultiplexing tables.
#[derive(Clone)]
pub(crate) struct SipBuild {
    pub(crate) k0: u64,
    pub(crate) k1: u64,
}

impl BuildHasher for SipBuild {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }
}

/// 4-tuple → slot index.
pub(crate) struct ConnTable {
    table: HashTable<u32>,
    hasher: SipBuild,
}

impl ConnTable {
    pub(crate) fn new(hasher: SipBuild) -> ConnTable {
        ConnTable {
            table: HashTable::new(),
            hasher,
        }
    }

    /// The slot holding `tuple`; `tuple_of` reads a slot's tuple.
    pub(crate) fn get(
        &self,
        tuple: &Tuple,
        tuple_of: impl Fn(u32) -> Option<Tuple>,
    ) -> Option<u32> {
        let h = self.hasher.hash_one(tuple);
        self.table
            .find(h, |&i| tuple_of(i).as_ref() == Some(tuple))
            .copied()
    }

    /// Add slot `idx`, which already holds `tuple` (no other entry may).
    pub(crate) fn insert(
        &mut self,
        tuple: &Tuple,
        idx: u32,
        tuple_of: impl Fn(u32) -> Option<Tuple>,
    ) {
        let h = self.hasher.hash_one(tuple);
        let hasher = &self.hasher;
        // Every entry's slot holds its tuple; the fallback only keeps a bug
        // from becoming a panic.
        self.table
            .insert_unique(h, idx, |&i| hasher.hash_one(tuple_of(i).unwrap_or(*tuple)));
    }

    /// Remove slot `idx`, entered under `tuple`.
    pub(crate) fn remove(&mut self, tuple: &Tuple, idx: u32) {
        let h = self.hasher.hash_one(tuple);
        if let Ok(e) = self.table.find_entry(h, |&i| i == idx) {
            e.remove();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Bytes the table holds: one slot index and one control byte per bucket.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.capacity() * (core::mem::size_of::<u32>() + 1)
    }
}

/// A 4-tuple in 16 bytes, for the compact TIME-WAIT entries: IPv4 addresses
/// and ports inline, an IPv6 pair boxed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CompactTuple {
    /// Local and remote IPv4 address and port.
    V4 {
        local: [u8; 4],
        remote: [u8; 4],
        local_port: u16,
        remote_port: u16,
    },
    /// Anything else, as it was.
    Other(Box<Tuple>),
}

impl CompactTuple {
    pub(crate) fn new(t: Tuple) -> CompactTuple {
        match t {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => CompactTuple::V4 {
                local: l.ip().octets(),
                remote: r.ip().octets(),
                local_port: l.port(),
                remote_port: r.port(),
            },
            other => CompactTuple::Other(Box::new(other)),
        }
    }

    pub(crate) fn get(&self) -> Tuple {
        match self {
            CompactTuple::V4 {
                local,
                remote,
                local_port,
                remote_port,
            } => (
                SocketAddr::V4(SocketAddrV4::new((*local).into(), *local_port)),
                SocketAddr::V4(SocketAddrV4::new((*remote).into(), *remote_port)),
            ),
            CompactTuple::Other(t) => **t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_tuples_round_trip_and_stay_small() {
        for (l, r) in [
            ("192.0.2.1:80", "198.51.100.7:40000"),
            ("[2001:db8::1]:80", "[2001:db8::2]:40000"),
            ("[fe80::1%3]:80", "[fe80::2%3]:1"),
        ] {
            let t: Tuple = (l.parse().unwrap(), r.parse().unwrap());
            assert_eq!(CompactTuple::new(t).get(), t);
        }
        assert_eq!(core::mem::size_of::<CompactTuple>(), 16);
    }
}
