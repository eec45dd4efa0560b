//! What the kernel knows about a driver's direct use of user addresses: how deep in
//! `__try` blocks driver code is, and which user ranges it has probed
//! (`ProbeForRead` / `ProbeForWrite`) during the current system service.
//!
//! The rule it serves (Microsoft, ["Handling Exceptions"][handling] and the
//! [`ProbeForRead`] / [`ProbeForWrite`] pages): a driver that dereferences a user-mode
//! address itself (METHOD_NEITHER's `Type3InputBuffer` and `UserBuffer`, a pointer
//! embedded in a buffered request) must first probe it — so that a kernel address passed
//! by a hostile caller raises `STATUS_ACCESS_VIOLATION` instead of being read or written
//! — and must make every access inside `__try/__except`, because the app can free or
//! protect the page at any time. The memory manager's own accesses (the I/O manager's
//! copies, an MDL's system mapping) are not driver code and are not judged here.
//!
//! [handling]: https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/handling-exceptions
//! [`ProbeForRead`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-probeforread
//! [`ProbeForWrite`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-probeforwrite

use crate::addr::Va;
use crate::space::Pid;

/// Probes remembered per system service; older ones are forgotten first (a driver that
/// probes more ranges than this in one request is judged on its latest ones).
pub(crate) const MAX_PROBES: usize = 256;

/// A user range a driver probed successfully during the current service.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Probe {
    pub(crate) pid: Option<Pid>,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// `ProbeForWrite` (else `ProbeForRead`).
    pub(crate) write: bool,
}

/// The state: `__try` depth and the current service's probes.
#[derive(Clone, Debug, Default)]
pub(crate) struct UserPointers {
    try_depth: u32,
    probes: Vec<Probe>,
}

/// What is wrong with one driver access to a user address, if anything.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Verdict {
    /// The access was made outside every `__try` block.
    pub(crate) outside_try: bool,
    /// Part of the range was not probed (for a write: not by `ProbeForWrite`).
    pub(crate) unprobed: bool,
}

impl UserPointers {
    /// A system service starts: the previous request's probes no longer vouch for anything.
    pub(crate) fn new_service(&mut self) {
        self.probes.clear();
    }

    /// Driver code enters a `__try` block.
    pub(crate) fn enter_try(&mut self) {
        self.try_depth = self.try_depth.saturating_add(1);
    }

    /// Driver code leaves a `__try` block (normally or through its `__except`).
    pub(crate) fn leave_try(&mut self) {
        self.try_depth = self.try_depth.saturating_sub(1);
    }

    /// Whether driver code runs inside a `__try` block.
    pub(crate) fn in_try(&self) -> bool {
        self.try_depth > 0
    }

    /// Records a successful probe of `len` bytes at `va` in `pid`'s address space.
    pub(crate) fn record(&mut self, pid: Option<Pid>, va: Va, len: u64, write: bool) {
        if len == 0 {
            return;
        }
        if self.probes.len() >= MAX_PROBES {
            self.probes.remove(0);
        }
        self.probes.push(Probe {
            pid,
            start: va.raw(),
            end: va.raw().saturating_add(len),
            write,
        });
    }

    /// Whether every byte of `[va, va + len)` in `pid` lies in some probed range (one
    /// probed for write, when `write`).
    pub(crate) fn covered(&self, pid: Option<Pid>, va: Va, len: u64, write: bool) -> bool {
        let end = va.raw().saturating_add(len);
        let mut at = va.raw();
        while at < end {
            let next = self
                .probes
                .iter()
                .filter(|p| p.pid == pid && (p.write || !write) && p.start <= at && at < p.end)
                .map(|p| p.end)
                .max();
            match next {
                Some(n) => at = n,
                None => return false,
            }
        }
        true
    }

    /// The verdict on a driver access of `len` bytes at user address `va` in `pid`.
    pub(crate) fn judge(&self, pid: Option<Pid>, va: Va, len: u64, write: bool) -> Verdict {
        Verdict {
            outside_try: !self.in_try(),
            unprobed: !self.covered(pid, va, len, write),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Option<Pid> = None;

    #[test]
    fn a_range_is_covered_by_the_union_of_probes_of_the_right_kind() {
        let mut u = UserPointers::default();
        u.record(P, Va::new(0x1000), 0x10, false);
        u.record(P, Va::new(0x1008), 0x10, true);
        assert!(u.covered(P, Va::new(0x1000), 0x18, false));
        assert!(
            !u.covered(P, Va::new(0x1000), 0x18, true),
            "read probe, write access"
        );
        assert!(u.covered(P, Va::new(0x1008), 0x10, true));
        assert!(!u.covered(P, Va::new(0x1000), 0x19, false), "one byte past");
        u.new_service();
        assert!(!u.covered(P, Va::new(0x1000), 1, false));
    }

    #[test]
    fn try_depth_nests_and_the_oldest_probe_is_forgotten_first() {
        let mut u = UserPointers::default();
        u.enter_try();
        u.enter_try();
        u.leave_try();
        assert!(u.in_try());
        u.leave_try();
        assert!(!u.in_try());
        for i in 0..=MAX_PROBES as u64 {
            u.record(P, Va::new(0x10000 + i * 0x100), 0x10, false);
        }
        assert!(!u.covered(P, Va::new(0x10000), 1, false));
        assert!(u.covered(P, Va::new(0x10100), 1, false));
    }
}
