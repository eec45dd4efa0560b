//! Running a call into native code: the thread's host memory, the crossings, and the
//! callbacks the C runtime makes (a DDI, a fault, a `__try` entered or left).
//!
//! A call ([`run`]) resets the thread's windows, mirrors the model into them, and runs a
//! driver entry point under `runtime/host.c`'s outermost frame. Each callback crosses
//! back: native code's stores go into the model first, then the model acts, then the
//! model's state goes back to the host. How the call ended (returned, an exception no
//! `__try` caught, a stop) becomes the [`mdlsim::Result`] a Rust strategy would return.

use crate::ddi;
use crate::host::HostMemory;
use crate::layout::{HostAddress, Layout, MAX_THREADS};
use crate::mirror::{Mirror, host_error};
use mdlsim::addr::Va;
use mdlsim::status::NtStatus;
use mdlsim::{Fault, Kernel, ModelError};
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, OnceLock};

/// `MDLSIM_OK` and the other outcomes of a host call (`runtime/host_abi.h`).
const OK: c_int = 0;
const RAISED: c_int = 1;
const STOPPED: c_int = 2;
/// `MDLSIM_STEP`: the fault is resolved for one access, which runs alone.
const STEP: c_int = 3;
/// The access `on_fault` reports for an instruction fetch (0 a read, 1 a write).
const EXECUTE: c_int = 2;
/// `TOP_UNSUPPORTED` of `mdlsim_host_run`.
const UNSUPPORTED: c_int = 3;
/// `TOP_TIMEOUT` of `mdlsim_host_run`.
const TIMEOUT: c_int = 4;

/// `MDLSIM_HOST` (`runtime/host_abi.h`): filled by `mdlsim_host_table`.
#[repr(C)]
pub struct HostTable {
    abi: u32,
    seh_enter: *const c_void,
    seh_cleanup: *const c_void,
    seh_filter: *const c_void,
    raise: *const c_void,
    stop: *const c_void,
    ddi: *const c_void,
    memcpy: *const c_void,
    memmove: *const c_void,
    memset: *const c_void,
    /// Host ranges that are model memory ([`crate::layout::model_ranges`]).
    pub model_ranges: [u64; 6],
    /// `MmUserProbeAddress` for native code.
    pub user_probe_address: u64,
    /// `MmHighestUserAddress` for native code.
    pub highest_user_address: u64,
    /// `MmSystemRangeStart` for native code.
    pub system_range_start: u64,
}

// SAFETY: the table holds only function pointers and constants, never written after
// `host_table` fills it; any thread may read it.
unsafe impl Sync for HostTable {}
// SAFETY: as above.
unsafe impl Send for HostTable {}

/// An entry thunk of a driver (`MdlsimThunkExpose`, ...).
pub type Thunk = unsafe extern "C" fn(*mut c_void);

type ResolveFn = extern "C" fn(u64, c_int, *mut u64) -> c_int;
type TryFn = extern "C" fn(c_int);
type StepFn = extern "C" fn() -> c_int;
type DdiFn = extern "C" fn(u32, *mut u64, *mut u64) -> c_int;

unsafe extern "C" {
    fn mdlsim_host_install(resolve: ResolveFn, try_changed: TryFn, stepped: StepFn) -> c_int;
    fn mdlsim_host_table(table: *mut HostTable, ddi: DdiFn);
    fn mdlsim_host_run(
        thunk: Thunk,
        args: *mut c_void,
        code: *mut i32,
        leaked: *mut c_int,
    ) -> c_int;
    fn mdlsim_host_set_budget(nanos: u64);
    fn mdlsim_host_thread_exit();
}

/// The CPU time one call into native code may use before it is stopped, in nanoseconds
/// (0: unlimited). Kept here to name it in the error.
static BUDGET_NANOS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(10_000_000_000);

