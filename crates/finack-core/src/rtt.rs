//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use core::time::Duration;

use crate::config::Config;

/// SRTT/RTTVAR/RTO state of one connection.
///
/// The three values are kept as nanosecond counts (8 bytes each instead of
/// the 16 of a `Duration`) and the arithmetic is done on `Duration`s as
/// before, so every result is the same to the nanosecond; `NONE` marks that
/// no measurement was made yet. Durations beyond `u64::MAX - 1` nanoseconds
/// (about 584 years) are cut to that.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: u64,
    rttvar: u64,
    /// The RTO before backoff.
    rto: u64,
}

/// Clock granularity G of RFC 6298 §2 (our clock ticks in microseconds; Linux's
/// jiffy-based estimator is coarser, 1 ms is a fair stand-in).
const GRANULARITY: Duration = Duration::from_millis(1);

/// `srtt` before the first measurement.
const NONE: u64 = u64::MAX;

fn pack(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).map_or(NONE - 1, |n| n.min(NONE - 1))
}

impl RttEstimator {
    pub(crate) fn new(cfg: &Config) -> RttEstimator {
        // RFC 6298 §2.1: until a measurement is made, RTO = 1 s (configurable).
        RttEstimator {
            srtt: NONE,
            rttvar: 0,
            rto: pack(cfg.rto_initial),
        }
    }

    /// SRTT, `None` before the first measurement.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        (self.srtt != NONE).then(|| Duration::from_nanos(self.srtt))
    }

    /// RTTVAR.
    pub(crate) fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }

    /// The RTO before backoff.
    pub(crate) fn rto(&self) -> Duration {
        Duration::from_nanos(self.rto)
    }

    /// RFC 6298 §2.2 / §2.3: fold in a new measurement `r`.
    pub(crate) fn sample(&mut self, r: Duration, cfg: &Config) {
        let (srtt, rttvar) = match self.srtt() {
            // §2.2: SRTT <- R, RTTVAR <- R/2.
            None => (r, r / 2),
            Some(srtt) => {
                // §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'.
                let delta = srtt.abs_diff(r);
                ((srtt * 7 + r) / 8, (self.rttvar() * 3 + delta) / 4)
            }
        };
        let var = (rttvar * 4).max(GRANULARITY);
        let rto = if cfg.rto_min_on_variance {
            // Linux: the variance term is floored at rto_min.
            srtt + var.max(cfg.rto_min)
        } else {
            // §2.4: RTO <- SRTT + max(G, K*RTTVAR), then at least rto_min (1 s).
            (srtt + var).max(cfg.rto_min)
        }
        .min(cfg.rto_max); // §2.5: a maximum may be placed on the RTO.
        self.srtt = pack(srtt);
        self.rttvar = pack(rttvar);
        self.rto = pack(rto);
    }

    /// RFC 6298 §5.7: the handshake gave no RTT sample (its segments were
    /// resent): until one comes, RTO = `rto` (3 s), as Linux
    /// tcp_init_metrics() sets it (TCP_TIMEOUT_FALLBACK, with RTTVAR its
    /// quarter so that SRTT + 4 RTTVAR says the same).
    pub(crate) fn fallback(&mut self, rto: Duration) {
        if self.srtt == NONE && self.rto() < rto {
            self.rttvar = pack(rto / 4);
            self.rto = pack(rto);
        }
    }

    /// The timeout after `backoff` consecutive expirations (RFC 6298 §5.5: double
    /// it each time, up to the maximum).
    pub(crate) fn backed_off(&self, backoff: u32, cfg: &Config) -> Duration {
        let mut rto = self.rto();
        for _ in 0..backoff.min(32) {
            rto = (rto * 2).min(cfg.rto_max);
        }
        rto.min(cfg.rto_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6298_2_2_first_sample_and_2_3_smoothing() {
        let cfg = Config::rfc9293();
        let mut e = RttEstimator::new(&cfg);
        assert_eq!(e.rto(), Duration::from_secs(1), "RFC 6298 §2.1 initial RTO");
        e.sample(Duration::from_millis(100), &cfg);
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar(), Duration::from_millis(50));
        // 100 + 4*50 = 300 ms, floored at rto_min = 1 s (RFC 6298 §2.4).
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(200), &cfg);
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
    }

    #[test]
    fn linux_rto_floors_the_variance_term() {
        let cfg = Config::linux();
        let mut e = RttEstimator::new(&cfg);
        e.sample(Duration::from_millis(10), &cfg);
        assert_eq!(e.rto(), Duration::from_millis(210));
    }

    #[test]
    fn rfc6298_5_5_backoff_doubles_up_to_max() {
        let cfg = Config::linux();
        let e = RttEstimator::new(&cfg);
        assert_eq!(e.backed_off(0, &cfg), Duration::from_secs(1));
        assert_eq!(e.backed_off(3, &cfg), Duration::from_secs(8));
        assert_eq!(e.backed_off(20, &cfg), Duration::from_secs(120));
    }
}
