//! The trace as a pcap capture.

use finack_core::wire::pcap::{global_header, record_header, GLOBAL_HEADER_LEN, RECORD_HEADER_LEN};

use crate::trace::{Trace, TraceEvent};

/// The trace's packets as a classic (microsecond) pcap file with link type
/// `LINKTYPE_RAW`: every packet, lost ones included, with the bytes it was
/// sent with (so its checksums are valid) and stamped with its send time, in
/// trace order. Timestamps count from the start of the run, so a capture
/// viewer shows them as seconds after 1970-01-01 00:00:00 UTC.
pub fn to_pcap(trace: &Trace) -> Vec<u8> {
    let packets = || {
        trace.events.iter().filter_map(|e| match e {
            TraceEvent::Packet { time, bytes, .. } => Some((*time, bytes.as_slice())),
            _ => None,
        })
    };
    let mut size = GLOBAL_HEADER_LEN;
    let mut snaplen: u32 = 65_535;
    for (_, b) in packets() {
        size += RECORD_HEADER_LEN + b.len();
        snaplen = snaplen.max(u32::try_from(b.len()).unwrap_or(u32::MAX));
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&global_header(snaplen));
    for (time, bytes) in packets() {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&record_header(time.as_micros(), len, len));
        out.extend_from_slice(bytes);
    }
    out
}
