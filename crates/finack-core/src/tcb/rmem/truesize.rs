//! The memory a packet written into a TUN device takes in Linux
//! (`skb->truesize`), the device finack runs on and the one packetdrill
//! drives Linux through.

use super::{COSTLY_ORDER, PAD, PAGE, SHINFO, SKBUFF, SMALL_HEAD};

/// The memory Linux charges for a packet of `ip_len` bytes written into a
/// TUN device with a virtio-net header, and the room left at the end of its
/// head (drivers/net/tun.c: tun_get_user(): no page-fragment build for a
/// TUN (not TAP) device; tun_alloc_skb() asks sock_alloc_send_pskb() for a
/// head of NET_SKB_PAD plus up to SKB_MAX_HEAD(NET_SKB_PAD) bytes, and
/// alloc_skb_with_frags() puts the rest in page chunks of up to
/// 4 KiB << PAGE_ALLOC_COSTLY_ORDER, each charged whole; the head is a
/// kmalloc object, its size rounded to the allocator's bucket).
pub(crate) fn tun_truesize(ip_len: u32) -> (u32, u32) {
    let max_head = PAGE - PAD - SHINFO;
    let (linear, mut data) = if PAD + ip_len < PAGE {
        (ip_len, 0)
    } else {
        (max_head, ip_len - max_head)
    };
    let obj = (PAD + linear).div_ceil(64) * 64 + SHINFO;
    let size = if obj <= SMALL_HEAD {
        SMALL_HEAD
    } else {
        obj.next_power_of_two()
    };
    let mut truesize = size - SHINFO + SKBUFF + SHINFO;
    let tailroom = size - SHINFO - (PAD + linear);
    let mut order = COSTLY_ORDER;
    while data > 0 {
        while order > 0 && data.div_ceil(PAGE) * PAGE < PAGE << order {
            order -= 1;
        }
        truesize += PAGE << order;
        data -= data.min(PAGE << order);
    }
    (truesize, tailroom)
}

#[cfg(test)]
mod tests {
    use super::tun_truesize;

    /// The sizes Linux 6.18 charged for packets written into a TUN device,
    /// measured with SO_MEMINFO (a small head of 704 bytes, as distribution
    /// kernels build it).
    #[test]
    fn truesize_of_tun_packets() {
        assert_eq!(tun_truesize(1040).0, 2304);
        assert_eq!(tun_truesize(3712).0, 4352);
        assert_eq!(tun_truesize(4040).0, 8448);
        assert_eq!(tun_truesize(9040).0, 12544);
        assert_eq!(tun_truesize(20040).0, 20736);
        assert_eq!(tun_truesize(60040).0, 61696);
        assert_eq!(tun_truesize(65040).0, 65792);
        assert_eq!(tun_truesize(100).0, 960);
    }
}
