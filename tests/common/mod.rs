//! Helpers shared by the integration tests (each `tests/*.rs` file is its own crate and
//! uses a subset, hence the `dead_code` allowance).
#![allow(dead_code)]

use mdlsim::addr::{PAGE_SIZE, Pfn, Va};
use mdlsim::bugcheck::{BugCheck, BugCheckCode};
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, priority};
use mdlsim::op::{Interpreter, Outcome};
use mdlsim::pool::PoolType;
use mdlsim::space::{Pid, Protection};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Fault, Machine, MdlId, NtStatus, Result};

/// A default machine (4 GiB RAM, lazily materialised).
pub fn machine() -> Machine {
    Machine::new(Config::default()).unwrap()
}

/// Verifier on without Pool Tracking: no locked-page tracking unless `TrackLockedPages`
/// is set, so a process deleted with locked pages is 0x76, not 0xCB.
pub fn no_pool_tracking() -> mdlsim::verifier::Verifier {
    mdlsim::verifier::Verifier {
        pool_tracking: false,
        ..mdlsim::verifier::Verifier::STANDARD
    }
}

/// [`with_app`] on a machine that does not track locked pages ([`no_pool_tracking`]).
pub fn untracked_app() -> (Machine, Pid) {
    let mut m = Machine::new(Config::default().verifier(no_pool_tracking())).unwrap();
    let app = m.create_process("app").unwrap();
    (m, app)
}

/// A machine with one process, `app`.
pub fn with_app() -> (Machine, Pid) {
    let mut m = machine();
    let app = m.create_process("app").unwrap();
    (m, app)
}

/// Commits `size` bytes of read-write memory in `pid`.
pub fn user_buf(m: &mut Machine, pid: Pid, size: u64) -> Va {
    m.virtual_alloc(
        pid,
        None,
        size,
        MEM_COMMIT | MEM_RESERVE,
        Protection::ReadWrite,
    )
    .unwrap()
}

/// `va + off`.
pub fn at(va: Va, off: u64) -> Va {
    va.checked_add(off).unwrap()
}

/// `IoAllocateMdl(va, len)` with no IRP, unwrapped (the current context is unchanged).
pub fn new_mdl(m: &mut Machine, va: Va, len: u32) -> MdlId {
    m.io_allocate_mdl(va, len, false, false, None)
        .unwrap()
        .unwrap()
}

/// `ExAllocatePoolWithTag(NonPagedPool, size, tag)`, unwrapped.
pub fn nonpaged(m: &mut Machine, size: u64, tag: u32) -> Va {
    m.ex_allocate_pool_with_tag(PoolType::NonPaged, size, tag)
        .unwrap()
        .unwrap()
}

/// `MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority)`, unwrapped.
pub fn system_va(m: &mut Machine, mdl: MdlId) -> Va {
    m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)
        .unwrap()
        .unwrap()
}

/// `MmMapLockedPagesSpecifyCache(mdl, UserMode, MmCached, NULL, FALSE, NormalPagePriority)`
/// in the current process, unwrapped.
pub fn map_user(m: &mut Machine, mdl: MdlId) -> Va {
    m.mm_map_locked_pages_specify_cache(
        mdl,
        AccessMode::UserMode,
        CacheType::Cached,
        None,
        false,
        priority::NORMAL,
    )
    .unwrap()
    .unwrap()
}

/// Allocates an MDL for `[va, va+len)` and probes it in `pid`'s context (UserMode).
pub fn lock_user(m: &mut Machine, pid: Pid, va: Va, len: u32, op: LockOperation) -> MdlId {
    m.switch_to(Some(pid)).unwrap();
    let mdl = new_mdl(m, va, len);
    m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, op)
        .unwrap();
    mdl
}

/// The frames an MDL's PFN array names (up to its page count / LIST_HEAD).
pub fn frames(m: &Machine, mdl: MdlId) -> Vec<Pfn> {
    m.mdl(mdl).unwrap().frames().collect()
}

/// (reference count, share count) of a frame.
pub fn counts(m: &Machine, pfn: Pfn) -> (u32, u32) {
    let e = m.pfn_entry(pfn).unwrap();
    (e.reference_count, e.share_count)
}

/// Asserts that the model's books balance.
pub fn assert_audit_clean(m: &Machine) {
    let v = m.audit();
    assert!(v.is_empty(), "audit violations: {v:#?}");
}

/// Unwraps a bug check out of a result, checking the code and all four parameters, that the
/// machine recorded it, and that every later call returns the same bug check.
pub fn expect_bug_check<T: std::fmt::Debug>(
    m: &mut Machine,
    r: Result<T>,
    code: BugCheckCode,
    params: [u64; 4],
) -> BugCheck {
    let f = r.expect_err("expected a bug check");
    let b = match f {
        Fault::BugCheck(b) => b,
        other => panic!("expected bug check {code:?}, got {other:?}"),
    };
    assert_eq!(b.code, code, "bug check code ({})", b.detail);
    assert_eq!(b.params, params, "bug check parameters ({})", b.detail);
    assert_eq!(m.crashed(), Some(&b));
    assert_sticky(m, &b);
    b
}