/// Sets the CPU time one call into native code (an `expose`, a `retire`, a
/// [`crate::Driver::call`]) may use before it is stopped with a model error: a loop that
/// never ends in driver code ends the case, not the test run. Process-wide; 10 s by
/// default; zero means no limit.
pub fn set_cpu_budget(budget: std::time::Duration) {
    let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
    BUDGET_NANOS.store(nanos, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: stores one word the C runtime reads when it arms a call's timer.
    unsafe { mdlsim_host_set_budget(nanos) };
}

/// The table handed to every driver's `MdlsimInit`.
pub fn host_table() -> HostTable {
    let mut t = HostTable {
        abi: 0,
        seh_enter: std::ptr::null(),
        seh_cleanup: std::ptr::null(),
        seh_filter: std::ptr::null(),
        raise: std::ptr::null(),
        stop: std::ptr::null(),
        ddi: std::ptr::null(),
        memcpy: std::ptr::null(),
        memmove: std::ptr::null(),
        memset: std::ptr::null(),
        model_ranges: [0; 6],
        user_probe_address: 0,
        highest_user_address: 0,
        system_range_start: 0,
    };
    // SAFETY: `t` is a valid, writable MDLSIM_HOST; the function zeroes it and stores the
    // runtime's entries; the constants are set after it.
    unsafe { mdlsim_host_table(&mut t, on_ddi) };
    t.model_ranges = crate::layout::model_ranges();
    t.user_probe_address = crate::layout::HOST_USER_PROBE_ADDRESS;
    t.highest_user_address = crate::layout::HOST_USER_PROBE_ADDRESS - 0x1_0001;
    t.system_range_start = crate::layout::HOST_SYSTEM_RANGE_START;
    t
}

/// Installs the fault handler once per process.
fn install() -> mdlsim::Result<()> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    // SAFETY: installs process-wide SIGSEGV/SIGBUS/SIGTRAP handlers that forward every
    // signal outside a native call to the handler installed before them.
    let ok =
        *INSTALLED.get_or_init(|| unsafe { mdlsim_host_install(on_fault, on_try, on_step) } == 0);
    if ok {
        Ok(())
    } else {
        Err(host_error(std::io::Error::last_os_error()))
    }
}

/// One thread's windows and what they show; gives its slot back when the thread ends.
struct Thread {
    mem: HostMemory,
    mirror: Mirror,
    /// Where bulk transfers between model and host memory pass (see `ddi::bulk`).
    scratch: Vec<u8>,
    /// Declared after `mem`: fields drop in order, so the slot is given back only once
    /// the windows are unmapped (a new thread maps the same addresses).
    _slot: Slot,
}

impl Drop for Thread {
    fn drop(&mut self) {
        // SAFETY: runs on the thread that owns the state (the value lives in its
        // thread-local), outside any native call; it only deletes this thread's timer.
        unsafe { mdlsim_host_thread_exit() };
    }
}

/// A thread slot in use; given back when dropped.
struct Slot(usize);

impl Drop for Slot {
    fn drop(&mut self) {
        SLOTS.lock().unwrap_or_else(|e| e.into_inner())[self.0] = false;
    }
}

static SLOTS: Mutex<[bool; MAX_THREADS]> = Mutex::new([false; MAX_THREADS]);

impl Thread {
    fn new() -> mdlsim::Result<Thread> {
        let slot = {
            let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
            let Some(i) = slots.iter().position(|used| !used) else {
                return Err(Fault::Model(ModelError::Unsupported(format!(
                    "more than {MAX_THREADS} threads running native code at once"
                ))));
            };
            slots[i] = true;
            Slot(i)
        };
        // On an error the slot is given back as `slot` drops.
        let layout = Layout::new(slot.0).ok_or_else(|| {
            Fault::Model(ModelError::Unsupported(format!(
                "thread slot {} has no windows",
                slot.0
            )))
        })?;
        let mem = HostMemory::new(layout).map_err(host_error)?;
        Ok(Thread {
            mem,
            mirror: Mirror::default(),
            scratch: Vec::with_capacity(ddi::CHUNK),
            _slot: slot,
        })
    }
}

thread_local! {
    static THREAD: RefCell<Option<Thread>> = const { RefCell::new(None) };
    static ACTIVE: Cell<*mut Active> = const { Cell::new(std::ptr::null_mut()) };
}

/// The call in progress on this thread, for the callbacks.
struct Active {
    /// The `Kernel<'_>` of the call, lifetime erased: valid until [`run`] returns.
    kernel: *mut c_void,
    thread: *mut Thread,
    /// Why native code was stopped (a bug check, a model error).
    stop: Option<Fault>,
    /// The last fault resolved by mapping, to catch a fault that repeats.
    last_fault: Option<(u64, bool)>,
}

