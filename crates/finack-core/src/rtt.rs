//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use core::time::Duration;

use crate::config::Config;

/// SRTT/RTTVAR/RTO state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    pub(crate) srtt: Option<Duration>,
    pub(crate) rttvar: Duration,
    /// The RTO before backoff.
    pub(crate) rto: Duration,
}

/// Clock granularity G of RFC 6298 §2 (our clock ticks in microseconds; Linux's
/// jiffy-based estimator is coarser, 1 ms is a fair stand-in).
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    pub(crate) fn new(cfg: &Config) -> RttEstimator {
        // RFC 6298 §2.1: until a measurement is made, RTO = 1 s (configurable).
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: cfg.rto_initial,
        }
    }

    /// RFC 6298 §2.2 / §2.3: fold in a new measurement `r`.
    pub(crate) fn sample(&mut self, r: Duration, cfg: &Config) {
        match self.srtt {
            None => {
                // §2.2: SRTT <- R, RTTVAR <- R/2.
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'.
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        let var = (self.rttvar * 4).max(GRANULARITY);
        self.rto = if cfg.rto_min_on_variance {
            // Linux: the variance term is floored at rto_min.
            srtt + var.max(cfg.rto_min)
        } else {
            // §2.4: RTO <- SRTT + max(G, K*RTTVAR), then at least rto_min (1 s).
            (srtt + var).max(cfg.rto_min)
        }
        .min(cfg.rto_max); // §2.5: a maximum may be placed on the RTO.
    }

    /// The timeout after `backoff` consecutive expirations (RFC 6298 §5.5: double
    /// it each time, up to the maximum).
    pub(crate) fn backed_off(&self, backoff: u32, cfg: &Config) -> Duration {
        let mut rto = self.rto;
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
        assert_eq!(e.rto, Duration::from_secs(1), "RFC 6298 §2.1 initial RTO");
        e.sample(Duration::from_millis(100), &cfg);
        assert_eq!(e.srtt, Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar, Duration::from_millis(50));
        // 100 + 4*50 = 300 ms, floored at rto_min = 1 s (RFC 6298 §2.4).
        assert_eq!(e.rto, Duration::from_secs(1));
        e.sample(Duration::from_millis(200), &cfg);
        assert_eq!(e.srtt, Some(Duration::from_micros(112_500)));
        assert_eq!(e.rttvar, Duration::from_micros(62_500));
    }

    #[test]
    fn linux_rto_floors_the_variance_term() {
        let cfg = Config::linux();
        let mut e = RttEstimator::new(&cfg);
        e.sample(Duration::from_millis(10), &cfg);
        assert_eq!(e.rto, Duration::from_millis(210));
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
