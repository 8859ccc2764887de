//! Urgent data on the receiving side, as Linux hands it to the
//! application (`Config::urgent_oob`): recv(MSG_OOB), SO_OOBINLINE,
//! SIOCATMARK and POLLPRI.

use super::{Endpoint, SlotKind};
use crate::types::{ConnId, Error};

impl Endpoint {
    /// recv(MSG_OOB): the out-of-band byte of urgent data, once (`peek`
    /// leaves it for another call); `Ok(None)` at the end of the stream.
    /// `InvalidArgument` when there is none to read (none came, it was
    /// read, SO_OOBINLINE is on, or the configuration keeps urgent data in
    /// the stream); `WouldBlock` while the pointer has come but the byte
    /// has not (never blocking; Linux tcp_recv_urg()).
    pub fn recv_oob(&mut self, c: ConnId, peek: bool) -> Result<Option<u8>, Error> {
        let idx = self.slot_of(c).ok_or(Error::InvalidHandle)?;
        let cfg = &self.cfg;
        match &mut self.slots[idx as usize].kind {
            SlotKind::Active(tcb) => tcb.recv_oob(cfg, peek),
            _ => Err(Error::InvalidArgument),
        }
    }

    /// SO_OOBINLINE: the out-of-band byte stays in the stream, where a read
    /// returns it (a read still stops in front of it).
    pub fn set_oob_inline(&mut self, c: ConnId, on: bool) -> Result<(), Error> {
        self.with_active(c, |tcb| tcb.set_oob_inline(on))
    }

    /// SO_OOBINLINE as set.
    pub fn oob_inline(&self, c: ConnId) -> Result<bool, Error> {
        self.active(c).map(|tcb| tcb.oob_inline())
    }

    /// SIOCATMARK: the next byte to read is where the out-of-band byte is
    /// (or was, while urgent data is still pending).
    pub fn at_urgent_mark(&self, c: ConnId) -> bool {
        self.active(c).is_ok_and(|tcb| tcb.at_urgent_mark())
    }

    /// POLLPRI: an out-of-band byte waits for [`Endpoint::recv_oob`].
    pub fn oob_waiting(&self, c: ConnId) -> bool {
        self.active(c).is_ok_and(|tcb| tcb.oob_waiting())
    }

    /// Bytes a read could return now, for poll(): what is queued less an
    /// out-of-band byte waiting at the read position (Linux tcp_poll()
    /// asks for one byte more there).
    pub fn poll_readable(&self, c: ConnId) -> usize {
        self.active(c)
            .map_or(0, |tcb| tcb.stream_readable(&self.cfg))
    }
}
