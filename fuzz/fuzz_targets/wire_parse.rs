//! Arbitrary bytes into the packet parsers: never a panic, and whatever parses
//! re-emits to a packet that parses to the same representation.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((ip, tcp)) = finack_wire::parse_tcp_packet(data) {
        let mut buf = vec![0u8; finack_wire::tcp_packet_len(&ip, &tcp)];
        let n = finack_wire::emit_tcp_packet(&ip, &tcp, &mut buf).expect("re-emit what parsed");
        let (ip2, tcp2) = finack_wire::parse_tcp_packet(&buf[..n]).expect("re-parse what we emitted");
        assert_eq!(ip, ip2);
        assert_eq!(tcp, tcp2);
    }
    let _ = finack_wire::icmp::parse_icmp_error(data);
});
