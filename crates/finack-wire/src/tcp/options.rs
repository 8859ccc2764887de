//! TCP options (RFC 9293 §3.1–3.2, RFC 7323, RFC 2018): parsing and emitting
//! the options area in the layout Linux uses.

use crate::seq::SeqNumber;
use crate::{Error, Result};

/// Option kind: end of option list.
pub const KIND_EOL: u8 = 0;
/// Option kind: no-operation.
pub const KIND_NOP: u8 = 1;
/// Option kind: maximum segment size (RFC 9293 §3.7.1).
pub const KIND_MSS: u8 = 2;
/// Option kind: window scale (RFC 7323 §2).
pub const KIND_WINDOW_SCALE: u8 = 3;
/// Option kind: SACK permitted (RFC 2018 §2).
pub const KIND_SACK_PERMITTED: u8 = 4;
/// Option kind: SACK blocks (RFC 2018 §3).
pub const KIND_SACK: u8 = 5;
/// Option kind: timestamps (RFC 7323 §3).
pub const KIND_TIMESTAMPS: u8 = 8;
/// Option kind: TCP MD5 signature (RFC 2385 §3.0), length 18.
pub const KIND_MD5SIG: u8 = 19;

/// Bytes of an MD5 digest (RFC 2385 §3.0, RFC 1321).
pub const MD5_DIGEST_LEN: usize = 16;

/// Largest options area: a 60-byte header minus the 20 fixed bytes.
pub const MAX_OPTIONS_LEN: usize = 40;

/// Largest window-scale shift a receiver honours (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// The values of a timestamps option (RFC 7323 §3.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the most recent TSval received from the peer (echo reply).
    pub tsecr: u32,
}

/// Up to four SACK blocks (RFC 2018), stored inline without allocation.
///
/// Each block is `(left, right)`: the first sequence number of a received
/// run of data and the sequence number just after it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct SackBlocks {
    // Invariant: entries at `len..` are always `Default`, so the derived
    // equality compares only meaningful blocks.
    blocks: [(SeqNumber, SeqNumber); SackBlocks::CAPACITY],
    len: u8,
}

impl SackBlocks {
    /// Most blocks a SACK option can carry (RFC 2018 §3: 4 without
    /// timestamps, fewer with other options present).
    pub const CAPACITY: usize = 4;

    /// No blocks.
    pub fn new() -> Self {
        SackBlocks::default()
    }

    /// Append a block; returns `false` (and stores nothing) when full.
    pub fn push(&mut self, left: SeqNumber, right: SeqNumber) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = (left, right);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Number of blocks stored.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no block is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block at `index`, if any.
    pub fn get(&self, index: usize) -> Option<(SeqNumber, SeqNumber)> {
        self.as_slice().get(index).copied()
    }

    /// The stored blocks as a slice.
    pub fn as_slice(&self) -> &[(SeqNumber, SeqNumber)] {
        self.blocks.get(..self.len()).unwrap_or(&[])
    }

    /// Iterate over the blocks in order.
    pub fn iter(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        self.as_slice().iter().copied()
    }

    /// Keep only the first `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            for slot in self.blocks.iter_mut().skip(n) {
                *slot = Default::default();
            }
            // n < len <= CAPACITY, so it fits in a u8.
            self.len = n as u8;
        }
    }

    /// Remove all blocks.
    pub fn clear(&mut self) {
        self.truncate(0);
    }
}

/// The TCP options this stack understands.
///
/// Any combination may be present on any segment when parsing; which options
/// belong on which segment (MSS and window scale only on SYN, RFC 9293 MUST-65
/// and RFC 7323 §2.2) is the business of the connection logic.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2).
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// Timestamps (kind 8).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (kind 5); empty when absent.
    pub sack_blocks: SackBlocks,
    /// TCP MD5 signature (kind 19, RFC 2385): the 16-byte digest. An option
    /// of another length is ignored, as Linux's
    /// `tcp_parse_md5sig_option()` does.
    pub md5: Option<[u8; MD5_DIGEST_LEN]>,
}

