//! `ZwQueryVirtualMemory(MemoryBasicInformation)`: what a driver may learn of a user
//! address space (the state of the region around an address), without the oracle's view.

use crate::addr::{MM_HIGHEST_USER_ADDRESS, PAGE_SIZE, Va};
use crate::fault::{Fault, Result};
use crate::machine::Machine;
use crate::space::{PageDesc, Pid, Protection, VadKind};
use crate::status::NtStatus;
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

impl Machine {
    /// [`ZwQueryVirtualMemory`] with `MemoryBasicInformation`: the state of the pages
    /// around `va` in `pid`'s user space. A free address reports the free run up to the
    /// next VAD (or the end of user space); a `VirtualAlloc` region the run of pages with
    /// `va`'s state; a user-mode MDL mapping ([`VadKind::MdlMapping`]) the whole mapping,
    /// committed, with the protection of its PTE at `va`. A query changes nothing, so
    /// like a driver's read of an object's fields it takes no step (adding queries to a
    /// driver moves no step number in its reports).
    ///
    /// # Errors
    /// `Status(STATUS_INVALID_PARAMETER)` for an address above `MM_HIGHEST_USER_ADDRESS`;
    /// `Status(STATUS_PROCESS_IS_TERMINATING)` once the process's address space is gone;
    /// [`crate::ModelError::NoSuchProcess`].
    ///
    /// ```
    /// use mdlsim::{Config, Machine, space::Protection, vm::{MEM_COMMIT, MEM_RESERVE, MEM_FREE}};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let p = m.create_process("app").unwrap();
    /// let va = m.virtual_alloc(p, None, 0x3000, MEM_RESERVE, Protection::ReadWrite).unwrap();
    /// m.virtual_alloc(p, Some(va), 0x1000, MEM_COMMIT, Protection::ReadWrite).unwrap();
    /// let first = m.zw_query_virtual_memory(p, va).unwrap();
    /// assert_eq!((first.state, first.region_size), (MEM_COMMIT, 0x1000));
    /// let rest = m.zw_query_virtual_memory(p, va.wrapping_add(0x1000)).unwrap();
    /// assert_eq!((rest.state, rest.region_size), (MEM_RESERVE, 0x2000));
    /// assert_eq!(m.zw_query_virtual_memory(p, va.wrapping_add(0x3000)).unwrap().state, MEM_FREE);
    /// ```
    ///
    /// [`ZwQueryVirtualMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-zwqueryvirtualmemory
    #[doc(alias = "ZwQueryVirtualMemory")]
    #[doc(alias = "NtQueryVirtualMemory")]
    pub fn zw_query_virtual_memory(&self, pid: Pid, va: Va) -> Result<MemoryBasicInformation> {
        self.alive()?;
        if va > MM_HIGHEST_USER_ADDRESS {
            return Err(Fault::Status(NtStatus::INVALID_PARAMETER));
        }
        let process = self.process(pid)?;
        if !process.is_alive() {
            return Err(Fault::Status(NtStatus::PROCESS_IS_TERMINATING));
        }
        let space = process.space();
        let page = va.page_align();
        let Some(vad) = space.vad(va) else {
            let end = space
                .vad_after(va)
                .map_or(MM_HIGHEST_USER_ADDRESS.raw() + 1, |v| v.start.raw());
            return Ok(MemoryBasicInformation {
                base_address: page,
                allocation_base: None,
                region_size: end - page.raw(),
                state: MEM_FREE,
                protect: None,
            });
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
        Ok(MemoryBasicInformation {
            base_address: page,
            allocation_base: Some(vad.start),
            region_size: end.saturating_sub(page.raw()),
            state,
            protect,
        })
    }
}
