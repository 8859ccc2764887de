//! Truncated, mutated and foreign inputs: a clear error or skipped packets
//! with a count, never a panic.

use finack_explain::{explain, CaptureError, Options};
use finack_sim::{catalog, render, Family};

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn explain_all(data: &[u8]) {
    if let Ok(ex) = explain(data, &Options::default()) {
        let _ = ex.summary();
        let _ = ex.to_json();
        for t in ex.traces(None) {
            let _ = render::diagram_text(&t);
        }
    }
}

#[test]
fn not_a_capture_is_a_clear_error() {
    assert_eq!(
        explain(b"", &Options::default()).unwrap_err(),
        CaptureError::NotACapture
    );
    assert_eq!(
        explain(b"GET / HTTP/1.1\r\n", &Options::default()).unwrap_err(),
        CaptureError::NotACapture
    );
    let e = explain(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0], &Options::default()).unwrap_err();
    assert!(matches!(e, CaptureError::BadHeader(_)), "{e:?}");
}

#[test]
fn truncated_captures_are_explained_as_far_as_they_go() {
    let pcap = render::to_pcap(&(catalog()[1].run)(1, Family::V4).trace);
    let full = explain(&pcap, &Options::default()).unwrap();
    for cut in (24..pcap.len()).step_by(7) {
        let ex = explain(&pcap[..cut], &Options::default()).unwrap();
        assert!(ex.packets <= full.packets);
        if ex.packets < full.packets && cut < pcap.len() {
            // Ends mid-record: counted, not an error.
            assert!(ex.skipped.trailing_bytes > 0 || ex.packets < full.packets);
        }
        explain_all(&pcap[..cut]);
    }
}

#[test]
fn mutated_captures_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for def in catalog() {
        let pcap = render::to_pcap(&(def.run)(1, Family::V6).trace);
        for _ in 0..40 {
            let mut m = pcap.clone();
            let flips = 1 + rng.next() % 8;
            for _ in 0..flips {
                let i = (rng.next() % m.len() as u64) as usize;
                m[i] ^= 1 << (rng.next() % 8);
            }
            if rng.next() % 4 == 0 {
                let cut = (rng.next() % m.len() as u64) as usize;
                m.truncate(cut);
            }
            explain_all(&m);
        }
    }
}

#[test]
fn corrupted_checksums_are_kept_and_noted() {
    let mut pcap = render::to_pcap(&(catalog()[0].run)(1, Family::V4).trace);
    // The first record's TCP checksum: 24 (file) + 16 (record) + 20 (IPv4) + 16.
    pcap[24 + 16 + 20 + 16] ^= 0xff;
    let ex = explain(&pcap, &Options::default()).unwrap();
    assert_eq!(ex.skipped.total(), 0);
    assert!(
        ex.summary().contains("bad checksum kept"),
        "{}",
        ex.summary()
    );
}

/// The records of a classic pcap: (header, IP packet).
fn records(pcap: &[u8]) -> Vec<([u8; 16], Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let mut h = [0u8; 16];
        h.copy_from_slice(&pcap[at..at + 16]);
        let n = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        out.push((h, pcap[at + 16..at + 16 + n].to_vec()));
        at += 16 + n;
    }
    out
}

/// The same capture with link type `lt`, each packet behind `head(ip)`.
fn relink(pcap: &[u8], lt: u32, head: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut out = pcap[..24].to_vec();
    out[20..24].copy_from_slice(&lt.to_le_bytes());
    for (mut h, ip) in records(pcap) {
        let mut frame = head(&ip);
        frame.extend_from_slice(&ip);
        let n = (frame.len() as u32).to_le_bytes();
        h[8..12].copy_from_slice(&n);
        h[12..16].copy_from_slice(&n);
        out.extend_from_slice(&h);
        out.extend_from_slice(&frame);
    }
    out
}

fn ethertype(ip: &[u8]) -> [u8; 2] {
    if ip[0] >> 4 == 6 {
        [0x86, 0xdd]
    } else {
        [0x08, 0x00]
    }
}

#[test]
fn every_link_type_gives_the_same_explanation() {
    for family in [Family::V4, Family::V6] {
        let pcap = render::to_pcap(&(catalog()[1].run)(1, family).trace);
        let want = explain(&pcap, &Options::default()).unwrap().to_json();
        let eth = |vlans: usize| {
            move |ip: &[u8]| {
                let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
                for k in 0..vlans {
                    f.extend_from_slice(if k == 0 { &[0x88, 0xa8] } else { &[0x81, 0x00] });
                    f.extend_from_slice(&[0, 7]);
                }
                f.extend_from_slice(&ethertype(ip));
                f
            }
        };
        let variants: Vec<(&str, Vec<u8>)> = vec![
            ("ethernet", relink(&pcap, 1, eth(0))),
            ("802.1Q", relink(&pcap, 1, eth(1))),
            ("802.1ad+802.1Q", relink(&pcap, 1, eth(2))),
            (
                "ipv4/ipv6 228/229",
                relink(
                    &pcap,
                    if family == Family::V4 { 228 } else { 229 },
                    |_| vec![],
                ),
            ),
            (
                "null",
                relink(&pcap, 0, |ip| {
                    if ip[0] >> 4 == 6 {
                        vec![30, 0, 0, 0]
                    } else {
                        vec![2, 0, 0, 0]
                    }
                }),
            ),
            (
                "loop",
                relink(&pcap, 108, |ip| {
                    if ip[0] >> 4 == 6 {
                        vec![0, 0, 0, 30]
                    } else {
                        vec![0, 0, 0, 2]
                    }
                }),
            ),
            (
                "sll",
                relink(&pcap, 113, |ip| {
                    let mut f = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
                    f.extend_from_slice(&ethertype(ip));
                    f
                }),
            ),
            (
                "sll2",
                relink(&pcap, 276, |ip| {
                    let mut f = ethertype(ip).to_vec();
                    f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
                    f
                }),
            ),
        ];
        for (name, data) in variants {
            let got = explain(&data, &Options::default()).unwrap();
            assert_eq!(got.skipped.total(), 0, "{name}: {}", got.skipped);
            assert_eq!(got.to_json(), want, "{name} ({family:?})");
        }
    }
}

#[test]
fn non_tcp_frames_are_counted() {
    let pcap = render::to_pcap(&(catalog()[0].run)(1, Family::V4).trace);
    let mut m = relink(&pcap, 1, |ip| {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype(ip));
        f
    });
    // Append an ARP frame and a UDP packet as records.
    for frame in [
        [vec![0u8; 12], vec![0x08, 0x06], vec![0; 28]].concat(),
        [vec![0u8; 12], vec![0x08, 0x00], {
            let mut ip = vec![
                0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
            ];
            let sum = !ip
                .chunks(2)
                .fold(0u32, |a, c| a + u32::from(u16::from_be_bytes([c[0], c[1]])));
            let folded = !(((!sum & 0xffff) + ((!sum) >> 16)) as u16);
            ip[10..12].copy_from_slice(&(!folded).to_be_bytes());
            ip.extend_from_slice(&[0; 8]);
            ip
        }]
        .concat(),
    ] {
        let n = (frame.len() as u32).to_le_bytes();
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&n);
        m.extend_from_slice(&n);
        m.extend_from_slice(&frame);
    }
    let ex = explain(&m, &Options::default()).unwrap();
    assert_eq!(ex.skipped.not_ip, 1, "{}", ex.skipped);
    assert_eq!(
        ex.skipped.not_tcp + ex.skipped.malformed,
        1,
        "{}",
        ex.skipped
    );
    assert_eq!(ex.connections.len(), 1);
}
