//! Work counters: what the machine did, in units that do not depend on the host
//! (bytes copied, pages locked, PTEs written...). A request's cost is the
//! difference of two snapshots ([`Counters::since`]); the cost model turns it
//! into projected time on real hardware.

use serde::{Deserialize, Serialize};

/// Cumulative work done by the machine since it was created.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Bytes copied by kernel code (`RtlCopyMemory`, I/O-manager copies).
    pub bytes_copied: u64,
    /// Bytes zero-filled by kernel code (`RtlZeroMemory`, zeroed pool).
    pub bytes_zeroed: u64,
    /// Pages locked by `MmProbeAndLockPages` (one per page per lock).
    pub pages_locked: u64,
    /// Pages unlocked by `MmUnlockPages`.
    pub pages_unlocked: u64,
    /// System PTEs written by kernel-mode MDL mappings.
    pub system_ptes_written: u64,
    /// User PTEs written by user-mode MDL mappings.
    pub user_ptes_written: u64,
    /// MDL mappings made (kernel and user): each has a fixed cost.
    pub mappings: u64,
    /// MDL mappings torn down: each needs a TLB flush (a shootdown on SMP).
    pub unmappings: u64,
    /// Pool pages taken for new pool allocations.
    pub pool_pages_allocated: u64,
    /// Pool allocations made.
    pub pool_allocations: u64,
    /// Frames zeroed on demand-zero faults or zeroed allocations.
    pub pages_zero_filled: u64,
    /// Pages obtained by `MmAllocatePagesForMdlEx` (a splicing strategy's substitutes).
    pub pages_allocated_for_mdl: u64,
}

impl Counters {
    /// The work done between `earlier` and `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            bytes_copied: self.bytes_copied - earlier.bytes_copied,
            bytes_zeroed: self.bytes_zeroed - earlier.bytes_zeroed,
            pages_locked: self.pages_locked - earlier.pages_locked,
            pages_unlocked: self.pages_unlocked - earlier.pages_unlocked,
            system_ptes_written: self.system_ptes_written - earlier.system_ptes_written,
            user_ptes_written: self.user_ptes_written - earlier.user_ptes_written,
            mappings: self.mappings - earlier.mappings,
            unmappings: self.unmappings - earlier.unmappings,
            pool_pages_allocated: self.pool_pages_allocated - earlier.pool_pages_allocated,
            pool_allocations: self.pool_allocations - earlier.pool_allocations,
            pages_zero_filled: self.pages_zero_filled - earlier.pages_zero_filled,
            pages_allocated_for_mdl: self.pages_allocated_for_mdl - earlier.pages_allocated_for_mdl,
        }
    }
}
