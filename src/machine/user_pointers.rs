//! `ProbeForRead` and `ProbeForWrite`: the checks a driver makes before it dereferences a
//! user-supplied address itself ([`crate::user_pointers`]).

use super::Machine;
use crate::addr::{MM_LOWEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS, Va};
use crate::events::EventKind;
use crate::fault::{Fault, ModelError, Result};
use crate::status::NtStatus;
use crate::vm::MEM_COMMIT;

/// The alignments `ProbeForRead`/`ProbeForWrite` accept (checked builds assert it).
const ALIGNMENTS: [u32; 5] = [1, 2, 4, 8, 16];

impl Machine {
    /// [`ProbeForRead`]: checks that `len` bytes at `va` lie in the user-mode part of the
    /// address space and that `va` is aligned to `alignment`. It does not touch the pages
    /// (they may be freed or protected a moment later: every access must still be made
    /// inside `__try`, [`crate::Kernel::try_except`]). A length of 0 checks nothing.
    /// A successful probe is remembered for the current system service: driver accesses
    /// to the range are then not [`EventKind::UnprobedUserAccess`] ([semantics §5.8]).
    ///
    /// # Errors
    /// Raises `STATUS_DATATYPE_MISALIGNMENT` when `va` is not a multiple of `alignment`,
    /// and `STATUS_ACCESS_VIOLATION` when the range wraps or ends above
    /// `MmUserProbeAddress` ([`MM_USER_PROBE_ADDRESS`]): a kernel address. An
    /// `alignment` other than 1, 2, 4, 8 or 16 is a [`ModelError`] (a checked build's
    /// assertion).
    ///
    /// ```
    /// use mdlsim::{Config, Fault, Machine, NtStatus, addr::Va};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let kernel = Va::new(0xFFFF_F780_0000_0000);
    /// let r = m.kernel().try_except(|k| k.probe_for_read(kernel, 4, 4)).unwrap();
    /// assert_eq!(r, Err(NtStatus::ACCESS_VIOLATION));
    /// ```
    ///
    /// [`ProbeForRead`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-probeforread
    /// [semantics §5.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.8
    #[doc(alias = "ProbeForRead")]
    pub fn probe_for_read(&mut self, va: Va, len: u64, alignment: u32) -> Result<()> {
        self.enter("ProbeForRead")?;
        self.probe_user_range(va, len, alignment)?;
        self.judge_irql_of_pageable_access(
            va,
            len,
            "driver code probed (with ProbeForRead)",
            false,
            false,
        )?;
        let pid = self.current_process();
        self.user_pointers.record(pid, va, len, false);
        Ok(())
    }

    /// [`ProbeForWrite`]: as [`Machine::probe_for_read`], and then each page of the
    /// range must be writable in the current process (Windows touches one byte of every
    /// page for write). A length of 0 checks nothing. A successful probe is remembered
    /// for the current system service (reads and writes of the range are then probed,
    /// [semantics §5.8]).
    ///
    /// # Errors
    /// As [`Machine::probe_for_read`]; a page that is not committed and writable raises
    /// `STATUS_ACCESS_VIOLATION`.
    ///
    /// ```
    /// use mdlsim::{Config, Machine, NtStatus, space::Protection, vm::{MEM_COMMIT, MEM_RESERVE}};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let app = m.create_process("app").unwrap();
    /// let ro = m.virtual_alloc(app, None, 0x1000, MEM_COMMIT | MEM_RESERVE, Protection::ReadOnly).unwrap();
    /// m.switch_to(Some(app)).unwrap();
    /// let r = m.kernel().try_except(|k| k.probe_for_write(ro, 8, 1)).unwrap();
    /// assert_eq!(r, Err(NtStatus::ACCESS_VIOLATION));
    /// ```
    ///
    /// [`ProbeForWrite`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-probeforwrite
    /// [semantics §5.8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.8
    #[doc(alias = "ProbeForWrite")]
    pub fn probe_for_write(&mut self, va: Va, len: u64, alignment: u32) -> Result<()> {
        self.enter("ProbeForWrite")?;
        self.probe_user_range(va, len, alignment)?;
        self.judge_irql_of_pageable_access(
            va,
            len,
            "driver code probed (with ProbeForWrite)",
            true,
            false,
        )?;
        if len == 0 {
            return Ok(());
        }
        let pid = self
            .current_process()
            .ok_or(Fault::Raise(NtStatus::ACCESS_VIOLATION))?;
        // Region by region: every page committed and writable (Windows writes one byte
        // of each page, faulting demand-zero pages in; the model needs no write).
        let end = va.raw() + len;
        let mut at = va.page_align().raw();
        while at < end {
            let info = self.zw_query_virtual_memory(pid, Va::new(at))?;
            let writable = info.state == MEM_COMMIT && info.protect.is_some_and(|p| p.can_write());
            if !writable || info.region_size == 0 {
                return Err(Fault::Raise(NtStatus::ACCESS_VIOLATION));
            }
            at = at.saturating_add(info.region_size);
        }
        self.user_pointers.record(Some(pid), va, len, true);
        Ok(())
    }

