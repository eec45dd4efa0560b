//! The facade of the processor's IRQL ([`crate::irql`]): `KeRaiseIrql`, `KeLowerIrql`,
//! `KeAcquireSpinLock`, `KeReleaseSpinLock`, and the IRQL limits Driver Verifier checks
//! at each DDI ([semantics §5.9]).
//!
//! [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9

use super::Machine;
use crate::addr::Va;
use crate::bugcheck::{BugCheckCode, verifier};
use crate::events::EventKind;
use crate::fault::Result;
use crate::irql::Kirql;

impl Machine {
    /// [`KeGetCurrentIrql`]: the processor's IRQL.
    ///
    /// [`KeGetCurrentIrql`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kegetcurrentirql
    #[doc(alias = "KeGetCurrentIrql")]
    pub fn ke_get_current_irql(&self) -> Kirql {
        self.irql
    }

    /// [`KeRaiseIrql`]: raises the IRQL to `new` and returns the old one, which the caller
    /// hands back to [`Machine::ke_lower_irql`].
    ///
    /// # Errors
    /// `new` below the current IRQL or above `HIGH_LEVEL`: Verifier's
    /// `DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4, 0x30)`, P2 the current IRQL, P3 `new`.
    ///
    /// ```
    /// use mdlsim::{Config, Machine, irql::Kirql};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let old = m.ke_raise_irql(Kirql::DISPATCH_LEVEL).unwrap();
    /// assert_eq!((old, m.ke_get_current_irql()), (Kirql::PASSIVE_LEVEL, Kirql::DISPATCH_LEVEL));
    /// m.ke_lower_irql(old).unwrap();
    /// assert!(m.ke_raise_irql(Kirql::PASSIVE_LEVEL).is_ok());
    /// ```
    ///
    /// [`KeRaiseIrql`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-keraiseirql
    #[doc(alias = "KeRaiseIrql")]
    pub fn ke_raise_irql(&mut self, new: Kirql) -> Result<Kirql> {
        self.enter("KeRaiseIrql")?;
        let old = self.irql;
        if new < old || new > Kirql::HIGH_LEVEL {
            return Err(self.verifier_irql(
                verifier::RAISE_IRQL_INVALID,
                new.param(),
                0,
                format!("KeRaiseIrql from {old} to {new}"),
            ));
        }
        self.irql = new;
        Ok(old)
    }

    /// [`KeLowerIrql`]: lowers the IRQL to `new` (what [`Machine::ke_raise_irql`] returned).
    ///
    /// # Errors
    /// `new` above the current IRQL or above `HIGH_LEVEL`: `0xC4, 0x31`, P2 the current
    /// IRQL, P3 `new`.
    ///
    /// [`KeLowerIrql`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kelowerirql~r1
    #[doc(alias = "KeLowerIrql")]
    pub fn ke_lower_irql(&mut self, new: Kirql) -> Result<()> {
        self.enter("KeLowerIrql")?;
        let old = self.irql;
        if new > old || new > Kirql::HIGH_LEVEL {
            return Err(self.verifier_irql(
                verifier::LOWER_IRQL_INVALID,
                new.param(),
                0,
                format!("KeLowerIrql from {old} to {new}"),
            ));
        }
        self.irql = new;
        Ok(())
    }

    /// [`KeAcquireSpinLock`] of the spin lock at `lock`: raises the IRQL to
    /// `DISPATCH_LEVEL` and returns the old IRQL for [`Machine::ke_release_spin_lock`]. The
    /// model has one processor, on which acquiring a spin lock is raising the IRQL; who
    /// holds which lock is not tracked (Verifier's deadlock detection is not modelled).
    ///
    /// # Errors
    /// At an IRQL above `DISPATCH_LEVEL`: `0xC4, 0x42`, P2 the IRQL, P3 `lock`.
    ///
    /// [`KeAcquireSpinLock`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-keacquirespinlock
    #[doc(alias = "KeAcquireSpinLock")]
    pub fn ke_acquire_spin_lock(&mut self, lock: Va) -> Result<Kirql> {
        self.enter("KeAcquireSpinLock")?;
        let old = self.irql;
        if old > Kirql::DISPATCH_LEVEL {
            return Err(self.verifier_irql(
                verifier::ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH_LEVEL,
                lock.raw(),
                0,
                format!("KeAcquireSpinLock({lock}) at {old}"),
            ));
        }
        self.irql = Kirql::DISPATCH_LEVEL;
        Ok(old)
    }

    /// [`KeReleaseSpinLock`] of the spin lock at `lock`, back to `old` (what
    /// [`Machine::ke_acquire_spin_lock`] returned).
    ///
    /// # Errors
    /// At an IRQL other than `DISPATCH_LEVEL` (a second release, say): `0xC4, 0x32`, P2
    /// the IRQL, P3 `lock`; `old` above `DISPATCH_LEVEL`: `0xC4, 0x31`.
    ///
    /// [`KeReleaseSpinLock`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kereleasespinlock
    #[doc(alias = "KeReleaseSpinLock")]
    pub fn ke_release_spin_lock(&mut self, lock: Va, old: Kirql) -> Result<()> {
        self.enter("KeReleaseSpinLock")?;
        let now = self.irql;
        if now != Kirql::DISPATCH_LEVEL {
            return Err(self.verifier_irql(
                verifier::RELEASE_SPIN_LOCK_NOT_AT_DISPATCH_LEVEL,
                lock.raw(),
                0,
                format!("KeReleaseSpinLock({lock}) at {now}"),
            ));
        }
        if old > Kirql::DISPATCH_LEVEL {
            return Err(self.verifier_irql(
                verifier::LOWER_IRQL_INVALID,
                old.param(),
                0,
                format!("KeReleaseSpinLock({lock}) back to {old}"),
            ));
        }
        self.irql = old;
        Ok(())
    }