impl Active {
    /// The kernel and the thread state of the call.
    ///
    /// # Safety
    /// Only from a callback of the call that set up `self`, while [`run`] is inside
    /// `mdlsim_host_run` (so both pointers are live and nothing else uses them).
    unsafe fn parts<'x>(&self) -> (&'x mut Kernel<'x>, &'x mut Thread) {
        // SAFETY: the caller's contract; `run` does not touch either while native code
        // runs, and each callback takes the parts once.
        unsafe { (&mut *self.kernel.cast::<Kernel<'x>>(), &mut *self.thread) }
    }

    fn stopped(&mut self, f: Fault) -> c_int {
        self.stop = Some(f);
        STOPPED
    }

    fn ddi(&mut self, id: u32, words: &mut [u64], result: &mut u64) -> c_int {
        // SAFETY: called from `on_ddi`, a callback of this call.
        let (k, t) = unsafe { self.parts() };
        self.last_fault = None;
        if let Err(f) = t.mirror.close_open(&mut t.mem) {
            return self.stopped(f);
        }
        if let Err(f) = t.mirror.take_stores(&mut t.mem, k) {
            return self.stopped(f);
        }
        let r = ddi::call(k, t.mem.layout(), &mut t.scratch, id, words);
        if let Err(f) = k.interleave(|m| t.mirror.show_model(&mut t.mem, m)) {
            return self.stopped(f);
        }
        match r {
            Ok(v) => {
                *result = v;
                OK
            }
            Err(Fault::Raise(s)) => {
                *result = u64::from(s.0);
                RAISED
            }
            Err(f) => self.stopped(f),
        }
    }

    fn fault(&mut self, addr: u64, access: c_int, status: &mut u64) -> c_int {
        if access == EXECUTE {
            return self.stopped(Fault::Model(ModelError::Unsupported(format!(
                "native code jumped to {addr:#x}, model memory, which is never executable \
                 (on Windows a kernel-mode fetch from data pages is bug check 0xFC, \
                 ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY)"
            ))));
        }
        let write = access != 0;
        let r = self.resolve(addr, write, status);
        if r == RAISED {
            // The access never completes: what a step opened for it closes now.
            // SAFETY: called from `on_fault`, a callback of this call.
            let (_, t) = unsafe { self.parts() };
            if let Err(f) = t.mirror.close_open(&mut t.mem) {
                return self.stopped(f);
            }
        }
        r
    }

    fn resolve(&mut self, addr: u64, write: bool, status: &mut u64) -> c_int {
        let traced = {
            // SAFETY: called from `on_fault`, a callback of this call.
            let (k, t) = unsafe { self.parts() };
            match t.mem.layout().classify(addr) {
                HostAddress::Model(_) => {
                    let va = ddi::model_va(t.mem.layout(), addr);
                    k.interleave(|m| t.mirror.traced(m, va)).then_some(va)
                }
                _ => None,
            }
        };
        if let Some(va) = traced {
            return self.traced_access(va, write, status);
        }
        if self.last_fault == Some((addr, write)) {
            return self.stopped(Fault::Model(ModelError::Unsupported(format!(
                "native code faulted twice at {addr:#x}: the model allows the access but the \
                 host cannot map it"
            ))));
        }
        // SAFETY: called from `on_fault`, a callback of this call.
        let (k, t) = unsafe { self.parts() };
        let layout = t.mem.layout();
        let va = match layout.classify(addr) {
            HostAddress::Process(pid) => {
                return self.stopped(Fault::Model(ModelError::Unsupported(format!(
                    "native code dereferenced the PEPROCESS of process {pid} (opaque here)"
                ))));
            }
            _ => ddi::model_va(layout, addr),
        };
        // A page the model maps and native code has not touched yet in this call: the
        // access is judged first, as the first access to that page in this call (at a
        // user address: probed in this request? inside `__try`? In pool: inside the
        // block? Pageable at a raised IRQL?).
        let mappable = k.interleave(|m| t.mirror.can_map(m, va, write));
        if mappable {
            if let Err(f) = k.judge_access(va, 1, write) {
                return self.stopped(f);
            }
        }
        match k.interleave(|m| t.mirror.map_on_demand(&mut t.mem, m, va, write)) {
            Ok(true) => {
                self.last_fault = Some((addr, write));
                return OK;
            }
            Ok(false) => {}
            Err(f) => return self.stopped(f),
        }
        // Otherwise the model decides: its stores first, then the access itself.
        if let Err(f) = t.mirror.take_stores(&mut t.mem, k) {
            return self.stopped(f);
        }
        let r = k.dereference(va, 1, write);
        let sync = k.interleave(|m| {
            t.mirror.show_model(&mut t.mem, m)?;
            t.mirror.map_on_demand(&mut t.mem, m, va, write)
        });
        match (r, sync) {
            (_, Err(f)) => self.stopped(f),
            (Ok(()), Ok(_)) => {
                self.last_fault = Some((addr, write));
                OK
            }
            (Err(Fault::Raise(s)), Ok(_)) => {
                *status = u64::from(s.0);
                RAISED
            }
            (Err(f), Ok(_)) => self.stopped(f),
        }
    }
}

impl Active {
    /// One access of native code to a traced page ([`Mirror::traced`]): judged and made
    /// by the model as a dereference (a load is logged, so a second load of the byte is
    /// a double fetch; a bad address raises or bug-checks), then the page is opened for
    /// this one instruction (`STEP`) and closed by [`Active::stepped`] after it. What
    /// another thread's scheduled write or release does at the access's step is carried
    /// to the host, so the write lands between two loads exactly as in the model.
    fn traced_access(&mut self, va: Va, write: bool, status: &mut u64) -> c_int {
        // SAFETY: called from `on_fault`, a callback of this call.
        let (k, t) = unsafe { self.parts() };
        self.last_fault = None;
        // Another thread's write or release due at this access's step: what it does is
        // carried to the host, while native code's own stores stay pending (taking them
        // now would add steps, and a replay would no longer meet its schedule).
        let before = k.interleave(|m| m.interleaving_due_next().then(|| t.mirror.model_frames(m)));
        let r = k.dereference(va, 1, write);
        if let Some(before) = before {
            let sync = k.interleave(|m| t.mirror.apply_interleaved(&mut t.mem, m, &before));
            if let Err(f) = sync {
                return self.stopped(f);
            }
        }
        match r {
            Ok(()) => {}
            Err(Fault::Raise(s)) => {
                *status = u64::from(s.0); // `fault` closes what a step opened
                return RAISED;
            }
            Err(f) => return self.stopped(f),
        }
        match k.interleave(|m| t.mirror.open_for_one_access(&mut t.mem, m, va, write)) {
            Ok(true) => STEP,
            Ok(false) => self.stopped(Fault::Model(ModelError::Unsupported(format!(
                "native code's access at {va} was allowed by the model, which has no \
                 mapping for it"
            )))),
            Err(f) => self.stopped(f),
        }
    }

    /// The instruction that ran alone completed: its pages are closed again.
    fn stepped(&mut self) -> c_int {
        // SAFETY: called from `on_step`, a callback of this call.
        let (_, t) = unsafe { self.parts() };
        match t.mirror.close_open(&mut t.mem) {
            Ok(()) => OK,
            Err(f) => self.stopped(f),
        }
    }
}

fn with_active(f: impl FnOnce(&mut Active) -> c_int) -> c_int {
    let p = ACTIVE.with(Cell::get);
    if p.is_null() {
        return STOPPED;
    }
    // SAFETY: `run` set the pointer to its live `Active` and clears it before returning;
    // callbacks are synchronous on this thread, so no other reference is in use.
    let active = unsafe { &mut *p };
    match catch_unwind(AssertUnwindSafe(|| f(&mut *active))) {
        Ok(c) => c,
        Err(_) => active.stopped(Fault::Model(ModelError::Unsupported(
            "a panic in the model during a native call".into(),
        ))),
    }
}

extern "C" fn on_ddi(id: u32, args: *mut u64, result: *mut u64) -> c_int {
    with_active(|a| {
        let Some(n) = ddi::arg_count(id) else {
            return a.stopped(Fault::Model(ModelError::Unsupported(format!(
                "DDI number {id}"
            ))));
        };
        // SAFETY: the stub for DDI `id` passes an array of exactly `n` words
        // (runtime/driver_rt.c; the counts are compared with ddi::DDIS by a test), and a
        // writable result word; both live for the duration of this call.
        let (words, result) = unsafe { (std::slice::from_raw_parts_mut(args, n), &mut *result) };
        a.ddi(id, words, result)
    })
}

extern "C" fn on_fault(addr: u64, access: c_int, status: *mut u64) -> c_int {
    with_active(|a| {
        // SAFETY: host.c passes a pointer to its local status word.
        let status = unsafe { &mut *status };
        a.fault(addr, access, status)
    })
}

extern "C" fn on_step() -> c_int {
    with_active(Active::stepped)
}

extern "C" fn on_try(delta: c_int) {
    with_active(|a| {
        // SAFETY: called from host.c's frame chain during this call.
        let (k, _) = unsafe { a.parts() };
        if delta > 0 {
            k.enter_try();
        } else {
            k.leave_try();
        }
        OK
    });
}

/// This thread's windows (made on first use).
///
/// # Errors
/// More threads than [`MAX_THREADS`] run native code, or the host refused the windows.
pub fn layout() -> mdlsim::Result<Layout> {
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            *t = Some(Thread::new()?);
        }
        Ok(t.as_ref().map(|t| t.mem.layout()).expect("made above"))
    })
}

