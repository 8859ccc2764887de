//! A reader thread per TUN queue, for devices that hand over one segment
//! per read (no segmentation offload: [`crate::TunOffload::Checksum`] and
//! [`crate::TunOffload::Off`]).
//!
//! Without offload every segment the kernel sends costs one read(2) of the
//! queue, and the kernel's half of the work for the segments our ACKs let
//! its sender send (tcp_ack(), tcp_write_xmit(), the device's transmit) runs
//! inside our write(2) of the ACK: tun_get_user() hands the packet to
//! netif_receive_skb() in the writer's own context. Done by the driver, the
//! reads and that work all fall on one thread. Measured on two cores,
//! Linux -> finack without offload: the driver's thread busy about 80% of
//! the time (`perf sched`), the other core about two thirds idle, and a
//! read(2) of the queue about 40% of the runtime's CPU time (`perf record`).
//! A thread of its own reads the queue here, batches the reads in one
//! buffer and hands the batch to the worker's driver, which takes no read
//! on its own thread any more and runs the engine and the writes while the
//! next batch is read on the other core. Linux -> finack without offload,
//! one worker, interleaved against the driver reading the queue itself
//! (6 rounds of 2 s each): median 3.68 -> 5.26 Gbit/s, 0.56 -> 0.87 of
//! Linux -> Linux over veth without offload in the same rounds; finack ->
//! Linux without offload (whose reads are ACKs) 1.58 -> 2.25 (5 rounds).
//!
//! The queue's descriptor is not registered with tokio's reactor in this
//! mode (the driver writes with plain non-blocking write(2)): a TUN queue
//! wakes every waiter of its wait queue on each packet it queues
//! (tun_net_xmit() -> sk_data_ready), and a tokio worker parked in
//! epoll_wait() on it was woken that way thousands of times a second for
//! nothing, each wake paid for by the thread that wrote the ACK.
//!
//! The reader blocks in poll(2) when the queue is empty, together with an
//! eventfd the driver's end signals when it is dropped, so the thread ends
//! (and lets go of the queue) with the stack.

use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::sync::mpsc;
use tun_rs::{SyncDevice, VIRTIO_NET_HDR_LEN};

use crate::link::{classify, Counters, Inbound, Kind, Steer, TunPacket};
use crate::offload::tun_read;

/// Reads a batch holds at most. The reader hands a batch over when it is
/// full or when the queue runs dry, so a driver that keeps up gets small
/// batches soon, and one that falls behind takes several in one pass of
/// its engine (one ACK; `FEED_PASS` in stack.rs).
pub(crate) const BATCH_READS: usize = 16;

/// The largest read: a virtio-net header and a 64 KiB super-segment (a
/// device with checksum offload still takes them when the kernel's TSO is
/// left on).
const MAX_READ: usize = VIRTIO_NET_HDR_LEN + 65_536;

/// A batch's buffer: room for the largest read after `BATCH_READS` reads of
/// full-sized packets at a 1500-byte MTU.
const BATCH_BYTES: usize = MAX_READ + BATCH_READS * 1_600;

/// Batches read and not yet taken by the driver, at most; the reader waits
/// when the driver is that far behind (and the kernel's queue then fills
/// as it would without the reader).
const IN_FLIGHT: usize = 32;

/// Reads from a TUN queue, one after the other in one buffer (each at a
/// 64-byte boundary).
pub(crate) struct RxBatch {
    buf: Vec<u8>,
    used: usize,
    spans: Vec<(usize, usize)>,
}

impl RxBatch {
    fn new() -> RxBatch {
        RxBatch {
            buf: vec![0u8; BATCH_BYTES],
            used: 0,
            spans: Vec::with_capacity(BATCH_READS),
        }
    }

    /// The reads, in the order they were made.
    pub(crate) fn reads(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|&(s, l)| &self.buf[s..s + l])
    }

    /// No room for another read (or the batch has its share).
    fn full(&self) -> bool {
        self.spans.len() >= BATCH_READS || self.buf.len() - self.used < MAX_READ
    }

    fn clear(&mut self) {
        self.used = 0;
        self.spans.clear();
    }

    /// Keep the read of `len` bytes made at `used`.
    fn keep(&mut self, len: usize) {
        self.spans.push((self.used, len));
        self.used = (self.used + len).next_multiple_of(64).min(self.buf.len());
    }
}

/// Emptied batches, for the reader to fill again.
type Pool = Arc<Mutex<Vec<RxBatch>>>;

/// The driver's end of a reader: batches in, emptied batches back. Dropping
/// it ends the reader thread.
pub(crate) struct Feed {
    pub(crate) rx: mpsc::Receiver<RxBatch>,
    /// The reads carry a virtio-net header.
    pub(crate) vnet: bool,
    pool: Pool,
    stop: Arc<EventFd>,
}

