//! The relay's port pool: even RTP ports of a configured range (RTCP on the odd port above,
//! RFC 3550 §11), handed out least recently used first so that a port just released is not
//! reused while late packets of its old call may still arrive.

use std::collections::{HashSet, VecDeque};
use std::ops::RangeInclusive;

/// Free RTP ports (even; each with its RTCP port above it).
#[derive(Debug, Clone)]
pub struct PortPool {
    free: VecDeque<u16>,
    used: HashSet<u16>,
}

impl PortPool {
    /// The even ports of `range` whose odd neighbour is in it too.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        let (lo, hi) = (*range.start(), *range.end());
        let first = lo + (lo & 1);
        let free = (first..hi).step_by(2).collect();
        PortPool {
            free,
            used: HashSet::new(),
        }
    }

    /// An RTP port, or `None` when all are in use.
    pub fn take(&mut self) -> Option<u16> {
        let p = self.free.pop_front()?;
        self.used.insert(p);
        Some(p)
    }

    /// Gives `port` back (ignored unless it was taken).
    pub fn give(&mut self, port: u16) {
        if self.used.remove(&port) {
            self.free.push_back(port);
        }
    }

    /// Ports still free.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_with_room_for_rtcp_least_recently_used_first() {
        let mut p = PortPool::new(30001..=30008);
        assert_eq!(p.available(), 3, "30002, 30004, 30006 (30008 has no 30009)");
        let a = p.take().unwrap();
        let b = p.take().unwrap();
        assert_eq!((a, b), (30002, 30004));
        p.give(a);
        assert_eq!(p.take(), Some(30006));
        assert_eq!(p.take(), Some(30002), "the released port comes back last");
        assert_eq!(p.take(), None);
        p.give(12345);
        assert_eq!(p.available(), 0, "a port never taken is not added");
    }
}
