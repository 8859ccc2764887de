//! Receive memory as Linux counts it (`Config::rcv_memory`): every segment
//! held costs the memory the kernel's packet buffer for it takes (its
//! `truesize`), the buffer (`sk_rcvbuf`) is a memory limit, and the window
//! is the share of the free memory that payload is expected to fill
//! (`scaling_ratio`), kept under `rcv_ssthresh`, which grows as segments
//! show that they use memory well (Linux tcp_input.c: tcp_grow_window(),
//! tcp_output.c: __tcp_select_window()).
//!
//! The memory a segment takes is what Linux charges for a packet of that
//! size written into a TUN device with a virtio-net header, the device
//! finack runs on and the one packetdrill drives Linux through
//! (drivers/net/tun.c: tun_get_user() → tun_alloc_skb()).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use finack_wire::{SeqNumber, TcpRepr};

use super::{Ctx, Tcb};
use crate::config::Config;

mod fast_path;
mod truesize;
mod window;

pub(crate) use truesize::tun_truesize;

/// Linux TCP_RMEM_TO_WIN_SCALE: the ratio's fixed point.
const RATIO_SCALE: u32 = 8;
/// Linux TCP_DEFAULT_SCALING_RATIO: half of the memory is payload until a
/// segment shows otherwise.
const DEFAULT_RATIO: u8 = 1 << (RATIO_SCALE - 1);
/// Linux SOCK_MIN_RCVBUF (2048 + the aligned `struct sk_buff`).
const MIN_RCVBUF: u32 = 2048 + SKBUFF;
/// The smallest window clamp (Linux tcp_set_window_clamp(): half
/// SOCK_MIN_RCVBUF).
pub(crate) const MIN_WINDOW_CLAMP: u32 = MIN_RCVBUF / 2;
/// Linux `tcp_app_win` (31): the share of the window kept back for the
/// application's buffering, 1/2^31 of it.
const APP_WIN: u32 = 31;
/// `SKB_DATA_ALIGN(sizeof(struct sk_buff))` on x86_64.
const SKBUFF: u32 = 256;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`.
const SHINFO: u32 = 320;
/// NET_SKB_PAD: headroom tun reserves.
const PAD: u32 = 64;
const PAGE: u32 = 4096;
/// The small-head cache of a distribution kernel (`SKB_SMALL_HEAD_CACHE_SIZE`).
const SMALL_HEAD: u32 = 704;
/// PAGE_ALLOC_COSTLY_ORDER: page chunks of up to 32 KiB.
const COSTLY_ORDER: u32 = 3;

/// One packet buffer held: the sequence space it covers, the memory it is
/// charged, and the room left at the end of its head, into which a later
/// small segment is copied at no charge (Linux skb_try_coalesce()).
#[derive(Clone, Copy, Debug)]
struct Skb {
    seq: SeqNumber,
    end: SeqNumber,
    truesize: u32,
    tailroom: u32,
}

/// What the receiving side knows of its memory (Linux `sk_rcvbuf`,
/// `sk_rmem_alloc`, `scaling_ratio`, `window_clamp`, `rcv_ssthresh`,
/// `rcv_wnd`).
#[derive(Clone, Debug, Default)]
pub(crate) struct RcvMem {
    /// The memory limit (`sk_rcvbuf`).
    pub(super) rcvbuf: u32,
    /// Memory the buffers held take (`sk_rmem_alloc`).
    rmem: u32,
    /// Payload per byte of memory, in 256ths (`scaling_ratio`).
    ratio: u8,
    /// The largest window ever to offer (`window_clamp`).
    pub(super) clamp: u32,
    /// The window's current bound, grown by well-filled segments
    /// (`rcv_ssthresh`).
    pub(super) ssthresh: u32,
    /// The window last selected (`rcv_wnd`).
    pub(super) wnd: u32,
    /// In-order buffers not yet read, oldest first (the receive queue).
    queue: VecDeque<Skb>,
    /// Out-of-order buffers, by sequence (the out-of-order queue).
    ooo: Vec<Skb>,
    /// Data was refused for want of memory: the next window is 0 (Linux
    /// ICSK_ACK_NOMEM).
    nomem: bool,
    /// Memory reserved ahead of charges, in whole pages when reserved
    /// (`sk_forward_alloc`; see `fast_path`).
    fwd: u32,
    /// Header prediction is on, for segments carrying this window field
    /// (Linux `pred_flags`; see `fast_path`).
    hp: Option<u16>,
}

impl RcvMem {
    pub(crate) fn new(rcvbuf: usize) -> RcvMem {
        RcvMem {
            rcvbuf: rcvbuf.min(u32::MAX as usize) as u32,
            ratio: DEFAULT_RATIO,
            ..RcvMem::default()
        }
    }

    /// Heap bytes the buffer records take.
    pub(crate) fn heap_bytes(&self) -> usize {
        (self.queue.capacity() + self.ooo.capacity()) * core::mem::size_of::<Skb>()
    }

    /// Linux tcp_win_from_space(): the payload `space` bytes of memory hold.
    fn win_from_space(&self, space: i64) -> i64 {
        (space * i64::from(self.ratio)) >> RATIO_SCALE
    }

    /// Linux tcp_space_from_win(): the memory a window of `win` takes.
    fn space_from_win(&self, win: u64) -> u64 {
        (win << RATIO_SCALE) / u64::from(self.ratio.max(1))
    }

    /// Linux tcp_space(): the window the free memory allows (may be
    /// negative when more is held than the limit).
    fn free_space(&self) -> i64 {
        self.win_from_space(i64::from(self.rcvbuf) - i64::from(self.rmem))
    }

    /// Linux tcp_full_space().
    fn full_space(&self) -> i64 {
        self.win_from_space(i64::from(self.rcvbuf))
    }

    /// Linux sk_rmem_schedule(): a charge of `size` that the memory
    /// reserved ahead does not cover reserves `size` more, in whole pages
    /// (__sk_mem_schedule()).
    fn schedule(&mut self, size: u32) {
        if size > self.fwd {
            self.fwd += size.div_ceil(PAGE) * PAGE;
        }
    }

    /// A buffer is charged (skb_set_owner_r() → sk_mem_charge()).
    fn charge(&mut self, size: u32) {
        self.rmem += size;
        self.fwd = self.fwd.saturating_sub(size);
    }

    /// A buffer is freed (sock_rfree() → sk_mem_uncharge()): its memory
    /// returns to the reserve, which gives back whole pages at once
    /// (sk_mem_reclaim()).
    fn uncharge(&mut self, size: u32) {
        self.rmem -= size;
        self.fwd = (self.fwd + size) % PAGE;
    }
}

/// The memory limit SO_RCVBUF of `bytes` sets (Linux sock_setsockopt(),
/// __sock_set_rcvbuf(): twice the value asked, at most twice
/// `Config::rmem_max`, at least SOCK_MIN_RCVBUF).
fn rcvbuf_for(bytes: usize, rmem_max: usize) -> u32 {
    crate::config::socket_buffer(bytes, rmem_max, MIN_RCVBUF as usize) as u32
}

/// The room a SYN,ACK offers under the memory model (Linux
/// tcp_openreq_init_rwin(): tcp_full_space() at the default ratio) for a
/// listener whose SO_RCVBUF is `so_rcvbuf` (0: unset, `Config::recv_buffer`
/// is the memory).
pub(crate) fn syn_ack_space(cfg: &Config, so_rcvbuf: usize) -> u32 {
    let rcvbuf = if so_rcvbuf > 0 {
        rcvbuf_for(so_rcvbuf, cfg.rmem_max)
    } else {
        cfg.recv_buffer.min(u32::MAX as usize) as u32
    };
    RcvMem {
        rcvbuf,
        ratio: DEFAULT_RATIO,
        ..RcvMem::default()
    }
    .full_space()
    .max(0) as u32
}

impl Tcb {
    /// A connection made from a SYN cookie: the SYN,ACK went out without
    /// it, so its window is worked out again as it was then (Linux
    /// cookie_v4_check() → tcp_select_initial_window()).
    pub(crate) fn rmem_cookie_window(&mut self, cfg: &Config) {
        if !cfg.rcv_memory {
            return;
        }
        let ts = if self.ts_ok { 12 } else { 0 };
        let mss = u32::from(self.our_mss(cfg)).saturating_sub(ts);
        let wnd = self.rmem_initial_window(self.rcvbuf_locked(), mss);
        self.rcv.adv = self.rcv.nxt + wnd;
        self.rcv.last_ack_sent = self.rcv.nxt;
    }

    /// The memory model, when the configuration has it.
    fn mem(&self) -> Option<&RcvMem> {
        self.rcv.est.as_deref().map(|e| &e.mem)
    }

    fn mem_mut(&mut self) -> &mut RcvMem {
        &mut self.est().mem
    }

    /// `sk_rcvbuf` under the memory model, else the buffer's size.
    pub(crate) fn rcvbuf(&self, cfg: &Config) -> usize {
        match self.mem().filter(|_| cfg.rcv_memory) {
            Some(m) => m.rcvbuf as usize,
            None => self.rcv.buf.cap(),
        }
    }

    /// `tcpi_rcv_ssthresh`: the window's bound (the buffer's free room
    /// without the memory model).
    pub(crate) fn rcv_ssthresh(&self, cfg: &Config) -> u32 {
        match self.mem().filter(|_| cfg.rcv_memory) {
            Some(m) => m.ssthresh,
            None => self.rcv.buf.free() as u32,
        }
    }

    /// The largest window a segment's field can announce at our shift
    /// (RFC 7323 §2.3; 65535 without scaling).
    pub(super) fn window_max(&self) -> u32 {
        65535 << self.rcv.wscale
    }

    /// The window the memory limit allows (Linux tcp_full_space()), under
    /// the memory model.
    pub(super) fn rmem_full_space(&self) -> Option<u32> {
        self.mem().map(|m| m.full_space().max(0) as u32)
    }

    /// Receive memory in use (Linux `sk_rmem_alloc`), under the memory model.
    pub(crate) fn rmem_in_use(&self) -> u32 {
        self.mem().map_or(0, |m| m.rmem)
    }

    /// `window_clamp` under the memory model, as TCP_WINDOW_CLAMP reports
    /// it (0: none yet).
    pub(crate) fn rmem_clamp(&self) -> u32 {
        self.mem().map_or(0, |m| m.clamp)
    }

    /// SO_RCVBUF: `bytes` as the application asks. Under the memory model
    /// the limit is twice that and may be set while data is held; without
    /// it the buffer is `bytes`, set only while empty (false otherwise).
    /// Either way autotuning leaves the connection alone.
    /// `rmem_max`: `Config::rmem_max`.
    pub(crate) fn set_recv_buffer(
        &mut self,
        rcv_memory: bool,
        rmem_max: usize,
        bytes: usize,
    ) -> bool {
        if rcv_memory {
            self.rmem_set_rcvbuf(bytes, rmem_max);
        } else if !self.rcv.buf.set_cap(bytes) {
            return false;
        }
        self.lock_rcvbuf();
        true
    }

    /// The memory a segment as it arrived takes (Linux `skb->truesize`)
    /// and the room at the end of its head.
    fn seg_truesize(&self, seg: &TcpRepr<'_>) -> (u32, u32) {
        let ip = if self.remote.is_ipv4() { 20 } else { 40 };
        let tcp = 20 + seg.options.emitted_len() as u32;
        tun_truesize(ip + tcp + seg.payload.len() as u32)
    }

    /// SO_RCVBUF of `bytes` under the memory model (7.x tcp_set_rcvbuf()
    /// moves the window's clamp with the limit).
    fn rmem_set_rcvbuf(&mut self, bytes: usize, rmem_max: usize) {
        let rcvbuf = rcvbuf_for(bytes, rmem_max);
        if self.rcv.buf.cap() < rcvbuf as usize {
            self.rcv.buf.grow_cap(rcvbuf as usize);
        }
        let m = self.mem_mut();
        m.rcvbuf = rcvbuf;
        let clamp = m.full_space().max(0) as u32;
        if self.state.is_synchronized() {
            self.set_window_clamp(clamp);
        }
    }

    /// Linux tcp.c: tcp_set_window_clamp(): at least half SOCK_MIN_RCVBUF,
    /// and (7.x) at most the largest window the field can announce at our
    /// shift (`window_max`); `rcv_ssthresh` follows a lower clamp down,
    /// and a higher one up to the window last offered.
    pub(super) fn set_window_clamp(&mut self, val: u32) {
        let max = self.window_max();
        let m = self.mem_mut();
        let new = val.max(MIN_WINDOW_CLAMP).min(max);
        let old = m.clamp;
        if new == old {
            return;
        }
        m.clamp = new;
        if new < old {
            m.ssthresh = m.ssthresh.min(new);
        } else {
            m.ssthresh = m.ssthresh.max(m.wnd.min(new));
        }
    }

    /// The window of our SYN or SYN,ACK, `mss` our MSS less the timestamps
    /// (Linux tcp_openreq_init_rwin() and tcp_connect_init(), through
    /// tcp_select_initial_window()): the memory's default share, a whole
    /// number of `mss`, under the clamp (the full share for a buffer the
    /// application sized). It is the window the connection starts with and
    /// the bound on growing it.
    pub(super) fn rmem_initial_window(&mut self, locked: bool, mss: u32) -> u32 {
        // The clamp is the largest window the scale we announce can carry:
        // in SYN-SENT the one our SYN offers (tcp_connect_init() picks
        // rcv_wscale in the same call, `syn_wscale_offer`).
        let max = self.window_max();
        let m = self.mem_mut();
        let full = m.full_space().max(0) as u32;
        // TCP_WINDOW_CLAMP set before the handshake (0: none), lowered to
        // what a sized buffer allows; none at all: the largest scaled
        // window.
        let mut clamp = m.clamp;
        if locked && full > 0 && (clamp > full || clamp == 0) {
            clamp = full;
        }
        if clamp == 0 {
            clamp = 65535 << 14;
        }
        let mut space = clamp.min(full);
        if mss > 0 && space > mss {
            space = space / mss * mss;
        }
        m.clamp = clamp.min(max);
        // Linux 7.x tcp_select_initial_window(): the window the connection
        // starts with is no more than the field can announce at this shift
        // (without scaling 65535): a peer must not be let past the edge
        // announced (selftest tcp_rcv_wnd_passive_no_scaling).
        let space = space.min(max);
        m.wnd = space;
        m.ssthresh = space;
        space
    }

    /// Linux tcp_init_buffer_space(), when the connection is established:
    /// the clamp comes down to the memory's share less the application's
    /// reserve and one segment, and the window's bound with it.
    pub(super) fn rmem_init_buffer_space(&mut self, cfg: &Config) {
        if !cfg.rcv_memory {
            return;
        }
        let adv = u32::from(self.our_mss(cfg));
        let m = self.mem_mut();
        let maxwin = m.full_space().max(0) as u32;
        if m.clamp >= maxwin {
            m.clamp = maxwin;
            if maxwin > 4 * adv {
                m.clamp = (maxwin - (maxwin >> APP_WIN)).max(4 * adv);
            }
        }
        if m.clamp > 2 * adv && m.clamp + adv > maxwin {
            m.clamp = (2 * adv).max(maxwin.saturating_sub(adv));
        }
        m.ssthresh = m.ssthresh.min(m.clamp);
        let space = m.ssthresh.min(m.wnd).min(10 * adv);
        self.set_rcvq_space(space);
    }

    /// Linux tcp_measure_rcv_mss(), for a segment at least the size of
    /// the estimate and not equal to it: the payload's share of the memory
    /// it took becomes the ratio, and a changed ratio moves the clamp (7.x
    /// writes it without touching `rcv_ssthresh`).
    pub(super) fn rmem_measure_ratio(&mut self, cfg: &Config, seg: &TcpRepr<'_>) {
        if !cfg.rcv_memory {
            return;
        }
        let (truesize, _) = self.seg_truesize(seg);
        let len = seg.payload.len() as u32;
        let max = self.window_max();
        let m = self.mem_mut();
        let ratio = ((u64::from(len) << RATIO_SCALE) / u64::from(truesize)).clamp(1, 255) as u8;
        if ratio == m.ratio {
            return;
        }
        m.ratio = ratio;
        m.clamp = (m.full_space().max(0) as u32).min(max);
        let clamp = m.clamp;
        self.cap_rcvq_space(clamp);
    }

    /// Linux tcp_grow_window(): a segment whose memory the window accounts
    /// for well (its payload at least the window share of its memory)
    /// raises `rcv_ssthresh` by two of our segments; a worse one only
    /// while `rcv_ssthresh` is small against the largest buffer
    /// (__tcp_grow_window()); by at least twice the segment, within the
    /// room the clamp and the free memory leave.
    fn grow_window(&mut self, cfg: &Config, len: u32, truesize: u32) {
        if self.rcv.mem_pressure {
            return;
        }
        let adv = u32::from(self.our_mss(cfg));
        let rcv_mss = u32::from(self.rcv_mss(cfg));
        let m = self.mem_mut();
        let room = i64::from(m.clamp).min(m.free_space()) - i64::from(m.ssthresh);
        if room <= 0 {
            return;
        }
        let win = m.win_from_space(i64::from(truesize));
        let incr = if win <= i64::from(len) {
            2 * adv
        } else {
            let mut t = win >> 1;
            let mut w = m.win_from_space(cfg.recv_buffer_max as i64) >> 1;
            let mut incr = 0;
            while i64::from(m.ssthresh) <= w {
                if t <= i64::from(len) {
                    incr = 2 * rcv_mss;
                    break;
                }
                t >>= 1;
                w >>= 1;
            }
            incr
        };
        if incr > 0 {
            let incr = incr.max(2 * len);
            m.ssthresh += (room as u32).min(incr);
            // A window that grows is announced at once: one more quick
            // ACK (`icsk_ack.quick |= 1`).
            self.rcv.quickacks |= 1;
        }
    }

    /// Charge an in-order segment `[seq, end)` that was just queued (Linux
    /// tcp_queue_rcv(): copied into the last buffer's spare head room when
    /// it fits, else queued and charged), then tcp_event_data_recv()'s
    /// window growth for segments of 128 bytes or more, then the
    /// out-of-order buffers it reaches join the queue (tcp_ofo_queue()).
    pub(super) fn rmem_charge_in_order(
        &mut self,
        cfg: &Config,
        seg: &TcpRepr<'_>,
        seq: SeqNumber,
        len: u32,
    ) {
        if !cfg.rcv_memory {
            return;
        }
        let (truesize, tailroom) = self.seg_truesize(seg);
        let skb = Skb {
            seq,
            end: seq + len,
            truesize,
            tailroom,
        };
        queue_rcv(self.mem_mut(), skb);
        let plen = seg.payload.len() as u32;
        if plen >= 128 {
            self.grow_window(cfg, plen, truesize);
        }
        // RCV.NXT already passed the out-of-order data this joined to.
        let nxt = self.rcv.nxt;
        let m = self.mem_mut();
        let reached = m.ooo.iter().take_while(|o| o.seq.lt(nxt)).count();
        let mut at = skb.end;
        for i in 0..reached {
            let o = m.ooo[i];
            if o.end.le(at) {
                m.uncharge(o.truesize);
            } else {
                queue_rcv_charged(m, o);
                at = o.end;
            }
        }
        m.ooo.drain(..reached);
        // Linux tcp_data_queue(): tcp_fast_path_check() after in-order data.
        self.hp_check(cfg);
    }

    /// Charge an out-of-order segment `[seq, seq+len)` that was just held
    /// (Linux tcp_data_queue_ofo(): its size measured first; appended to
    /// the last out-of-order buffer's head room when it continues it, else
    /// held and charged, buffers it covers whole released; with SACK the
    /// window grows, before the charge for a new buffer; then, for a
    /// connection the application has taken, tcp_rcvbuf_grow() makes room
    /// for what out-of-order data spans).
    pub(super) fn rmem_charge_ooo(
        &mut self,
        cfg: &Config,
        seg: &TcpRepr<'_>,
        seq: SeqNumber,
        len: u32,
        accepted: bool,
    ) {
        if !cfg.rcv_memory {
            return;
        }
        let (truesize, tailroom) = self.seg_truesize(seg);
        let plen = seg.payload.len() as u32;
        let end = seq + len;
        let sack = self.sack_ok;
        let m = self.mem_mut();
        // The buffers are in sequence order: the one before the segment may
        // hold it whole; those after it that it covers whole go.
        let at = m.ooo.partition_point(|o| o.seq.le(seq));
        if at > 0 && m.ooo[at - 1].end.ge(end) {
            return;
        }
        // Linux tcp_data_queue_ofo(): "Disable header prediction."
        m.hp = None;
        let coalesced = at == m.ooo.len()
            && m.ooo
                .last_mut()
                .filter(|l| l.end == seq && len <= l.tailroom)
                .map(|l| {
                    l.tailroom -= len;
                    l.end = end;
                })
                .is_some();
        if !coalesced {
            let covered = m.ooo[at..].iter().take_while(|o| o.end.le(end)).count();
            let freed: u32 = m.ooo.drain(at..at + covered).map(|o| o.truesize).sum();
            m.uncharge(freed);
            let skb = Skb {
                seq,
                end,
                truesize,
                tailroom,
            };
            m.ooo.insert(at, skb);
        }
        // With SACK the window grows before a new buffer is charged.
        if sack {
            self.grow_window(cfg, plen, truesize);
        }
        if !coalesced {
            self.mem_mut().charge(truesize);
        }
        if accepted {
            let space = self.rcvq_space();
            self.rcvbuf_grow(cfg, space);
        }
    }

    /// Linux tcp_input.c: tcp_data_queue()'s checks before text `len`
    /// bytes long at `seq` (at or past RCV.NXT) is held: in order, nothing
    /// when the window offered is closed (TCPZeroWindowDrop), and with
    /// memory over the limit only while nothing waits to be read (the
    /// next window is then 0); out of order, nothing at or past the
    /// window's edge (BeyondWindow) nor over the memory limit
    /// (TCPOFODrop). Each refusal is acknowledged at once, in quick-ACK
    /// mode. The ring is made large enough for what is taken.
    pub(super) fn rmem_admit(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: &TcpRepr<'_>,
        seq: SeqNumber,
        len: usize,
    ) -> bool {
        let open = self.rcv_wnd_open();
        let nxt = self.rcv.nxt;
        let ahead = (seq - nxt).max(0) as usize;
        let (truesize, _) = self.seg_truesize(seg);
        let refuse = |t: &mut Tcb, ctx: &mut Ctx<'_>| {
            t.rcv.ack_now = true;
            t.rcv.quickacks = t.rcv.quickacks.max(ctx.cfg.quickacks);
            false
        };
        if seq == nxt && self.hp_takes(seg, truesize) {
            // The fast path: no window or memory checks.
        } else if seq == nxt {
            if open == 0 {
                ctx.stats.zero_window_drop += 1;
                return refuse(self, ctx);
            }
            if self.rmem_try_schedule(ctx, ahead) {
                self.mem_mut().schedule(truesize);
            } else {
                self.rcv.ack_now = true;
                if self.rcv.buf.len() > 0 {
                    ctx.stats.rcvq_drop += 1;
                    return false;
                }
                // Nothing waits to be read: taken anyway
                // (sk_forced_mem_schedule()).
                let m = self.mem_mut();
                if truesize > m.fwd {
                    m.fwd += (truesize - m.fwd).div_ceil(PAGE) * PAGE;
                }
            }
        } else {
            if !seq.lt(nxt + open) {
                ctx.stats.beyond_window += 1;
                return refuse(self, ctx);
            }
            if !self.rmem_try_schedule(ctx, ahead) {
                ctx.stats.ofo_drop += 1;
                return refuse(self, ctx);
            }
            self.mem_mut().schedule(truesize);
        }
        let needed = self.rcv.buf.len() + ahead + len;
        if needed > self.rcv.buf.cap() {
            self.rcv.buf.grow_cap(needed);
        }
        true
    }

    /// Linux tcp_input.c: tcp_data_queue(): a FIN alone at RCV.NXT is
    /// taken even when the window offered is closed (some stacks send one
    /// in a loop against a zero window) and even over the memory limit (it
    /// costs nothing to hold); over the limit it is acknowledged at once,
    /// offering a window of 0 (ICSK_ACK_NOMEM | ICSK_ACK_NOW).
    pub(super) fn rmem_admit_fin(&mut self, ctx: &mut Ctx<'_>) {
        if !self.rmem_try_schedule(ctx, 0) {
            self.rcv.ack_now = true;
        }
    }

    /// The application read up to `copied` (the next byte it will read):
    /// buffers it emptied are released (Linux tcp_eat_recv_skb()).
    pub(super) fn rmem_uncharge_read(&mut self, cfg: &Config) {
        if !cfg.rcv_memory {
            return;
        }
        let copied = self.rcv.nxt - self.rcv.buf.len() as u32;
        let m = self.mem_mut();
        while let Some(s) = m.queue.front().filter(|s| s.end.le(copied)) {
            let size = s.truesize;
            m.uncharge(size);
            m.queue.pop_front();
        }
    }

    /// Linux tcp_input.c: tcp_rcvbuf_grow() under the memory model: the
    /// buffer takes the memory the new window needs (tcp_space_from_win()),
    /// up to `tcp_rmem[2]`, and the clamp follows.
    pub(super) fn rmem_grow_to_window(&mut self, cfg: &Config, rcvwin: u64) {
        let m = self.mem_mut();
        let rcvbuf = m.space_from_win(rcvwin).min(cfg.recv_buffer_max as u64) as u32;
        if rcvbuf > m.rcvbuf {
            m.rcvbuf = rcvbuf;
            m.clamp = m.full_space().max(0) as u32;
            if self.rcv.buf.cap() < rcvbuf as usize {
                self.rcv.buf.grow_cap(rcvbuf as usize);
            }
        }
    }

    /// Linux tcp_try_rmem_schedule() for one connection: more memory held
    /// than the limit first raises an autotuned limit to what is held, up
    /// to `tcp_rmem[2]` (tcp_clamp_window(), which also drops the window's
    /// bound to two segments if still over), then drops out-of-order
    /// buffers from the highest down to the arriving segment, `ahead` bytes
    /// past RCV.NXT (tcp_prune_ofo_queue(): an eighth of the limit at a time
    /// before looking again, and what SACK blocks said is forgotten). False:
    /// still over the limit; the segment is refused and the next window is 0.
    fn rmem_try_schedule(&mut self, ctx: &mut Ctx<'_>, ahead: usize) -> bool {
        let cfg = ctx.cfg;
        let locked = self.rcvbuf_locked();
        let adv = u32::from(self.our_mss(cfg));
        let m = self.mem_mut();
        if m.rmem <= m.rcvbuf {
            return true;
        }
        if m.rcvbuf < cfg.recv_buffer_max as u32 && !locked {
            m.rcvbuf = m.rmem.min(cfg.recv_buffer_max as u32);
            let cap = m.rcvbuf as usize;
            if self.rcv.buf.cap() < cap {
                self.rcv.buf.grow_cap(cap);
            }
        }
        let m = self.mem_mut();
        if m.rmem > m.rcvbuf {
            m.ssthresh = m.clamp.min(2 * adv);
        }
        self.rcv.quickacks = 0;
        // Out-of-order ranges from the highest down, while they lie past the
        // arriving segment, an eighth of the limit's worth at a time.
        let mut pruned = false;
        let mut goal = 0i64;
        while self.mem().is_some_and(|m| m.rmem > m.rcvbuf || goal > 0) {
            if goal <= 0 {
                goal = i64::from(self.mem_mut().rcvbuf >> 3);
            }
            if !self.rcv.buf.prune_ooo_beyond(ahead) {
                break;
            }
            pruned = true;
            let before = self.mem_mut().rmem;
            self.rmem_resync_ooo(cfg);
            goal -= i64::from(before - self.mem_mut().rmem);
        }
        if pruned {
            ctx.stats.ofo_pruned += 1;
            self.rcv.buf.forget_sacks();
        }
        let m = self.mem_mut();
        if m.rmem > m.rcvbuf {
            // Refused (tcp_prune_queue(): "massive buffer overcommit"):
            // prediction off.
            m.nomem = true;
            m.hp = None;
            return false;
        }
        true
    }

    /// Release the out-of-order buffers no held range overlaps any more
    /// (after out-of-order data was pruned, Linux tcp_prune_ofo_queue()).
    pub(super) fn rmem_resync_ooo(&mut self, cfg: &Config) {
        if !cfg.rcv_memory {
            return;
        }
        let nxt = self.rcv.nxt;
        let ranges: Vec<(SeqNumber, SeqNumber)> = self
            .rcv
            .buf
            .ooo_blocks()
            .map(|(s, e)| (nxt + s as u32, nxt + e as u32))
            .collect();
        let m = self.mem_mut();
        let mut freed = 0;
        m.ooo.retain(|o| {
            let held = ranges.iter().any(|&(s, e)| o.seq.lt(e) && o.end.gt(s));
            if !held {
                freed += o.truesize;
            }
            held
        });
        m.uncharge(freed);
    }
}

/// Queue an in-order buffer not yet charged: into the last one's head room
/// when it fits (no charge), else charged at the tail.
fn queue_rcv(m: &mut RcvMem, skb: Skb) {
    if !coalesce(m, skb) {
        m.charge(skb.truesize);
        m.queue.push_back(skb);
    }
}

/// Copy a buffer into the last queued one's head room when it fits there
/// (Linux skb_try_coalesce(): no charge).
fn coalesce(m: &mut RcvMem, skb: Skb) -> bool {
    let len = (skb.end - skb.seq).max(0) as u32;
    m.queue
        .back_mut()
        .filter(|t| t.end == skb.seq && len <= t.tailroom)
        .map(|t| {
            t.tailroom -= len;
            t.end = skb.end;
        })
        .is_some()
}

/// Move an out-of-order buffer, already charged, to the queue's tail:
/// copied into the last buffer's head room when it fits (and released).
fn queue_rcv_charged(m: &mut RcvMem, skb: Skb) {
    if coalesce(m, skb) {
        m.uncharge(skb.truesize);
    } else {
        m.queue.push_back(skb);
    }
}
