//! The connection table: 4-tuple → slot index, without a second copy of the
//! tuple. Entries are bare slot indices in a hash table keyed by a secret
//! SipHash of the tuple (so a remote host cannot choose colliding tuples);
//! the tuple itself is read from the slot when comparing or rehashing. That
//! saves 64 bytes per connection over a map keyed by the tuple, which matters
//! most for the many small TIME-WAIT entries.

use core::hash::BuildHasher;
use core::net::SocketAddr;

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