/// Like [`expect_bug_check`] but only P1 is checked (for parameters that are addresses the
/// test cannot know in advance, check them separately).
pub fn expect_bug_check_p1<T: std::fmt::Debug>(
    m: &mut Machine,
    r: Result<T>,
    code: BugCheckCode,
    p1: u64,
) -> BugCheck {
    let f = r.expect_err("expected a bug check");
    let b = match f {
        Fault::BugCheck(b) => b,
        other => panic!("expected bug check {code:?}, got {other:?}"),
    };
    assert_eq!(b.code, code, "bug check code ({})", b.detail);
    assert_eq!(b.params[0], p1, "bug check P1 ({})", b.detail);
    assert_eq!(m.crashed(), Some(&b));
    assert_sticky(m, &b);
    b
}

/// After a bug check, every later call — every op of [`mdlsim::op::examples`], one of each
/// variant, through the op interpreter on a copy of the machine — returns that same bug
/// check, and the step counter no longer moves.
pub fn assert_sticky(m: &mut Machine, b: &BugCheck) {
    let mut interp = Interpreter::with_machine(m.clone());
    let step = m.step();
    let want = Outcome::Fault(Fault::BugCheck(b.clone()));
    for op in mdlsim::op::examples() {
        assert_eq!(interp.apply(&op), want, "{} after the bug check", op.name());
    }
    assert_eq!(
        interp.machine().step(),
        step,
        "a crashed machine takes no more steps"
    );
    assert_eq!(interp.machine().crashed(), Some(b));
    assert_eq!(m.crashed(), Some(b));
}

/// Expects a raised exception with `status`.
pub fn expect_raise<T: std::fmt::Debug>(r: Result<T>, status: NtStatus) {
    assert_eq!(r.unwrap_err(), Fault::Raise(status));
}

/// Expects a returned failure status.
pub fn expect_status<T: std::fmt::Debug>(r: Result<T>, status: NtStatus) {
    assert_eq!(r.unwrap_err(), Fault::Status(status));
}

/// `STATUS_BREAKPOINT` as the 0x1E parameter-1 of a checked-build ASSERT.
pub fn assert_params() -> [u64; 4] {
    [NtStatus::BREAKPOINT.0 as u64, 0, 0, 0]
}

/// The 0x1E parameters of a NULL-MDL dereference (MdlFlags at offset 0xA).
pub fn null_mdl_params() -> [u64; 4] {
    [NtStatus::ACCESS_VIOLATION.0 as u64, 0, 0, 0xA]
}

/// Page `i` of a region.
pub fn page(va: Va, i: u64) -> Va {
    at(va.page_align(), i * PAGE_SIZE)
}

/// `MmMapLockedPagesSpecifyCache` to a kernel address with the given cache type, `bcof`
/// (BugCheckOnFailure) and priority.
pub fn map_k(
    m: &mut Machine,
    mdl: MdlId,
    cache: CacheType,
    bcof: bool,
    prio: u32,
) -> mdlsim::Result<Option<Va>> {
    m.mm_map_locked_pages_specify_cache(mdl, AccessMode::KernelMode, cache, None, bcof, prio)
}

/// `MmMapLockedPagesSpecifyCache` to a user address (cached, no bug check on failure).
pub fn map_u(
    m: &mut Machine,
    mdl: MdlId,
    base: Option<Va>,
    prio: u32,
) -> mdlsim::Result<Option<Va>> {
    m.mm_map_locked_pages_specify_cache(
        mdl,
        AccessMode::UserMode,
        CacheType::Cached,
        base,
        false,
        prio,
    )
}

/// A process with a 3-page buffer holding `0..` bytes, locked from offset 0x123 for 0x2000 bytes.
pub fn locked() -> (Machine, Pid, Va, MdlId) {
    locked_on(Config::default())
}

/// [`locked`] on a machine configured with `config`.
pub fn locked_on(config: Config) -> (Machine, Pid, Va, MdlId) {
    let mut m = Machine::new(config).unwrap();
    let app = m.create_process("app").unwrap();
    let buf = user_buf(&mut m, app, 0x3000);
    let data: Vec<u8> = (0..0x3000u32).map(|i| (i % 251) as u8).collect();
    m.user_write(app, buf, &data).unwrap();
    let mdl = lock_user(
        &mut m,
        app,
        at(buf, 0x123),
        0x2000,
        LockOperation::IoWriteAccess,
    );
    (m, app, buf, mdl)
}
