//! `ZwQueryVirtualMemory(MemoryBasicInformation)`: what a driver may learn of a user
//! address space (the state of the region around an address), without the oracle's view.

use crate::addr::{MM_HIGHEST_USER_ADDRESS, PAGE_SIZE, Va};
use crate::space::{AddressSpace, PageDesc, Protection, VadKind};
use serde::{Deserialize, Serialize};

/// `MEM_FREE` (0x10000): a `MemoryBasicInformation::state` of an address no VAD holds.
pub const MEM_FREE: u32 = 0x1_0000;

/// `MEMORY_BASIC_INFORMATION`: the run of pages around an address that share one state
/// and protection, as `ZwQueryVirtualMemory` returns it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MemoryBasicInformation {
    /// `BaseAddress`: the queried address rounded down to its page.
    pub base_address: Va,
    /// `AllocationBase`: the start of the VAD (`None` for free memory, where Windows says 0).
    pub allocation_base: Option<Va>,
    /// `RegionSize`: bytes from `base_address` to the end of the run.
    pub region_size: u64,
    /// `State`: [`MEM_FREE`], [`super::MEM_RESERVE`] or [`super::MEM_COMMIT`].
    pub state: u32,
    /// `Protect` of a committed run (`None` for free or reserved memory, where Windows says 0).
    pub protect: Option<Protection>,
}

/// `ZwQueryVirtualMemory(MemoryBasicInformation)` of `va` (a user address) in `space`:
/// the work of [`Machine::zw_query_virtual_memory`](crate::Machine::zw_query_virtual_memory)
/// once the facade has checked the address and the process (its docs state the rule).
pub(crate) fn basic_information(space: &AddressSpace, va: Va) -> MemoryBasicInformation {
    let page = va.page_align();
    let Some(vad) = space.vad(va) else {
        let end = space
            .vad_after(va)
            .map_or(MM_HIGHEST_USER_ADDRESS.raw() + 1, |v| v.start.raw());
        return MemoryBasicInformation {
            base_address: page,
            allocation_base: None,
            region_size: end - page.raw(),
            state: MEM_FREE,
            protect: None,
        };
    };
    let (end, state, protect) = match &vad.kind {
        VadKind::Private(descs) => {
            let index = (page.raw() - vad.start.raw()) / PAGE_SIZE;
            let (_, run_end, desc) = descs.run_at(index).unwrap_or((0, 0, PageDesc::Reserved));
            let end = vad.start.raw() + run_end * PAGE_SIZE;
            match desc {
                PageDesc::Reserved => (end, super::MEM_RESERVE, None),
                PageDesc::Committed(p) => (end, super::MEM_COMMIT, Some(p)),
            }
        }
        VadKind::MdlMapping(_) => {
            let protect = space.pte(va).map(|p| p.protection);
            (vad.end().raw(), super::MEM_COMMIT, protect)
        }
    };
    MemoryBasicInformation {
        base_address: page,
        allocation_base: Some(vad.start),
        region_size: end.saturating_sub(page.raw()),
        state,
        protect,
    }
}