impl TcpOptions {
    /// Parse an options area (the bytes between the fixed TCP header and the
    /// data offset).
    ///
    /// * EOL ends parsing; whatever follows it is padding and is not looked at.
    /// * NOP is skipped.
    /// * Options are accepted on any segment (RFC 9293 MUST-5) and at any byte
    ///   alignment (MUST-64).
    /// * Unknown kinds are skipped using their length byte (MUST-6).
    /// * Every kind other than EOL and NOP has a length byte (MUST-68); if it
    ///   is missing, below 2, or the option runs past the area the whole area
    ///   is rejected with `BadOptionLength` (MUST-7).
    /// * A known kind with the wrong length (say MSS with length 3) is skipped
    ///   like an unknown option, as Linux does.
    /// * A window scale above 14 is clamped to 14 (RFC 7323 §2.3).
    /// * A SACK option must have length 2 + 8n with n in 1..=4, otherwise it is
    ///   skipped (RFC 2018 §3).
    /// * If a kind appears twice, the last occurrence wins.
    pub fn parse(raw: &[u8]) -> Result<TcpOptions> {
        // RFC 9293 MUST-5: options are parsed the same way on every segment;
        // nothing here depends on the segment's flags.
        let mut opts = TcpOptions::default();
        // RFC 9293 MUST-64: options are read byte by byte from any offset,
        // with no alignment assumed.
        let mut at = 0usize;
        while let Some(&kind) = raw.get(at) {
            // RFC 9293 MUST-4: EOL, NOP and MSS are always understood.
            match kind {
                KIND_EOL => break,
                KIND_NOP => {
                    at += 1;
                    continue;
                }
                _ => {}
            }
            // RFC 9293 MUST-68: all options but EOL and NOP carry a length.
            // RFC 9293 MUST-7: cope with an illegal option length (missing,
            // below 2, or past the end) — here by rejecting the segment
            // instead of looping or reading out of bounds.
            let len = match raw.get(at + 1) {
                Some(&len) if len >= 2 => usize::from(len),
                _ => return Err(Error::BadOptionLength),
            };
            let body = raw.get(at + 2..at + len).ok_or(Error::BadOptionLength)?;
            opts.apply(kind, body);
            at += len;
        }
        Ok(opts)
    }

    /// Record one well-formed option; `body` excludes kind and length bytes.
    fn apply(&mut self, kind: u8, body: &[u8]) {
        match (kind, body) {
            (KIND_MSS, &[a, b]) => self.mss = Some(u16::from_be_bytes([a, b])),
            // RFC 7323 §2.3: a shift above 14 MUST be treated as 14.
            (KIND_WINDOW_SCALE, &[shift]) => {
                self.window_scale = Some(shift.min(MAX_WINDOW_SCALE));
            }
            (KIND_SACK_PERMITTED, &[]) => self.sack_permitted = true,
            (KIND_TIMESTAMPS, &[a, b, c, d, e, f, g, h]) => {
                self.timestamps = Some(Timestamps {
                    tsval: u32::from_be_bytes([a, b, c, d]),
                    tsecr: u32::from_be_bytes([e, f, g, h]),
                });
            }
            // RFC 2018 §3: length 2 + 8n; at most 4 blocks fit in 40 bytes.
            (KIND_SACK, _)
                if !body.is_empty()
                    && body.len() % 8 == 0
                    && body.len() / 8 <= SackBlocks::CAPACITY =>
            {
                self.sack_blocks.clear();
                for block in body.chunks_exact(8) {
                    if let &[a, b, c, d, e, f, g, h] = block {
                        let left = u32::from_be_bytes([a, b, c, d]);
                        let right = u32::from_be_bytes([e, f, g, h]);
                        self.sack_blocks.push(SeqNumber(left), SeqNumber(right));
                    }
                }
            }
            (KIND_MD5SIG, _) => {
                if let Ok(digest) = <[u8; MD5_DIGEST_LEN]>::try_from(body) {
                    self.md5 = Some(digest);
                }
            }
            // RFC 9293 MUST-6: ignore options not understood (including known
            // kinds with a length we do not expect).
            _ => {}
        }
    }

