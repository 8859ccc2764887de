//! `ConnInfo::chrono`: how long a connection was busy sending and what held
//! it back, as Linux's chronographs count it (`tcpi_busy_time`,
//! `tcpi_rwnd_limited`, `tcpi_sndbuf_limited`).

mod common;
use common::*;

use std::time::Duration;

dual!(
    busy_time_runs_from_the_write_to_the_last_ack,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        net.capp.to_send = vec![1u8; 5000].into_iter().collect();
        net.run_to_quiet();
        let t = net.client.info(c).unwrap().chrono;
        // One round trip of 20 ms (10 ms each way) carries the 5 segments.
        assert_eq!(t.busy, Duration::from_millis(20), "{t:?}");
        assert_eq!(t.rwnd_limited, Duration::ZERO);
        assert_eq!(t.sndbuf_limited, Duration::ZERO);
        // Idle time is not busy time.
        net.run_for(Duration::from_secs(2));
        assert_eq!(net.client.info(c).unwrap().chrono.busy, t.busy);
    }
);

dual!(a_small_send_buffer_is_counted_as_the_limit, |f: Family| {
    // A receiver whose window stays at its 128 KiB: the 4,000-byte send
    // buffer is then what limits (a window grown by autotuning makes
    // Linux's 64 KiB write units, which pass the limit, the bigger factor).
    let server = finack_core::Config {
        rcvbuf_autotune: false,
        ..finack_core::Config::linux()
    };
    let mut net = Net::with_configs(f, finack_core::Config::linux(), server);
    let (c, _s) = net.established();
    net.client.set_send_buffer(c, 4000).unwrap();
    net.capp.to_send = vec![2u8; 200_000].into_iter().collect();
    net.run_to_quiet();
    assert_eq!(net.sapp.received.len(), 200_000);
    let t = net.client.info(c).unwrap().chrono;
    assert!(t.sndbuf_limited > Duration::ZERO, "{t:?}");
    assert!(t.sndbuf_limited < t.busy, "{t:?}");
    assert_eq!(t.rwnd_limited, Duration::ZERO, "{t:?}");
});

dual!(
    a_peer_that_does_not_read_limits_by_its_window,
    |f: Family| {
        let mut net = Net::new(f);
        let (c, _s) = net.established();
        // The server's window closes once its receive buffer is full.
        net.sapp.read = false;
        net.capp.to_send = vec![3u8; 2_000_000].into_iter().collect();
        net.run_for(Duration::from_secs(1));
        let t = net.client.info(c).unwrap().chrono;
        assert!(t.rwnd_limited > Duration::from_millis(500), "{t:?}");
        assert_eq!(t.sndbuf_limited, Duration::ZERO, "{t:?}");
        assert!(t.busy >= t.rwnd_limited, "{t:?}");
    }
);
