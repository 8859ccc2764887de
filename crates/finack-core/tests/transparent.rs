//! The transparent listener (`Endpoint::listen_any`): connections to any
//! address, each keeping its original destination as its local address.

use std::net::SocketAddr;

use finack_core::{Config, Endpoint, Error, Instant, State};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Deliver every packet of each endpoint to the other, whatever its
/// destination (a router that sends a prefix to the proxy).
fn pump(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> Vec<Result<(), Error>> {
    let mut buf = [0u8; 2048];
    let mut results = Vec::new();
    loop {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            results.push(b.handle_packet(now, &buf[..n]));
            moved = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            results.push(a.handle_packet(now, &buf[..n]));
            moved = true;
        }
        if !moved {
            return results;
        }
    }
}

#[test]
fn a_transparent_listener_takes_connections_to_any_address() {
    let now = Instant::from_secs(1);
    let mut client = Endpoint::new(Config::linux(), [1; 16]);
    client.add_address("192.0.2.2".parse().unwrap());
    let mut proxy = Endpoint::new(Config::linux(), [2; 16]);
    proxy.add_address("192.0.2.130".parse().unwrap());

    // Without it, a SYN to someone else's address is not ours.
    let c0 = client
        .connect(now, addr("0.0.0.0:0"), addr("203.0.113.5:443"))
        .unwrap();
    let r = pump(&mut client, &mut proxy, now);
    assert!(r.iter().any(|r| r.is_err()), "{r:?}");
    assert_eq!(client.state(c0), State::SynSent);
    client.abort(now, c0).unwrap();

    let any = proxy.listen_any(16).unwrap();
    assert_eq!(proxy.listen_any(16), Err(Error::AddrInUse));
    // A listener on the proxy's own address still takes what is its own.
    let own = proxy.listen(addr("192.0.2.130:80"), 16).unwrap();

    let mut conns = Vec::new();
    for dst in ["203.0.113.5:443", "198.51.100.7:8080", "192.0.2.130:80"] {
        let c = client.connect(now, addr("0.0.0.0:0"), addr(dst)).unwrap();
        let r = pump(&mut client, &mut proxy, now);
        assert!(r.iter().all(|r| r.is_ok()), "{dst}: {r:?}");
        assert_eq!(client.state(c), State::Established, "{dst}");
        conns.push((c, addr(dst)));
    }
    let s1 = proxy.accept(any).unwrap();
    let s2 = proxy.accept(any).unwrap();
    assert_eq!(proxy.accept(any), Err(Error::WouldBlock));
    let s3 = proxy.accept(own).unwrap();
    // Each accepted connection knows the destination the client asked for.
    assert_eq!(proxy.addrs(s1).unwrap().0, conns[0].1);
    assert_eq!(proxy.addrs(s2).unwrap().0, conns[1].1);
    assert_eq!(proxy.addrs(s3).unwrap().0, conns[2].1);

    // Data both ways, the replies coming from the original destination.
    client.send(now, conns[0].0, b"GET").unwrap();
    proxy.send(now, s1, b"200").unwrap();
    pump(&mut client, &mut proxy, now);
    let mut buf = [0u8; 8];
    assert_eq!(proxy.recv(now, s1, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"GET");
    assert_eq!(client.recv(now, conns[0].0, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"200");

    // Closing the transparent listener: the connections it opened go on,
    // but the endpoint again refuses new ones to addresses it does not have.
    proxy.close_listener(now, any).unwrap();
    client.send(now, conns[1].0, b"more").unwrap();
    let r = pump(&mut client, &mut proxy, now);
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
    assert_eq!(proxy.recv(now, s2, &mut buf), Ok(4));
    let late = client
        .connect(now, addr("0.0.0.0:0"), addr("203.0.113.9:22"))
        .unwrap();
    let r = pump(&mut client, &mut proxy, now);
    assert!(r.iter().any(|r| r.is_err()), "{r:?}");
    assert_eq!(client.state(late), State::SynSent);
}
