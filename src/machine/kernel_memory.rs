//! Driver code's own memory accesses (`RtlCopyMemory`, `RtlZeroMemory`, a dereference)
//! and `__try/__except`: each access at a user-mode address is judged against the
//! rules of [`crate::user_pointers`] before it is made.

use super::Kernel;
use super::calls::{DdiArg, show_args, show_result};
use crate::addr::Va;
use crate::fault::{Fault, Result};
use crate::machine::Machine;
use crate::status::NtStatus;

impl Kernel<'_> {
    /// `KeGetCurrentIrql`: the machine's [`Machine::ke_get_current_irql`].
    #[doc(alias = "KeGetCurrentIrql")]
    pub fn ke_get_current_irql(&self) -> crate::irql::Kirql {
        self.m.ke_get_current_irql()
    }

    /// Runs `f` in the DDI call log as `ddi` with `args`.
    fn logged<T: DdiArg>(
        &mut self,
        ddi: &'static str,
        args: impl FnOnce() -> String,
        f: impl FnOnce(&mut Machine) -> Result<T>,
    ) -> Result<T> {
        let Some(i) = self.m.ddi_call_begin(ddi, args) else {
            return f(self.m);
        };
        let r = f(self.m);
        self.m.ddi_call_end(i, show_result(&r));
        r
    }

    /// A kernel-mode read (a driver dereferencing `va`): the machine's
    /// [`Machine::kernel_read`], in the current context. At a user-mode address the
    /// access must be probed in this request and made inside [`Kernel::try_except`]
    /// (else an [`crate::events::EventKind::UnprobedUserAccess`] /
    /// [`crate::events::EventKind::UserAccessOutsideTry`] event).
    #[doc(alias = "RtlCopyMemory")]
    pub fn kernel_read(&mut self, va: Va, len: u64) -> Result<Vec<u8>> {
        let args = || show_args(&[("va", va.show("va")), ("len", len.show("len"))]);
        self.logged("RtlCopyMemory", args, |m| {
            m.judge_driver_access(va, len, false)?;
            m.kernel_read(va, len)
        })
    }

    /// A kernel-mode read into the driver's buffer: the machine's
    /// [`Machine::kernel_read_into`], judged as [`Kernel::kernel_read`].
    #[doc(alias = "RtlCopyMemory")]
    pub fn kernel_read_into(&mut self, va: Va, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u64;
        let args = || show_args(&[("va", va.show("va")), ("len", len.show("len"))]);
        self.logged("RtlCopyMemory", args, |m| {
            m.judge_driver_access(va, len, false)?;
            m.kernel_read_into(va, buf)
        })
    }

    /// A kernel-mode write of fresh data: the machine's [`Machine::kernel_write`],
    /// judged as [`Kernel::kernel_read`] (a user address must be probed for write).
    #[doc(alias = "RtlCopyMemory")]
    pub fn kernel_write(&mut self, va: Va, data: &[u8]) -> Result<()> {
        let args = || show_args(&[("va", va.show("va")), ("data", data.show("data"))]);
        self.logged("RtlCopyMemory", args, |m| {
            m.judge_driver_access(va, data.len() as u64, true)?;
            m.kernel_write(va, data)
        })
    }

    /// `RtlCopyMemory` between two addresses: the machine's [`Machine::kernel_copy`],
    /// the source judged as a read and the destination as a write.
    #[doc(alias = "RtlCopyMemory")]
    pub fn kernel_copy(&mut self, dst: Va, src: Va, len: u64) -> Result<()> {
        let args = || {
            show_args(&[
                ("dst", dst.show("dst")),
                ("src", src.show("src")),
                ("len", len.show("len")),
            ])
        };
        self.logged("RtlCopyMemory", args, |m| {
            m.judge_driver_access(src, len, false)?;
            m.judge_driver_access(dst, len, true)?;
            m.kernel_copy(dst, src, len)
        })
    }

    /// `RtlZeroMemory`: the machine's [`Machine::kernel_zero`], judged as a write.
    #[doc(alias = "RtlZeroMemory")]
    pub fn kernel_zero(&mut self, va: Va, len: u64) -> Result<()> {
        let args = || show_args(&[("va", va.show("va")), ("len", len.show("len"))]);
        self.logged("RtlZeroMemory", args, |m| {
            m.judge_driver_access(va, len, true)?;
            m.kernel_zero(va, len)
        })
    }

    /// `__try { f } __except (EXCEPTION_EXECUTE_HANDLER) { ... }`: runs `f`; an
    /// exception it raises (a fault on a user address, a failed probe, `ExRaiseStatus`)
    /// is caught and returned as `Ok(Err(code))`, for the `__except` block to handle.
    /// Accesses to user addresses are only safe in here ([`crate::user_pointers`]).
    ///
    /// # Errors
    /// What `f` returns other than a raised exception (a bug check is not an exception
    /// `__except` can catch).
    ///
    /// ```
    /// use mdlsim::{Config, Machine, NtStatus, addr::Va};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let app = m.create_process("app").unwrap();
    /// m.switch_to(Some(app)).unwrap();
    /// let mut k = m.kernel();
    /// // A user address with nothing behind it, probed and read inside __try.
    /// let bad = Va::new(0x7000_0000);
    /// let r = k.try_except(|k| {
    ///     k.probe_for_read(bad, 4, 1)?;
    ///     k.kernel_read(bad, 4)
    /// });
    /// assert_eq!(r.unwrap(), Err(NtStatus::ACCESS_VIOLATION));
    /// assert!(m.events().is_empty(), "probed, and inside __try");
    /// ```
    #[doc(alias = "__try")]
    #[doc(alias = "__except")]
    pub fn try_except<T>(
        &mut self,
        f: impl FnOnce(&mut Kernel<'_>) -> Result<T>,
    ) -> Result<std::result::Result<T, NtStatus>> {
        self.m.user_pointers.enter_try();
        let r = f(&mut self.reborrow());
        self.m.user_pointers.leave_try();
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(Fault::Raise(code)) => Ok(Err(code)),
            Err(other) => Err(other),
        }
    }

    /// A load or store driver code made itself, which the model does not carry out (a
    /// native driver's dereference of `va`, `len` bytes): judged as [`Kernel::kernel_read`]
    /// and [`Kernel::kernel_write`] judge theirs (a user address probed in this request
    /// and inside `__try`, the IRQL of a pageable access, pool bounds), the bytes
    /// untouched and unlogged.
    ///
    /// # Errors
    /// What the judgement raises: a bug check (a pageable access at `DISPATCH_LEVEL`),
    /// or the crash already recorded.
    pub fn judge_access(&mut self, va: Va, len: u64, write: bool) -> Result<()> {
        self.m.judge_driver_access(va, len, write)
    }

    /// A load or store native driver code made itself (a pointer dereference, `len`
    /// bytes at `va`): judged as [`Kernel::kernel_read`] and [`Kernel::kernel_write`]
    /// judge theirs, then made as the machine's [`Machine::kernel_access`] (a bad address
    /// faults, a read is logged as the kernel's, so two loads of one user byte are a
    /// double fetch). It is plain code, not a routine: the DDI call log does not list it.
    ///
    /// # Errors
    /// What the judgement or the access raises: `STATUS_ACCESS_VIOLATION` at a bad user
    /// address, a bug check at a bad system address or for a pageable access at
    /// `DISPATCH_LEVEL`, or the crash already recorded.
    pub fn dereference(&mut self, va: Va, len: u64, write: bool) -> Result<()> {
        self.m.judge_driver_access(va, len, write)?;
        self.m.kernel_access(va, len, write)
    }

    /// Driver code enters a `__try` block that is not a closure (native C code's
    /// `__try`, whose frames the C runtime keeps): accesses to user addresses are judged
    /// as inside `__try` until the matching [`Kernel::leave_try`]. Rust driver code uses
    /// [`Kernel::try_except`], which pairs the two itself.
    #[doc(alias = "__try")]
    pub fn enter_try(&mut self) {
        self.m.user_pointers.enter_try();
    }

    /// Driver code leaves a `__try` block entered with [`Kernel::enter_try`] (at its end,
    /// or when an exception unwinds to its `__except`). Unmatched, it does nothing.
    #[doc(alias = "__except")]
    pub fn leave_try(&mut self) {
        self.m.user_pointers.leave_try();
    }
}