    /// Bytes of the options other than SACK blocks, in the layout of
    /// [`emit`](Self::emit).
    fn fixed_len(&self) -> usize {
        let mut len = 0;
        if self.md5.is_some() {
            // NOP, NOP, kind, length, digest.
            len += 4 + MD5_DIGEST_LEN;
        }
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            // SACK-permitted + TS, or NOP NOP TS: 12 bytes either way.
            len += 12;
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// How many SACK blocks [`emit`](Self::emit) writes: as many as fit in
    /// the 40-byte options area after the other options (each block is 8
    /// bytes, plus 4 for NOP NOP kind length).
    pub fn sack_blocks_emitted(&self) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(self.fixed_len());
        let fit = room.saturating_sub(4) / 8;
        self.sack_blocks.len().min(fit)
    }

    /// Bytes [`emit`](Self::emit) writes: always a multiple of 4, at most 40.
    pub fn emitted_len(&self) -> usize {
        let blocks = self.sack_blocks_emitted();
        let sack = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        self.fixed_len() + sack
    }

    /// Write the options in Linux's layout (that of `tcp_options_write`):
    ///
    /// 0. MD5 signature: NOP, NOP, (19, 18, digest), if present;
    /// 1. MSS (kind 2, length 4), if present;
    /// 2. with timestamps and SACK-permitted: SACK-permitted (4, 2) directly
    ///    followed by timestamps (8, 10, TSval, TSecr); with timestamps only:
    ///    NOP, NOP, timestamps;
    /// 3. with SACK-permitted but no timestamps: NOP, NOP, SACK-permitted;
    /// 4. window scale: NOP, then (3, 3, shift) — the shift is written as
    ///    given, not clamped;
    /// 5. SACK blocks: NOP, NOP, (5, 2 + 8n, blocks), with only as many
    ///    blocks as fit in the 40-byte options area.
    ///
    /// Every piece is a multiple of 4 bytes, so no padding is needed and none
    /// is ever non-zero (RFC 9293 MUST-69). A full Linux SYN is
    /// `mss, sackOK, TS, nop, wscale` (20 bytes).
    ///
    /// Returns the bytes written ([`emitted_len`](Self::emitted_len)), or
    /// `BufferTooSmall` if `buf` is shorter than that.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.emitted_len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut w = Writer { buf: out, at: 0 };
        if let Some(digest) = self.md5 {
            w.bytes(&[KIND_NOP, KIND_NOP, KIND_MD5SIG, 2 + MD5_DIGEST_LEN as u8]);
            w.bytes(&digest);
        }
        if let Some(mss) = self.mss {
            w.bytes(&[KIND_MSS, 4]);
            w.bytes(&mss.to_be_bytes());
        }
        match self.timestamps {
            Some(ts) => {
                if self.sack_permitted {
                    w.bytes(&[KIND_SACK_PERMITTED, 2]);
                } else {
                    w.bytes(&[KIND_NOP, KIND_NOP]);
                }
                w.bytes(&[KIND_TIMESTAMPS, 10]);
                w.bytes(&ts.tsval.to_be_bytes());
                w.bytes(&ts.tsecr.to_be_bytes());
            }
            None if self.sack_permitted => {
                w.bytes(&[KIND_NOP, KIND_NOP, KIND_SACK_PERMITTED, 2]);
            }
            None => {}
        }
        if let Some(shift) = self.window_scale {
            w.bytes(&[KIND_NOP, KIND_WINDOW_SCALE, 3, shift]);
        }
        let blocks = self.sack_blocks_emitted();
        if blocks > 0 {
            // blocks <= 4, so the length 2 + 8 * blocks <= 34 fits in a u8.
            w.bytes(&[KIND_NOP, KIND_NOP, KIND_SACK, (2 + 8 * blocks) as u8]);
            for (left, right) in self.sack_blocks.iter().take(blocks) {
                w.bytes(&left.0.to_be_bytes());
                w.bytes(&right.0.to_be_bytes());
            }
        }
        Ok(w.at)
    }
}

