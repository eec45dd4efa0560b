//! The facade of the virtual-memory subsystem ([`crate::vm`]): each DDI enters the call
//! (crash check, step, routine name), checks what only the machine knows (that the
//! process is alive), and delegates to the subsystem through a [`Vm`] context borrowed
//! field by field. The rule each DDI follows is stated here, on the public method; its
//! code is the method of the same name in `src/vm/`.

use super::Machine;
use crate::addr::{MM_HIGHEST_USER_ADDRESS, Va};
use crate::fault::{Fault, Result};
use crate::space::{Pid, Protection};
use crate::status::NtStatus;
use crate::vm::{MemoryBasicInformation, Vm};

impl Machine {
    /// The virtual-memory subsystem's context for one call (see [`Vm`]).
    pub(crate) fn vm(&mut self) -> Vm<'_> {
        self.split_pool().1
    }

    /// The pool and a [`Vm`] context over the rest, borrowed at once (the pool's routines
    /// map pages and write headers through the `Vm`).
    pub(crate) fn split_pool(&mut self) -> (&mut crate::pool::Pool, Vm<'_>) {
        let current = self.current_process();
        let vm = Vm {
            phys: &mut self.phys,
            system: &mut self.system,
            processes: &mut self.processes,
            log: &mut self.log,
            counters: &mut self.counters,
            events: &mut self.events,
            blame: &mut self.blame,
            crashed: &mut self.crashed,
            mdls: &self.mdls,
            mappings: &self.mappings,
            current,
            step: self.step,
            routine: self.routine,
            shadow: self.config.shadow,
            windows: self.config.windows,
        };
        (&mut self.pool, vm)
    }

    // ----- VirtualAlloc / VirtualFree / VirtualProtect ---------------------------------

    /// [`NtAllocateVirtualMemory`]: reserves and/or commits private memory in `pid`.
    ///
    /// User mode calls it through [`VirtualAlloc`].
    ///
    /// `base = None` picks the lowest free range at 64 KiB granularity. With
    /// `MEM_RESERVE`, or with no base, a new VAD is created (its base rounded down to
    /// 64 KiB): `MEM_COMMIT` alone with no base reserves and commits (ReactOS
    /// `ZwAllocateVirtualMemory.c`, `SimpleErrorChecks` and `SimpleAllocation`; Microsoft's
    /// [`VirtualAlloc`] page fails `MEM_COMMIT` without `MEM_RESERVE` only for a non-NULL
    /// address not yet reserved); with a base it commits pages of an existing
    /// reservation. Committed pages are demand-zero.
    ///
    /// The parameters are checked in the service's order, each failing with the status
    /// naming it (ReactOS `modules/rostests/kmtests/ntos_mm/ZwAllocateVirtualMemory.c`,
    /// `SimpleErrorChecks`, as on Windows Server 2003; Microsoft's [`NtAllocateVirtualMemory`]
    /// page: "*RegionSize cannot be zero on input", one of `MEM_COMMIT`, `MEM_RESET` or
    /// `MEM_RESERVE` must be set): an allocation type that is 0 or holds anything but `MEM_COMMIT` and
    /// `MEM_RESERVE` is `STATUS_INVALID_PARAMETER_5` (the model has no `MEM_RESET`,
    /// `MEM_TOP_DOWN`, `MEM_PHYSICAL`, `MEM_WRITE_WATCH` or `MEM_LARGE_PAGES`); a base
    /// above `MM_HIGHEST_USER_ADDRESS` is `STATUS_INVALID_PARAMETER_2`; a size of 0 or
    /// running past the highest user address is `STATUS_INVALID_PARAMETER_4`.
    ///
    /// # Errors
    /// `Status`: `STATUS_INVALID_PARAMETER_5`, `_2` and `_4` above;
    /// `STATUS_INVALID_PARAMETER` (a reservation below `MM_LOWEST_USER_ADDRESS`),
    /// `STATUS_CONFLICTING_ADDRESSES`, `STATUS_NO_MEMORY` (no free range),
    /// `STATUS_MEMORY_NOT_ALLOCATED` (commit outside a reservation),
    /// `STATUS_PROCESS_IS_TERMINATING`.
    ///
    /// # Examples
    /// ```
    /// use mdlsim::{Config, Machine, vm::{MEM_COMMIT, MEM_RESERVE}, space::Protection};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let p = m.create_process("app").unwrap();
    /// let va = m.virtual_alloc(p, None, 0x3000, MEM_COMMIT | MEM_RESERVE, Protection::ReadWrite).unwrap();
    /// assert_eq!(m.user_read(p, va, 4).unwrap(), vec![0; 4]); // demand-zero
    /// ```
    ///
    /// [`VirtualAlloc`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualalloc
    /// [`NtAllocateVirtualMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntallocatevirtualmemory
    #[doc(alias = "NtAllocateVirtualMemory")]
    #[doc(alias = "VirtualAlloc")]
    pub fn virtual_alloc(
        &mut self,
        pid: Pid,
        base: Option<Va>,
        size: u64,
        alloc_type: u32,
        protect: Protection,
    ) -> Result<Va> {
        self.enter("NtAllocateVirtualMemory")?;
        self.live_process(pid)?;
        self.vm()
            .virtual_alloc(pid, base, size, alloc_type, protect)
    }

    /// [`NtFreeVirtualMemory`]: `MEM_RELEASE` frees a whole reservation (`base` its
    /// start, `size` 0); `MEM_DECOMMIT` decommits the pages of `[base, base+size)`.
    ///
    /// User mode calls it through [`VirtualFree`].
    ///
    /// Freed pages drop their share: a page that is locked by an MDL stays
    /// allocated (Transition) and goes to nobody else until its last unlock
    /// ([semantics §2], [invariant 12]).
    ///
    /// # Errors
    /// `Status`: `STATUS_INVALID_PARAMETER_2` for a base above `MM_HIGHEST_USER_ADDRESS`
    /// (checked first: ReactOS `ZwAllocateVirtualMemory.c`, `SimpleErrorChecks`, as on
    /// Windows Server 2003), `STATUS_FREE_VM_NOT_AT_BASE`, `STATUS_MEMORY_NOT_ALLOCATED`,
    /// `STATUS_INVALID_PARAMETER`, `STATUS_UNABLE_TO_DELETE_SECTION` for an MDL
    /// mapping (only `MmUnmapLockedPages` removes it).
    ///
    /// [`VirtualFree`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfree
    /// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
    /// [invariant 12]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-12
    /// [`NtFreeVirtualMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntfreevirtualmemory
    #[doc(alias = "NtFreeVirtualMemory")]
    #[doc(alias = "VirtualFree")]
    pub fn virtual_free(&mut self, pid: Pid, base: Va, size: u64, free_type: u32) -> Result<()> {
        self.enter("NtFreeVirtualMemory")?;
        self.live_process(pid)?;
        self.vm().virtual_free(pid, base, size, free_type)
    }

    /// `NtProtectVirtualMemory`: changes the protection of committed pages; returns the old
    /// protection of the first page.
    ///
    /// User mode calls it through [`VirtualProtect`].
    ///
    /// # Errors
    /// `Status(STATUS_NOT_COMMITTED)` if a page is not committed;
    /// `STATUS_INVALID_PARAMETER` for an empty or foreign range.
    ///
    /// [`VirtualProtect`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualprotect
    #[doc(alias = "NtProtectVirtualMemory")]
    #[doc(alias = "VirtualProtect")]
    pub fn virtual_protect(
        &mut self,
        pid: Pid,
        base: Va,
        size: u64,
        protect: Protection,
    ) -> Result<Protection> {
        self.enter("NtProtectVirtualMemory")?;
        self.live_process(pid)?;
        self.vm().virtual_protect(pid, base, size, protect)
    }

    // ----- reads, writes, copies ---------------------------------------------------------

    /// A user-mode read by a thread of `pid` (it faults where the process's own access would).
    ///
    /// # Errors
    /// `Raise(STATUS_ACCESS_VIOLATION)` on the first inaccessible byte; bytes
    /// before it are not returned.
    pub fn user_read(&mut self, pid: Pid, va: Va, len: u64) -> Result<Vec<u8>> {
        self.enter("user read")?;
        self.live_process(pid)?;
        self.vm().user_read(pid, va, len)
    }

    /// Like [`Machine::user_read`], into a caller's buffer (no allocation).
    ///
    /// # Errors
    /// `Raise(STATUS_ACCESS_VIOLATION)` on the first inaccessible byte.
    pub fn user_read_into(&mut self, pid: Pid, va: Va, buf: &mut [u8]) -> Result<()> {
        self.enter("user read")?;
        self.live_process(pid)?;
        self.vm().user_read_into(pid, va, buf)
    }

    /// Like [`Machine::kernel_read`], into a caller's buffer (no allocation).
    ///
    /// # Errors
    /// As `kernel_read`.
    pub fn kernel_read_into(&mut self, va: Va, buf: &mut [u8]) -> Result<()> {
        self.enter("kernel read")?;
        self.vm().kernel_read_into(va, buf)
    }

    /// A user-mode write by a thread of `pid`; the bytes are labelled with their own addresses.
    ///
    /// # Errors
    /// `Raise(STATUS_ACCESS_VIOLATION)` at the first inaccessible byte (earlier bytes stay written).
    pub fn user_write(&mut self, pid: Pid, va: Va, data: &[u8]) -> Result<()> {
        self.enter("user write")?;
        self.live_process(pid)?;
        self.vm().user_write(pid, va, data)
    }

    /// `memcpy` inside `pid`'s user space; labels travel with the bytes.
    pub fn user_copy(&mut self, pid: Pid, dst: Va, src: Va, len: u64) -> Result<()> {
        self.enter("user memcpy")?;
        self.live_process(pid)?;
        self.vm().user_copy(pid, dst, src, len)
    }

    /// A kernel-mode read at `va` in the current context (system VAs valid everywhere;
    /// user VAs resolve in the current process).
    pub fn kernel_read(&mut self, va: Va, len: u64) -> Result<Vec<u8>> {
        self.enter("kernel read")?;
        self.vm().kernel_read(va, len)
    }

    /// A kernel-mode access at `va` whose bytes the caller moves itself (native driver
    /// code's own load or store): translated and checked as [`Machine::kernel_read`] or
    /// [`Machine::kernel_write`] would be, a read logged as the kernel's, nothing copied.
    /// A store's bytes reach the model separately, with their own provenance.
    ///
    /// # Errors
    /// As [`Machine::kernel_read`] / [`Machine::kernel_write`]: an access violation at a
    /// bad user address, a bug check at a bad system address.
    pub fn kernel_access(&mut self, va: Va, len: u64, write: bool) -> Result<()> {
        self.enter("kernel access")?;
        self.vm().kernel_access(va, len, write)
    }

    /// A kernel-mode write of fresh data (labelled as written by the kernel at `va`).
    pub fn kernel_write(&mut self, va: Va, data: &[u8]) -> Result<()> {
        self.enter("kernel write")?;
        self.vm().kernel_write(va, data)
    }

    /// A copy driver code made with its own loads and stores (a C loop), its loads
    /// already made and logged one by one ([`Machine::kernel_access`]): the bytes and
    /// their labels move as [`Machine::kernel_copy`] moves them, and only the stores are
    /// logged, so the loads are not counted twice (which would read as a double fetch).
    ///
    /// # Errors
    /// As [`Machine::kernel_copy`].
    pub fn kernel_copy_loaded(&mut self, dst: Va, src: Va, len: u64) -> Result<()> {
        self.enter("kernel store")?;
        self.vm().copy_as_with(
            crate::vm::Who::Kernel,
            dst,
            crate::vm::Who::Kernel,
            src,
            len,
            false,
        )
    }

    /// [`RtlZeroMemory`] in the current context: the bytes become zero and labelled [`Label::Zero`](crate::shadow::Label::Zero).
    ///
    /// [`RtlZeroMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-rtlzeromemory
    #[doc(alias = "RtlZeroMemory")]
    pub fn kernel_zero(&mut self, va: Va, len: u64) -> Result<()> {
        self.enter("RtlZeroMemory")?;
        self.vm().kernel_zero(va, len)
    }

    /// [`RtlCopyMemory`] in the current context; labels travel with the bytes.
    ///
    /// [`RtlCopyMemory`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-rtlcopymemory
    #[doc(alias = "RtlCopyMemory")]
    pub fn kernel_copy(&mut self, dst: Va, src: Va, len: u64) -> Result<()> {
        self.enter("RtlCopyMemory")?;
        self.vm().kernel_copy(dst, src, len)
    }

    // ----- ZwQueryVirtualMemory ---------------------------------------------------------

    /// [`ZwQueryVirtualMemory`] with `MemoryBasicInformation`: the state of the pages
    /// around `va` in `pid`'s user space. A free address reports the free run up to the
    /// next VAD (or the end of user space); a `VirtualAlloc` region the run of pages with
    /// `va`'s state; a user-mode MDL mapping ([`VadKind::MdlMapping`](crate::space::VadKind::MdlMapping)) the whole mapping,
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
        Ok(crate::vm::basic_information(process.space(), va))
    }
}
