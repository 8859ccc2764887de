//! The seeded generator (SplitMix64) of every simulator run: the one in
//! `finack-fault`, which the runtime's impairment stage draws from too. The same
//! seed gives the same run.

pub use finack_fault::Rng;