    /// The range and alignment checks both probes make.
    fn probe_user_range(&mut self, va: Va, len: u64, alignment: u32) -> Result<()> {
        if !ALIGNMENTS.contains(&alignment) {
            return Err(ModelError::Unsupported(format!(
                "{} with alignment {alignment} (1, 2, 4, 8 or 16)",
                self.routine
            ))
            .into());
        }
        if len == 0 {
            return Ok(());
        }
        if va.raw() & (alignment as u64 - 1) != 0 {
            return Err(Fault::Raise(NtStatus::DATATYPE_MISALIGNMENT));
        }
        match va.checked_add(len) {
            Some(end) if end.raw() <= MM_USER_PROBE_ADDRESS.raw() => Ok(()),
            _ => Err(Fault::Raise(NtStatus::ACCESS_VIOLATION)),
        }
    }

    /// Judges one access driver code makes at `va` (`len` bytes): at a user-mode address,
    /// outside `__try` or unprobed, it is recorded as an event. Kernel addresses are
    /// judged only for pool: paged pool above `APC_LEVEL`, and any access outside the
    /// pool's allocations (a hostile pointer to anything else is caught by what it
    /// reaches). Nothing is judged in the first 64 KiB (`MM_LOWEST_USER_ADDRESS`:
    /// nothing is ever mapped there, so an access is a NULL pointer plus an offset,
    /// judged by the fault it takes).
    ///
    /// # Errors
    /// A crashed machine; paged pool touched under Force IRQL Checking
    /// ([`Machine::judge_irql_of_pageable_access`]).
    pub(crate) fn judge_driver_access(&mut self, va: Va, len: u64, write: bool) -> Result<()> {
        self.alive()?;
        if len == 0 || (va.is_user() && va.raw() < MM_LOWEST_USER_ADDRESS.raw()) {
            return Ok(());
        }
        self.judge_pool_access(va, len, write);
        let what = if write {
            "driver code wrote"
        } else {
            "driver code read"
        };
        self.judge_irql_of_pageable_access(va, len, what, write, false)?;
        if !va.is_user() {
            return Ok(());
        }
        let pid = self.current_process();
        let v = self.user_pointers.judge(pid, va, len, write);
        let what = match (write, pid) {
            (true, Some(p)) => format!("wrote (in {p})"),
            (false, Some(p)) => format!("read (in {p})"),
            (true, None) => "wrote (in the system process, which has no user space)".into(),
            (false, None) => "read (in the system process, which has no user space)".into(),
        };
        if v.outside_try {
            self.event(
                EventKind::UserAccessOutsideTry,
                None,
                Some(va),
                format!(
                    "driver code {what} {len} bytes at user address {va} outside __try/__except"
                ),
            );
        }
        if v.unprobed {
            let probe = if write {
                "ProbeForWrite"
            } else {
                "ProbeForRead"
            };
            self.event(
                EventKind::UnprobedUserAccess,
                None,
                Some(va),
                format!("driver code {what} {len} bytes at user address {va} without {probe} of it in this request"),
            );
        }
        Ok(())
    }
}
