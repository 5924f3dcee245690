//! Batched socket I/O for the relay's workers: the receives of a whole epoll batch go to the
//! kernel in one io_uring submission, and so do its sends, instead of a `recvfrom` and a
//! `sendto` system call per packet. Where io_uring is not available (an old kernel, a
//! container whose seccomp profile forbids it) the worker uses those plain calls instead.
//!
//! Why the unsafe code here is sound: every operation is non-blocking (`MSG_DONTWAIT`, so it
//! completes or fails at once) and every call waits until all of its completions are reaped,
//! so nothing is in flight between calls. The memory the kernel reads and writes (datagram
//! buffers, `msghdr`s, `iovec`s, socket addresses) belongs to the [`Batch`] itself, in boxed
//! slices that never grow or move; the sockets are held open by the caller for the call. If
//! waiting fails half-way, the batch is leaked rather than freed ([`Batch::abandon`]).

#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use io_uring::{IoUring, opcode, types};

/// Largest datagram relayed.
pub(crate) const MTU: usize = 2048;

/// Buffers and a ring for one worker's batches of `slots` datagrams.
pub(crate) struct Batch {
    ring: IoUring,
    bufs: Box<[[u8; MTU]]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::msghdr]>,
    /// Where each received datagram came from, or each sent one goes.
    names: Box<[libc::sockaddr_storage]>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("slots", &self.bufs.len())
            .finish()
    }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain integers; all zeros is a valid (unspecified) address.
    unsafe { std::mem::zeroed() }
}

fn zeroed_hdr() -> libc::msghdr {
    // SAFETY: msghdr is integers and nullable pointers; all zeros is an empty header.
    unsafe { std::mem::zeroed() }
}

impl Batch {
    /// A ring and buffers for batches of up to `slots` datagrams.
    pub(crate) fn new(slots: usize) -> io::Result<Batch> {
        let entries = u32::try_from(slots.next_power_of_two()).unwrap_or(4096);
        let ring = IoUring::new(entries)?;
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Ok(Batch {
            ring,
            bufs: vec![[0u8; MTU]; slots].into_boxed_slice(),
            iovs: vec![empty; slots].into_boxed_slice(),
            hdrs: (0..slots).map(|_| zeroed_hdr()).collect(),
            names: (0..slots).map(|_| zeroed_storage()).collect(),
        })
    }

    /// How many datagrams a batch holds.
    pub(crate) fn slots(&self) -> usize {
        self.bufs.len()
    }

    /// The datagram in `slot`, its first `len` bytes.
    pub(crate) fn datagram(&self, slot: usize, len: usize) -> &[u8] {
        (self.bufs.get(slot)).map_or(&[], |b| &b[..len.min(MTU)])
    }

    /// Receives one datagram from each socket of `fds` (at most [`Batch::slots`]), slot `i`
    /// from `fds[i]`: `out[i]` is its length and source, `None` when nothing was there.
    pub(crate) fn receive(
        &mut self,
        fds: &[RawFd],
        out: &mut Vec<Option<(usize, SocketAddr)>>,
    ) -> io::Result<()> {
        let n = fds.len().min(self.slots());
        out.clear();
        out.resize(n, None);
        for (i, fd) in fds.iter().take(n).enumerate() {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: MTU,
            };
            let mut hdr = zeroed_hdr();
            hdr.msg_name = (&raw mut self.names[i]).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &raw mut self.iovs[i];
            hdr.msg_iovlen = 1;
            self.hdrs[i] = hdr;
            let entry = opcode::RecvMsg::new(types::Fd(*fd), &raw mut self.hdrs[i])
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
                .user_data(i as u64);
            // SAFETY: the entry points at this batch's own header, iovec, address and buffer
            // of slot `i`, which stay in place and untouched until `complete` below has
            // reaped its completion; the socket is open for the call (see the module docs).
            unsafe { self.ring.submission().push(&entry) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        let hdrs = &self.hdrs;
        let names = &self.names;
        complete(&mut self.ring, n, |i, res| {
            if let (Ok(len), Some(hdr), Some(name)) =
                (usize::try_from(res), hdrs.get(i), names.get(i))
                && let Some(from) = socket_addr(name, hdr.msg_namelen)
                && let Some(slot) = out.get_mut(i)
            {
                *slot = Some((len, from));
            }
        })
    }

    /// Sends, for each `(slot, len, fd, to)`, the first `len` bytes of `slot`'s datagram from
    /// socket `fd` to `to`. A send that fails (a full socket buffer) drops that datagram,
    /// as UDP would.
    pub(crate) fn send(&mut self, sends: &[(usize, usize, RawFd, SocketAddr)]) -> io::Result<()> {
        let mut n = 0;
        for &(slot, len, fd, to) in sends {
            // Each send takes the address place of its slot: one send per slot per batch.
            let (Some(buf), Some(name)) = (self.bufs.get(slot), self.names.get_mut(slot)) else {
                continue;
            };
            let name_len = write_socket_addr(to, name);
            let entry = opcode::Send::new(types::Fd(fd), buf.as_ptr(), len.min(MTU) as u32)
                .flags(libc::MSG_DONTWAIT)
                .dest_addr((&raw const *name).cast())
                .dest_addr_len(name_len)
                .build()
                .user_data(slot as u64);
            // SAFETY: as in `receive`: the buffer and address are this batch's, in place
            // until `complete` has reaped the completion; the socket is open for the call.
            unsafe { self.ring.submission().push(&entry) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            n += 1;
        }
        complete(&mut self.ring, n, |_, _| {})
    }

    /// Gives up on the ring after a failed wait: operations may still be in flight, so the
    /// memory they point at is never freed.
    pub(crate) fn abandon(self) {
        std::mem::forget(self);
    }
}

/// Submits what is queued and waits until `n` completions are reaped, each given to `each`
/// (slot, result: a length or a negative errno).
fn complete(ring: &mut IoUring, n: usize, mut each: impl FnMut(usize, i32)) -> io::Result<()> {
    let mut done = 0;
    while done < n {
        match ring.submit_and_wait(n - done) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            each(cqe.user_data() as usize, cqe.result());
            done += 1;
        }
    }
    Ok(())
}

/// The address the kernel wrote into `s` (`len` bytes of it).
fn socket_addr(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(s.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in; sockaddr_storage is
            // large and aligned enough for any address type.
            let a = unsafe { &*(&raw const *s).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(&raw const *s).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes `addr` into `s` as the kernel takes it; its length.
fn write_socket_addr(addr: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            unsafe { (&raw mut *s).cast::<libc::sockaddr_in>().write(sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for a sockaddr_in6.
            unsafe { (&raw mut *s).cast::<libc::sockaddr_in6>().write(sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_the_kernel_form() {
        for a in ["127.0.0.1:4000", "[::1]:5004", "[fe80::1%2]:9"] {
            let a: SocketAddr = a.parse().unwrap();
            let mut s = zeroed_storage();
            let len = write_socket_addr(a, &mut s);
            assert_eq!(socket_addr(&s, len), Some(a));
        }
        assert_eq!(socket_addr(&zeroed_storage(), 128), None);
    }
}