impl Feed {
    /// Give an emptied batch back to the reader.
    pub(crate) fn recycle(&self, mut batch: RxBatch) {
        batch.clear();
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.stop.write(1);
    }
}

/// The reader's end, before its thread starts.
pub(crate) struct Reader {
    dev: Arc<SyncDevice>,
    vnet: bool,
    tx: mpsc::Sender<RxBatch>,
    pool: Pool,
    stop: Arc<EventFd>,
}

/// A reader of `dev` (made non-blocking here) and the driver's end of it.
pub(crate) fn reader(dev: Arc<SyncDevice>, vnet: bool) -> io::Result<(Feed, Reader)> {
    dev.set_nonblocking(true)?;
    let stop = Arc::new(EventFd::from_flags(
        EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
    )?);
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let pool = Pool::default();
    Ok((
        Feed {
            rx,
            vnet,
            pool: pool.clone(),
            stop: stop.clone(),
        },
        Reader {
            dev,
            vnet,
            tx,
            pool,
            stop,
        },
    ))
}

impl Reader {
    /// Start the thread of worker `me`'s queue: packets another worker owns
    /// are copied into that worker's inbox, as the driver does when it reads
    /// its queue itself.
    pub(crate) fn spawn(
        self,
        me: usize,
        inboxes: Vec<mpsc::UnboundedSender<TunPacket>>,
        steer: Steer,
        counters: Arc<Counters>,
    ) -> io::Result<()> {
        std::thread::Builder::new()
            .name(format!("finack-rx-{me}"))
            .spawn(move || self.run(me, &inboxes, &steer, &counters))
            .map(drop)
    }

    fn take(&self) -> RxBatch {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(RxBatch::new)
    }

    /// Hand `batch` over and start a new one; false once the driver is gone.
    fn send(&self, batch: &mut RxBatch) -> bool {
        let full = std::mem::replace(batch, self.take());
        self.tx.blocking_send(full).is_ok()
    }

    /// Wait until the queue has a packet (true) or the driver is gone.
    fn wait(&self) -> bool {
        loop {
            let mut fds = [
                PollFd::new(self.dev.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.stop.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => return fds[1].any() != Some(true),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::debug!(target: "finack", error = %e, "poll of a TUN queue failed");
                    return false;
                }
            }
        }
    }

    fn run(
        self,
        me: usize,
        inboxes: &[mpsc::UnboundedSender<TunPacket>],
        steer: &Steer,
        counters: &Counters,
    ) {
        let mut batch = self.take();
        loop {
            let at = batch.used;
            match self.dev.recv(&mut batch.buf[at..at + MAX_READ]) {
                Ok(n) => {
                    let read = &batch.buf[at..at + n];
                    let Some((pkt, rx)) = tun_read(read, self.vnet) else {
                        Counters::bump(&counters.packets_in);
                        Counters::bump(&counters.skipped_not_ip);
                        continue;
                    };
                    match classify(pkt) {
                        kind @ (Kind::NotIp | Kind::NotTcp) => {
                            Counters::bump(&counters.packets_in);
                            Counters::bump(if kind == Kind::NotIp {
                                &counters.skipped_not_ip
                            } else {
                                &counters.skipped_not_tcp
                            });
                        }
                        kind @ (Kind::Tcp | Kind::IcmpError) => {
                            let owner = steer.worker_of(pkt, kind);
                            if owner == me {
                                batch.keep(n);
                            } else {
                                Counters::bump(&counters.handed_over);
                                let _ = inboxes[owner].send(TunPacket::copied(pkt, rx));
                            }
                        }
                    }
                    if batch.full() && !self.send(&mut batch) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The queue is empty: hand over what there is, then
                    // sleep until it is not.
                    if !batch.spans.is_empty() && !self.send(&mut batch) {
                        return;
                    }
                    if !self.wait() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(target: "finack", worker = me, error = %e, "TUN queue closed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_its_share_of_reads_and_keeps_room_for_the_largest() {
        let mut b = RxBatch::new();
        for k in 0..BATCH_READS {
            assert!(!b.full(), "after {k} reads");
            b.buf[b.used] = k as u8;
            b.keep(1_510);
        }
        assert!(b.full());
        let reads: Vec<&[u8]> = b.reads().collect();
        assert_eq!(reads.len(), BATCH_READS);
        for (k, r) in reads.iter().enumerate() {
            assert_eq!((r.len(), r[0]), (1_510, k as u8));
        }
        // Every read starts at a 64-byte boundary and the last one had room
        // for a 64 KiB super-segment.
        assert!(b.spans.iter().all(|&(s, _)| s % 64 == 0));
        assert!(b.spans.last().unwrap().0 + MAX_READ <= b.buf.len());
        // One super-segment leaves no room for another.
        b.clear();
        b.keep(MAX_READ - 100);
        assert!(b.full());
        assert_eq!(b.reads().count(), 1);
    }
}