/// Runs `thunk(args)` against the model behind `k`: the native call of a strategy's
/// `expose` or `retire`. With `trace`, native code's loads and stores to user pages,
/// paged pool and the frames of user buffers are made one at a time, each judged and
/// logged by the model ([`Mirror::traced`]).
///
/// # Errors
/// What the driver did to the system: a bug check in a DDI or on a fault, an exception no
/// `__try` caught (`Fault::Raise`), a model error (a host refusal, something native code
/// did that the model does not support).
pub fn run(k: &mut Kernel<'_>, thunk: Thunk, args: *mut c_void, trace: bool) -> mdlsim::Result<()> {
    install()?;
    let mut thread = match THREAD.with(|t| t.borrow_mut().take()) {
        Some(t) => t,
        None => Thread::new()?,
    };
    thread.mirror.trace = trace;
    let r = run_on(&mut thread, k, thunk, args);
    THREAD.with(|t| *t.borrow_mut() = Some(thread));
    r
}

fn run_on(
    t: &mut Thread,
    k: &mut Kernel<'_>,
    thunk: Thunk,
    args: *mut c_void,
) -> mdlsim::Result<()> {
    t.mirror.reset(&mut t.mem)?;
    k.interleave(|m| t.mirror.show_model(&mut t.mem, m))?;
    let mut active = Active {
        kernel: (k as *mut Kernel<'_>).cast(),
        thread: t,
        stop: None,
        last_fault: None,
    };
    let prev = ACTIVE.with(|a| a.replace(&mut active));
    let mut code = 0i32;
    let mut leaked: c_int = 0;
    // SAFETY: `thunk` is a driver's entry thunk taking `args` (the caller built them for
    // it); the callbacks reach `k` and `t` only through `active`, which outlives the
    // call, and neither is used here until it returns.
    let outcome = unsafe { mdlsim_host_run(thunk, args, &mut code, &mut leaked) };
    ACTIVE.with(|a| a.set(prev));
    // The `__try` frames a stop left open, closed in the model.
    for _ in 0..leaked {
        k.leave_try();
    }
    let stop = active.stop.take();
    match outcome {
        OK | RAISED => {
            t.mirror.take_stores(&mut t.mem, k)?;
            if outcome == RAISED {
                return Err(Fault::Raise(NtStatus(code as u32)));
            }
            Ok(())
        }
        STOPPED => Err(stop.unwrap_or_else(|| {
            Fault::Model(ModelError::Unsupported(
                "native code stopped without a reason".into(),
            ))
        })),
        TIMEOUT => Err(Fault::Model(ModelError::Unsupported(format!(
            "native code used its CPU budget of {:?} in one call (a loop that never ends?)",
            std::time::Duration::from_nanos(
                BUDGET_NANOS.load(std::sync::atomic::Ordering::Relaxed)
            )
        )))),
        UNSUPPORTED => Err(Fault::Model(ModelError::Unsupported(format!(
            "native code's __except filter returned EXCEPTION_CONTINUE_EXECUTION for {}",
            NtStatus(code as u32)
        )))),
        other => Err(Fault::Model(ModelError::Unsupported(format!(
            "native call ended with outcome {other}"
        )))),
    }
}
