//! The connections' timers: a hierarchical timing wheel with microsecond
//! resolution. Each connection slot has at most one entry, its earliest
//! deadline (`Tcb::next_deadline`). Arming and cancelling link and unlink the
//! slot in a bucket list (O(1)), and the earliest entry is known exactly, as
//! `(deadline, slot)`: the order the endpoint has always run its timers in, so
//! the wheel changes no timing on the wire.
//!
//! Layout: `LEVELS` levels of 64 buckets; a bucket of level `L` spans 64^L
//! microseconds. An entry sits at the level of the highest base-64 digit in
//! which its deadline differs from the wheel's cursor, so every entry of a
//! lower level expires before every entry of a higher one, and a level-0
//! bucket holds a single deadline. Each bucket remembers its earliest entry.
//! The cursor moves forward only when the earliest entry is taken, to its
//! deadline; the bucket it then enters at each level is re-filed one level
//! down (an entry moves at most `LEVELS` times). Entries that share the
//! deadline being taken are sorted once into a ready queue, so many timers of
//! the same microsecond cost O(k log k), not O(k²). Deadlines beyond the top
//! level wait in a far list, and deadlines before the cursor (a caller whose
//! clock is behind the endpoint's) in an overdue list; both are rare and are
//! scanned.

use alloc::vec;
use alloc::vec::Vec;

use crate::time::Instant;

/// Levels of 64 buckets: 64^7 µs is about 51 days.
const LEVELS: usize = 7;
const BITS: u32 = 6;
const FAR: usize = LEVELS * 64;
const OVERDUE: usize = FAR + 1;
const BUCKETS: usize = OVERDUE + 1;
const NIL: u32 = u32::MAX;
/// `bucket` of a slot with no entry.
const NONE: u16 = u16::MAX;
/// `bucket` of a slot waiting in the ready queue.
const READY: u16 = u16::MAX - 1;
/// `bmin` of an empty bucket.
const EMPTY: (u64, u32) = (u64::MAX, NIL);

/// Timers of the connection slots.
pub(super) struct TimerWheel {
    /// Every deadline in the buckets is at or after this (µs), overdue ones
    /// apart.
    cursor: u64,
    head: Vec<u32>,
    /// Each bucket's earliest `(deadline, slot)`, or `EMPTY`.
    bmin: Vec<(u64, u32)>,
    /// Per level, which of its 64 buckets hold entries.
    occupied: [u64; LEVELS],
    /// Slots whose deadline is `ready_at`, in slot order, taken from the
    /// front; entries cancelled meanwhile are skipped.
    ready: Vec<u32>,
    ready_pos: usize,
    ready_at: u64,
    /// Per slot index: its deadline, bucket and list neighbours, together
    /// (one cache line touched per slot).
    nodes: Vec<Node>,
    len: usize,
}

#[derive(Copy, Clone)]
struct Node {
    /// Deadline, µs.
    at: u64,
    next: u32,
    prev: u32,
    bucket: u16,
}

const FREE_NODE: Node = Node {
    at: 0,
    next: NIL,
    prev: NIL,
    bucket: NONE,
};

impl Default for TimerWheel {
    fn default() -> TimerWheel {
        TimerWheel {
            cursor: 0,
            head: vec![NIL; BUCKETS],
            bmin: vec![EMPTY; BUCKETS],
            occupied: [0; LEVELS],
            ready: Vec::new(),
            ready_pos: 0,
            ready_at: 0,
            nodes: Vec::new(),
            len: 0,
        }
    }
}

impl TimerWheel {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes: buckets, the ready queue and the per-slot arrays.
    pub(super) fn heap_bytes(&self) -> usize {
        self.head.capacity() * 4
            + self.bmin.capacity() * 16
            + self.ready.capacity() * 4
            + self.nodes.capacity() * core::mem::size_of::<Node>()
    }

    fn bucket_for(&self, t: u64) -> usize {
        if t < self.cursor {
            return OVERDUE;
        }
        let diff = t ^ self.cursor;
        let level = if diff == 0 {
            0
        } else {
            ((63 - diff.leading_zeros()) / BITS) as usize
        };
        if level >= LEVELS {
            return FAR;
        }
        level * 64 + ((t >> (BITS * level as u32)) & 63) as usize
    }

    fn link(&mut self, idx: u32, t: u64) {
        let i = idx as usize;
        let b = self.bucket_for(t);
        self.nodes[i].at = t;
        self.nodes[i].bucket = b as u16;
        self.nodes[i].prev = NIL;
        self.nodes[i].next = self.head[b];
        if self.head[b] != NIL {
            self.nodes[self.head[b] as usize].prev = idx;
        }
        self.head[b] = idx;
        if (t, idx) < self.bmin[b] {
            self.bmin[b] = (t, idx);
        }
        if b < FAR {
            self.occupied[b / 64] |= 1 << (b % 64);
        }
    }