/// Sequential writer into a slice already sized by `emitted_len`; a write that
/// would not fit is dropped rather than panicking (it cannot happen when the
/// size computation and the layout agree, which the tests check).
struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        crate::put(self.buf, self.at, bytes);
        self.at += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit_vec(opts: &TcpOptions) -> ([u8; 40], usize) {
        let mut buf = [0xaau8; 40];
        let n = opts.emit(&mut buf).unwrap();
        assert_eq!(n, opts.emitted_len());
        assert_eq!(n % 4, 0);
        (buf, n)
    }

    #[test]
    fn linux_syn_with_all_options_is_20_bytes() {
        let opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: 0x0102_0304,
                tsecr: 0,
            }),
            sack_blocks: SackBlocks::new(),
            md5: None,
        };
        let (buf, n) = emit_vec(&opts);
        assert_eq!(
            &buf[..n],
            &[
                0x02, 0x04, 0x05, 0xb4, // MSS 1460
                0x04, 0x02, // SACK permitted
                0x08, 0x0a, 1, 2, 3, 4, 0, 0, 0, 0, // TS
                0x01, 0x03, 0x03, 0x07, // NOP, WS 7
            ]
        );
        assert_eq!(TcpOptions::parse(&buf[..n]), Ok(opts));
    }

    #[test]
    fn linux_syn_without_timestamps() {
        let opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            ..Default::default()
        };
        let (buf, n) = emit_vec(&opts);
        assert_eq!(
            &buf[..n],
            &[0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x07]
        );
        assert_eq!(TcpOptions::parse(&buf[..n]), Ok(opts));
    }

    #[test]
    fn linux_data_segment_with_timestamps_is_12_bytes() {
        let opts = TcpOptions {
            timestamps: Some(Timestamps {
                tsval: 0xdead_beef,
                tsecr: 0x0000_0102,
            }),
            ..Default::default()
        };
        let (buf, n) = emit_vec(&opts);
        assert_eq!(
            &buf[..n],
            &[0x01, 0x01, 0x08, 0x0a, 0xde, 0xad, 0xbe, 0xef, 0, 0, 1, 2]
        );
        assert_eq!(TcpOptions::parse(&buf[..n]), Ok(opts));
    }

    #[test]
    fn rfc2018_sack_blocks_after_timestamps_three_fit() {
        let mut opts = TcpOptions {
            timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
            ..Default::default()
        };
        for i in 0..4u32 {
            assert!(opts
                .sack_blocks
                .push(SeqNumber(i * 100), SeqNumber(i * 100 + 50)));
        }
        assert!(!opts.sack_blocks.push(SeqNumber(1), SeqNumber(2)), "full");
        assert_eq!(opts.sack_blocks_emitted(), 3);
        let (buf, n) = emit_vec(&opts);
        assert_eq!(n, 40);
        assert_eq!(&buf[12..16], &[0x01, 0x01, 0x05, 26]);
        assert_eq!(&buf[16..24], &[0, 0, 0, 0, 0, 0, 0, 50]);
        assert_eq!(&buf[32..40], &[0, 0, 0, 200, 0, 0, 0, 250]);
        let parsed = TcpOptions::parse(&buf[..n]).unwrap();
        let mut expect = opts;
        expect.sack_blocks.truncate(3);
        assert_eq!(parsed, expect);
    }

    #[test]
    fn rfc2018_four_sack_blocks_alone() {
        let mut opts = TcpOptions::default();
        for i in 0..4u32 {
            opts.sack_blocks.push(SeqNumber(u32::MAX - i), SeqNumber(i));
        }
        let (buf, n) = emit_vec(&opts);
        assert_eq!(n, 36);
        assert_eq!(&buf[..4], &[1, 1, 5, 34]);
        assert_eq!(TcpOptions::parse(&buf[..n]), Ok(opts));
    }

    #[test]
    fn rfc2018_sack_blocks_with_full_syn_options_two_fit() {
        let mut opts = TcpOptions {
            mss: Some(536),
            window_scale: Some(0),
            sack_permitted: true,
            timestamps: Some(Timestamps::default()),
            sack_blocks: SackBlocks::new(),
            md5: None,
        };
        for i in 0..4u32 {
            opts.sack_blocks.push(SeqNumber(i), SeqNumber(i + 1));
        }
        assert_eq!(opts.emitted_len(), 40);
        assert_eq!(opts.sack_blocks_emitted(), 2);
        let (buf, n) = emit_vec(&opts);
        assert_eq!(TcpOptions::parse(&buf[..n]).unwrap().sack_blocks.len(), 2);
    }

    #[test]
    fn rfc2385_md5_option_first_and_sack_room_shrinks() {
        let mut opts = TcpOptions {
            timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
            md5: Some([0xab; MD5_DIGEST_LEN]),
            ..Default::default()
        };
        opts.sack_blocks.push(SeqNumber(1), SeqNumber(2));
        // 20 (MD5) + 12 (TS) leave 8 bytes: no room for a SACK block
        // (Linux tcp_established_options()).
        assert_eq!(opts.sack_blocks_emitted(), 0);
        let (buf, n) = emit_vec(&opts);
        assert_eq!(n, 32);
        assert_eq!(&buf[..4], &[1, 1, 19, 18]);
        assert_eq!(&buf[4..20], &[0xab; 16]);
        let mut expect = opts;
        expect.sack_blocks.clear();
        assert_eq!(TcpOptions::parse(&buf[..n]), Ok(expect));
        // A kind 19 of another length is not a signature.
        let raw = [19, 6, 1, 2, 3, 4];
        assert_eq!(TcpOptions::parse(&raw).unwrap().md5, None);
    }

    #[test]
    fn emit_into_short_buffer_is_buffer_too_small() {
        let opts = TcpOptions {
            mss: Some(1),
            ..Default::default()
        };
        assert_eq!(opts.emit(&mut [0u8; 3]), Err(Error::BufferTooSmall));
        assert_eq!(TcpOptions::default().emit(&mut []), Ok(0));
    }

    #[test]
    fn rfc9293_must_6_unknown_options_skipped() {
        // Kind 30 (MPTCP) length 6, kind 254 (experimental) length 4, then MSS.
        let raw = [30, 6, 1, 2, 3, 4, 254, 4, 0xf9, 0x89, 2, 4, 0x05, 0xb4];
        let opts = TcpOptions::parse(&raw).unwrap();
        assert_eq!(opts.mss, Some(1460));
        assert_eq!(
            opts,
            TcpOptions {
                mss: Some(1460),
                ..Default::default()
            }
        );
    }

    #[test]
    fn rfc9293_must_64_options_at_odd_alignment() {
        // One NOP shifts everything to odd offsets.
        let raw = [
            1, 2, 4, 0x02, 0x18, 3, 3, 9, 4, 2, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 5, 10, 0, 0, 0, 1,
            0, 0, 0, 2, 0,
        ];
        let opts = TcpOptions::parse(&raw).unwrap();
        assert_eq!(opts.mss, Some(536));
        assert_eq!(opts.window_scale, Some(9));
        assert!(opts.sack_permitted);
        assert_eq!(opts.timestamps, Some(Timestamps { tsval: 5, tsecr: 6 }));
        assert_eq!(opts.sack_blocks.get(0), Some((SeqNumber(1), SeqNumber(2))));
        assert_eq!(opts.sack_blocks.len(), 1);
    }

    #[test]
    fn rfc9293_must_5_all_options_accepted_on_any_segment() {
        // parse() has no notion of the segment's flags: the same bytes give
        // the same result whatever segment they came on.
        let raw = [2, 4, 0x05, 0xb4, 1, 3, 3, 2];
        let opts = TcpOptions::parse(&raw).unwrap();
        assert_eq!(opts.mss, Some(1460));
        assert_eq!(opts.window_scale, Some(2));
    }

    #[test]
    fn rfc9293_eol_ends_parsing() {
        let raw = [2, 4, 0x05, 0xb4, 0, 0xff, 0xff, 0xff];
        let opts = TcpOptions::parse(&raw).unwrap();
        assert_eq!(opts.mss, Some(1460));
        assert_eq!(TcpOptions::parse(&[0, 2, 0]), Ok(TcpOptions::default()));
        assert_eq!(TcpOptions::parse(&[]), Ok(TcpOptions::default()));
        assert_eq!(TcpOptions::parse(&[1, 1, 1]), Ok(TcpOptions::default()));
    }

    #[test]
    fn rfc9293_must_7_option_length_zero_is_error() {
        assert_eq!(
            TcpOptions::parse(&[30, 0, 1, 1]),
            Err(Error::BadOptionLength)
        );
        assert_eq!(
            TcpOptions::parse(&[2, 1, 1, 1]),
            Err(Error::BadOptionLength)
        );
    }

    #[test]
    fn rfc9293_must_7_option_length_past_end_is_error() {
        assert_eq!(
            TcpOptions::parse(&[1, 8, 10, 0, 0]),
            Err(Error::BadOptionLength)
        );
        assert_eq!(
            TcpOptions::parse(&[2, 5, 1, 1]),
            Err(Error::BadOptionLength)
        );
    }

    #[test]
    fn rfc9293_must_68_missing_length_byte_is_error() {
        assert_eq!(
            TcpOptions::parse(&[1, 1, 1, 2]),
            Err(Error::BadOptionLength)
        );
        assert_eq!(TcpOptions::parse(&[99]), Err(Error::BadOptionLength));
    }

    #[test]
    fn known_kind_with_wrong_length_is_ignored() {
        let raw = [2, 3, 5, 3, 4, 1, 2, 4, 3, 0, 8, 6, 0, 0, 0, 0];
        let opts = TcpOptions::parse(&raw).unwrap();
        assert_eq!(opts.mss, None);
        assert_eq!(opts.window_scale, None);
        assert_eq!(opts.timestamps, None);
        assert!(!opts.sack_permitted);
        // And a well-formed MSS after the bad ones still counts.
        let raw = [2, 3, 5, 2, 4, 1, 0];
        assert_eq!(TcpOptions::parse(&raw).unwrap().mss, Some(256));
    }

    #[test]
    fn rfc7323_2_3_window_scale_above_14_clamped() {
        assert_eq!(
            TcpOptions::parse(&[3, 3, 15]).unwrap().window_scale,
            Some(14)
        );
        assert_eq!(
            TcpOptions::parse(&[3, 3, 255]).unwrap().window_scale,
            Some(14)
        );
        assert_eq!(
            TcpOptions::parse(&[3, 3, 14]).unwrap().window_scale,
            Some(14)
        );
    }

    #[test]
    fn rfc2018_sack_length_not_2_plus_8n_ignored() {
        let mut raw = [0u8; 11];
        raw[0] = 5;
        raw[1] = 11;
        assert!(TcpOptions::parse(&raw).unwrap().sack_blocks.is_empty());
        assert!(TcpOptions::parse(&[5, 2]).unwrap().sack_blocks.is_empty());
        // Five blocks (42 bytes) can only appear in an over-long area.
        let mut raw = [0u8; 42];
        raw[0] = 5;
        raw[1] = 42;
        assert!(TcpOptions::parse(&raw).unwrap().sack_blocks.is_empty());
    }

    #[test]
    fn sack_blocks_container() {
        let mut s = SackBlocks::new();
        assert!(s.is_empty());
        assert!(s.push(SeqNumber(1), SeqNumber(2)));
        assert!(s.push(SeqNumber(3), SeqNumber(4)));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().count(), 2);
        let mut t = s;
        t.truncate(1);
        assert_ne!(s, t);
        t.push(SeqNumber(3), SeqNumber(4));
        assert_eq!(s, t);
        s.clear();
        assert_eq!(s, SackBlocks::new());
        assert_eq!(s.get(0), None);
    }
}