    /// Verifier's IRQL check of a DDI: above `max`, bug check `0xC4` with `subcode`, P2
    /// the current IRQL, P3 and P4 as the subcode documents.
    pub(crate) fn check_irql(&mut self, max: Kirql, subcode: u64, p3: u64, p4: u64) -> Result<()> {
        if self.irql <= max {
            return Ok(());
        }
        let (routine, irql) = (self.routine, self.irql);
        Err(self.verifier_irql(subcode, p3, p4, format!("{routine} at {irql}, above {max}")))
    }

    fn verifier_irql(
        &mut self,
        subcode: u64,
        p3: u64,
        p4: u64,
        detail: String,
    ) -> crate::fault::Fault {
        let irql = self.irql.param();
        self.bug_check(
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [subcode, irql, p3, p4],
            format!("{detail} (semantics §5.9)"),
        )
    }

    /// Driver code touching or probing pageable memory above `APC_LEVEL` — a user-mode
    /// address, or paged pool: a page fault at `DISPATCH_LEVEL` or above cannot be
    /// serviced (`DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1)` whenever the page is not
    /// resident, which Verifier's IRQL checking forces by trimming pageable memory when
    /// the IRQL is raised). Paged pool under Verifier's Force IRQL Checking
    /// ([`crate::verifier::Verifier::force_irql_checking`]) has been trimmed, so the touch
    /// is that bug check: P1 the address, P2 the IRQL, P3 0 read / 1 write, P4 0 (the
    /// model has no code addresses). When the touch is the kernel's own (`by_kernel`:
    /// `MmProbeAndLockPages` probing the pages) the code is `IRQL_NOT_LESS_OR_EQUAL (0xA)`
    /// with the same parameters: the trap handler reports 0xD1 only for a faulting
    /// instruction outside the kernel (Microsoft's 0xA and 0xD1 pages). Otherwise the model
    /// keeps every page resident, so the access succeeds and is recorded as the event
    /// [`EventKind::UserAccessAtRaisedIrql`] or [`EventKind::PagedPoolAccessAtRaisedIrql`]
    /// (user memory is a process's working set, which Force IRQL Checking's trimming of
    /// "pageable pool, code and data" does not document); other kernel memory is not
    /// pageable.
    ///
    /// # Errors
    /// The 0xD1 above.
    pub(crate) fn judge_irql_of_pageable_access(
        &mut self,
        va: Va,
        len: u64,
        what: &str,
        write: bool,
        by_kernel: bool,
    ) -> Result<()> {
        if self.irql <= Kirql::APC_LEVEL || len == 0 {
            return Ok(());
        }
        let irql = self.irql;
        let (kind, place) = if va.is_user() {
            (EventKind::UserAccessAtRaisedIrql, "at user address")
        } else if crate::pool::overlaps_paged_pool(va, va.raw().saturating_add(len)) {
            if self.config.verifier.force_irql_checking() {
                let code = if by_kernel {
                    BugCheckCode::IRQL_NOT_LESS_OR_EQUAL
                } else {
                    BugCheckCode::DRIVER_IRQL_NOT_LESS_OR_EQUAL
                };
                return Err(self.bug_check(
                    code,
                    [va.raw(), irql.param(), u64::from(write), 0],
                    format!(
                        "{what} {len} bytes of paged pool at {va} at {irql}, \
                         trimmed by Verifier's Force IRQL Checking (semantics §5.9)"
                    ),
                ));
            }
            (EventKind::PagedPoolAccessAtRaisedIrql, "of paged pool at")
        } else {
            return Ok(());
        };
        self.event(
            kind,
            None,
            Some(va),
            format!(
                "{what} {len} bytes {place} {va} at {irql}: a page fault there is bug check 0xD1"
            ),
        );
        Ok(())
    }

    /// A system service returning to user mode: at an IRQL above `PASSIVE_LEVEL` it is
    /// `IRQL_GT_ZERO_AT_SYSTEM_SERVICE (0x4A)`, P2 the IRQL; P1, the service's address, is
    /// 0 (the model has no code addresses; the detail names the service).
    pub(crate) fn check_irql_at_service_return(&mut self, service: &'static str) -> Result<()> {
        if self.irql == Kirql::PASSIVE_LEVEL {
            return Ok(());
        }
        let irql = self.irql;
        Err(self.bug_check(
            BugCheckCode::IRQL_GT_ZERO_AT_SYSTEM_SERVICE,
            [0, irql.param(), 0, 0],
            format!("{service} returned to user mode at {irql} (semantics §5.9)"),
        ))
    }

    /// Runs `f` at `irql` (a DPC, a cancel routine), then puts the IRQL back.
    pub(crate) fn at_irql<T>(&mut self, irql: Kirql, f: impl FnOnce(&mut Machine) -> T) -> T {
        let saved = self.irql;
        self.irql = irql;
        let r = f(self);
        self.irql = saved;
        r
    }
}