    fn unlink(&mut self, idx: u32) {
        let i = idx as usize;
        let b = self.nodes[i].bucket;
        self.nodes[i].bucket = NONE;
        if b == READY {
            // Skipped when it reaches the front of the ready queue.
            return;
        }
        let b = b as usize;
        let (p, n) = (self.nodes[i].prev, self.nodes[i].next);
        if p == NIL {
            self.head[b] = n;
        } else {
            self.nodes[p as usize].next = n;
        }
        if n != NIL {
            self.nodes[n as usize].prev = p;
        }
        if self.head[b] == NIL {
            self.bmin[b] = EMPTY;
            if b < FAR {
                self.occupied[b / 64] &= !(1 << (b % 64));
            }
        } else if self.bmin[b] == (self.nodes[i].at, idx) {
            self.bmin[b] = self.scan(b);
        }
    }

    /// The earliest `(deadline, slot)` of a bucket's list.
    fn scan(&self, b: usize) -> (u64, u32) {
        let mut idx = self.head[b];
        let mut best = EMPTY;
        while idx != NIL {
            best = best.min((self.nodes[idx as usize].at, idx));
            idx = self.nodes[idx as usize].next;
        }
        best
    }

    /// Arm slot `idx` at `t` (it must have no entry).
    pub(super) fn insert(&mut self, t: Instant, idx: u32) {
        let i = idx as usize;
        if self.nodes.len() <= i {
            self.nodes.resize(i + 1, FREE_NODE);
        }
        let t = t.as_micros();
        self.len += 1;
        if self.ready_pos < self.ready.len() && t == self.ready_at {
            // Ties with the deadline being taken join the ready queue in
            // slot order.
            self.nodes[i].at = t;
            self.nodes[i].bucket = READY;
            let from = self.ready_pos;
            let at = from + self.ready[from..].partition_point(|&x| x < idx);
            self.ready.insert(at, idx);
            return;
        }
        self.link(idx, t);
    }

    /// Cancel slot `idx`'s entry, armed at `t`.
    pub(super) fn remove(&mut self, t: Instant, idx: u32) {
        let i = idx as usize;
        if i >= self.nodes.len()
            || self.nodes[i].bucket == NONE
            || self.nodes[i].at != t.as_micros()
        {
            return;
        }
        self.unlink(idx);
        self.len -= 1;
    }

    /// Skip cancelled entries at the front of the ready queue.
    fn ready_front(&mut self) -> Option<u32> {
        while let Some(&idx) = self.ready.get(self.ready_pos) {
            let i = idx as usize;
            if self.nodes[i].bucket == READY && self.nodes[i].at == self.ready_at {
                return Some(idx);
            }
            self.ready_pos += 1;
        }
        self.ready.clear();
        self.ready_pos = 0;
        None
    }

    /// The first live entry of the ready queue.
    fn live_ready(&self) -> Option<u32> {
        self.ready[self.ready_pos.min(self.ready.len())..]
            .iter()
            .copied()
            .find(|&idx| {
                let i = idx as usize;
                self.nodes[i].bucket == READY && self.nodes[i].at == self.ready_at
            })
    }

    /// The earliest `(deadline, slot)`.
    pub(super) fn first(&self) -> Option<(Instant, u32)> {
        if self.len == 0 {
            return None;
        }
        // Overdue entries come before the cursor; the ready queue holds
        // entries at the cursor, before every bucket.
        let mut best = self.bmin[OVERDUE];
        if let Some(idx) = self.live_ready() {
            best = best.min((self.ready_at, idx));
        } else if let Some(level) = (0..LEVELS).find(|&l| self.occupied[l] != 0) {
            let b = level * 64 + self.occupied[level].trailing_zeros() as usize;
            best = best.min(self.bmin[b]);
        } else {
            best = best.min(self.bmin[FAR]);
        }
        (best != EMPTY).then(|| (Instant::from_micros(best.0), best.1))
    }

    /// Take the earliest entry, moving the cursor to its deadline.
    pub(super) fn pop_first(&mut self) -> Option<(Instant, u32)> {
        let (t, idx) = self.first()?;
        let i = idx as usize;
        if self.nodes[i].bucket == READY {
            // It is the first live entry of the ready queue.
            self.nodes[i].bucket = NONE;
            self.len -= 1;
            self.ready_front();
            return Some((t, idx));
        }
        let from_overdue = self.nodes[i].bucket as usize == OVERDUE;
        self.unlink(idx);
        self.len -= 1;
        if !from_overdue {
            self.advance(t.as_micros());
        }
        Some((t, idx))
    }

