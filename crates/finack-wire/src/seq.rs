//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgment) number.
///
/// Arithmetic wraps at 2^32 and comparisons follow RFC 9293 §3.4: `a` is before
/// `b` when the signed 32-bit distance `b - a` is positive. Comparisons are only
/// meaningful between numbers less than 2^31 apart, which the window rules of TCP
/// guarantee. `SeqNumber` deliberately does not implement `Ord`: wrapping order is
/// not transitive across the whole space.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The signed distance from `other` to `self` (`self - other`), in the range
    /// `-2^31 ..= 2^31 - 1`.
    #[inline]
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` modulo 2^32.
    #[inline]
    pub fn lt(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }

    /// `self <= other` modulo 2^32.
    #[inline]
    pub fn le(self, other: SeqNumber) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` modulo 2^32.
    #[inline]
    pub fn gt(self, other: SeqNumber) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` modulo 2^32.
    #[inline]
    pub fn ge(self, other: SeqNumber) -> bool {
        self.diff(other) >= 0
    }

    /// `lo <= self < hi` modulo 2^32 (the half-open interval used by the
    /// acceptability tests of RFC 9293 §3.10.7.4). Empty when `lo == hi`.
    #[inline]
    pub fn in_range(self, lo: SeqNumber, hi: SeqNumber) -> bool {
        self.0.wrapping_sub(lo.0) < hi.0.wrapping_sub(lo.0)
    }

    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.ge(other) {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self.le(other) {
            self
        } else {
            other
        }
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNumber {
    #[inline]
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    /// Signed distance, see [`SeqNumber::diff`].
    #[inline]
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.diff(rhs)
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9293_3_4_comparisons_wrap_at_2_pow_32() {
        let a = SeqNumber(u32::MAX - 5);
        let b = a + 10; // wrapped past zero
        assert_eq!(b.0, 4);
        assert!(a.lt(b) && a.le(b) && b.gt(a) && b.ge(a));
        assert!(!b.lt(a));
        assert_eq!(b - a, 10);
        assert_eq!(a - b, -10);
        assert_eq!(b - 10u32, a);
    }

    #[test]
    fn rfc9293_3_4_comparisons_across_2_pow_31() {
        let a = SeqNumber(0x7fff_fff0);
        let b = a + 0x20; // crosses 2^31
        assert!(b.0 > 0x8000_0000);
        assert!(a.lt(b));
        assert!(b.gt(a));
        // Exactly 2^31 apart the signed distance is negative both ways: the
        // comparison is undefined there and TCP never relies on it.
        let c = SeqNumber(0);
        let d = SeqNumber(0x8000_0000);
        assert_eq!(d - c, i32::MIN);
    }

    #[test]
    fn rfc9293_3_4_in_range_half_open_and_wrapping() {
        let lo = SeqNumber(u32::MAX - 1);
        let hi = lo + 4;
        assert!(lo.in_range(lo, hi));
        assert!((lo + 3).in_range(lo, hi));
        assert!(!hi.in_range(lo, hi));
        assert!(!(lo - 1).in_range(lo, hi));
        assert!(!lo.in_range(lo, lo), "empty interval");
        assert_eq!(lo.max(hi), hi);
        assert_eq!(lo.min(hi), lo);
    }
}
