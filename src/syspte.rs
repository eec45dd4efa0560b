//! System PTEs: the finite range of system virtual addresses that kernel-mode
//! MDL mappings use ([semantics §3.7], [invariant 15]).
//!
//! [semantics §3.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.7
//! [invariant 15]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-15

use crate::addr::{PAGE_SIZE, Va};
use crate::ranges::RangeAllocator;

/// First virtual address of the system-PTE range.
pub const SYSTEM_PTE_BASE: Va = Va(0xFFFF_B000_0000_0000);

/// The system-PTE range: a configurable number of PTEs handed out in contiguous runs.
#[derive(Clone, Debug)]
pub(crate) struct SystemPtes {
    ranges: RangeAllocator,
}

impl SystemPtes {
    pub(crate) fn new(count: u64) -> Self {
        SystemPtes {
            ranges: RangeAllocator::new(count),
        }
    }

    /// Reserves `n` contiguous PTEs; the VA of the first, or `None` when exhausted.
    pub(crate) fn reserve(&mut self, n: u64) -> Option<Va> {
        let i = self.ranges.alloc(n)?;
        Some(Va(SYSTEM_PTE_BASE.0 + i * PAGE_SIZE))
    }

    /// Releases `n` PTEs starting at `va`; false if they were not reserved.
    pub(crate) fn release(&mut self, va: Va, n: u64) -> bool {
        match va.checked_offset_from(SYSTEM_PTE_BASE) {
            Some(off) if off % PAGE_SIZE == 0 => self.ranges.release(off / PAGE_SIZE, n),
            _ => false,
        }
    }

    pub(crate) fn used(&self) -> u64 {
        self.ranges.used()
    }

    pub(crate) fn available(&self) -> u64 {
        self.ranges.available()
    }
}