    /// Move the cursor forward to `to` (no entry is earlier, overdue ones
    /// apart): re-file the bucket it enters at each level one level down,
    /// then move the entries due at `to` into the ready queue.
    fn advance(&mut self, to: u64) {
        if to <= self.cursor {
            return;
        }
        let old = self.cursor;
        self.cursor = to;
        if old >> (BITS * LEVELS as u32) != to >> (BITS * LEVELS as u32) {
            self.refile(FAR);
        }
        for level in (1..LEVELS).rev() {
            let b = level * 64 + ((to >> (BITS * level as u32)) & 63) as usize;
            self.refile(b);
        }
        // The level-0 bucket of `to` now holds exactly the other entries due
        // at `to`: they wait in the ready queue, in slot order.
        let b = (to & 63) as usize;
        let mut idx = self.head[b];
        if idx == NIL {
            return;
        }
        self.head[b] = NIL;
        self.bmin[b] = EMPTY;
        self.occupied[0] &= !(1 << b);
        if self.ready_front().is_none() {
            self.ready.clear();
            self.ready_pos = 0;
        }
        self.ready_at = to;
        while idx != NIL {
            let next = self.nodes[idx as usize].next;
            self.nodes[idx as usize].bucket = READY;
            self.ready.push(idx);
            idx = next;
        }
        let from = self.ready_pos;
        self.ready[from..].sort_unstable();
    }

    /// Re-place every entry of bucket `b` relative to the cursor.
    fn refile(&mut self, b: usize) {
        let mut idx = self.head[b];
        if idx == NIL {
            return;
        }
        self.head[b] = NIL;
        self.bmin[b] = EMPTY;
        if b < FAR {
            self.occupied[b / 64] &= !(1 << (b % 64));
        }
        while idx != NIL {
            let next = self.nodes[idx as usize].next;
            let t = self.nodes[idx as usize].at;
            self.link(idx, t);
            idx = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    /// Runs random arm / cancel / expire operations against both the wheel
    /// and an ordered set, and checks they agree after every step. `pick`
    /// chooses a deadline from the current time and a random number.
    fn agree_with_an_ordered_set(pick: impl Fn(u64, u64) -> u64) {
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut wheel = TimerWheel::default();
        let mut set: BTreeSet<(Instant, u32)> = BTreeSet::new();
        let mut armed: Vec<Option<Instant>> = vec![None; 300];
        let mut now: u64 = 1_000_000;
        for step in 0..200_000 {
            let idx = (next() % 300) as u32;
            match next() % 4 {
                0 | 1 => {
                    let t = Instant::from_micros(pick(now, next()));
                    if let Some(old) = armed[idx as usize].take() {
                        wheel.remove(old, idx);
                        set.remove(&(old, idx));
                    }
                    wheel.insert(t, idx);
                    set.insert((t, idx));
                    armed[idx as usize] = Some(t);
                }
                2 => {
                    if let Some(old) = armed[idx as usize].take() {
                        wheel.remove(old, idx);
                        set.remove(&(old, idx));
                    }
                }
                _ => {
                    // Time passes; the due timers run in order.
                    now += next() % 400_000;
                    while let Some(&(t, i)) = set.first() {
                        if t.as_micros() > now {
                            break;
                        }
                        assert_eq!(wheel.pop_first(), set.pop_first(), "step {step}");
                        armed[i as usize] = None;
                    }
                }
            }
            assert_eq!(wheel.first(), set.first().copied(), "step {step}");
            assert_eq!(wheel.len(), set.len());
        }
    }

    /// Deadlines from microseconds to centuries ahead, and a few behind.
    #[test]
    fn the_wheel_orders_timers_exactly_like_an_ordered_set() {
        agree_with_an_ordered_set(|now, r| {
            let span =
                [50u64, 5_000, 300_000, 60_000_000, 7_200_000_000, 1 << 44][(r % 6) as usize];
            if r % 50 == 7 {
                now.saturating_sub(r % 1000)
            } else {
                now + (r >> 8) % span
            }
        });
    }

    /// Many timers on the same few microseconds (as in simulations).
    #[test]
    fn ties_run_in_slot_order() {
        agree_with_an_ordered_set(|now, r| now - now % 100_000 + (r % 5) * 100_000);
    }
}
