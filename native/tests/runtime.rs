//! The native runtime, one rule at a time: C routines (tests/c/runtime.c) run against a
//! machine set up here, and what they return and what the model records are checked.

use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::bugcheck::BugCheckCode;
use mdlsim::mdl::MdlFlags;
use mdlsim::space::{Pid, Protection};
use mdlsim::status::NtStatus;
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Fault, Machine};
use mdlsim_native::{DDIS, Driver, host_address, model_address};
use std::sync::OnceLock;

mod common;

fn driver() -> &'static Driver {
    static D: OnceLock<Driver> = OnceLock::new();
    D.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/runtime.c");
        Driver::compile(path).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// A machine with an app whose context is current, and two committed pages starting
/// with `11 22 33 44`.
fn scene() -> (Machine, Pid, Va) {
    common::app_with(2, b"\x11\x22\x33\x44")
}

fn call(m: &mut Machine, f: &str, arg: u64) -> mdlsim::Result<u64> {
    // SAFETY: every routine of tests/c/runtime.c that the tests name is
    // `ULONG64 f(ULONG64)`.
    unsafe { driver().call(&mut m.kernel(), f, arg) }
}

fn host(va: Va) -> u64 {
    host_address(va).unwrap()
}

const AV: u64 = NtStatus::ACCESS_VIOLATION.0 as u64;

#[test]
fn the_ddi_numbers_of_the_c_runtime_are_the_rust_sides() {
    let abi = include_str!("../runtime/host_abi.h");
    let rt = [
        include_str!("../runtime/driver_rt.c"),
        include_str!("../runtime/driver_flt.c"),
    ]
    .concat();
    for (id, name, words) in DDIS {
        let define = format!("#define MDLSIM_DDI_{name} {id}");
        assert!(abi.contains(&define), "host_abi.h lacks `{define}`");
        // Every stub builds its word array right before the call that names the DDI.
        let call = format!("MDLSIM_DDI_{name}, ");
        let at = rt
            .find(&call)
            .unwrap_or_else(|| panic!("no stub calls {name}"));
        let array = &rt[..at];
        let open = array.rfind("[] = {").expect("a word array") + 6;
        let close = open + array[open..].find('}').expect("closed");
        let n = array[open..close].split(',').count();
        assert_eq!(n, *words, "{name}: the stub passes {n} words");
    }
    let count = abi
        .lines()
        .filter(|l| l.starts_with("#define MDLSIM_DDI_"))
        .count();
    assert_eq!(
        count,
        DDIS.len() + 1,
        "every DDI in the header is known (plus the count)"
    );
    let highest = DDIS.iter().map(|d| d.0).max().unwrap_or(0);
    let define = format!("#define MDLSIM_DDI_COUNT {}", highest + 1);
    assert!(abi.contains(&define), "host_abi.h lacks `{define}`");
}

#[test]
fn a_fault_at_a_bad_user_address_is_an_access_violation_the_try_catches() {
    let (mut m, _, _) = scene();
    assert_eq!(
        call(&mut m, "ReadInTry", host(Va::new(0x7000_0000))).unwrap(),
        AV
    );
    assert!(m.crashed().is_none());
}

#[test]
fn a_non_canonical_address_is_an_access_violation_not_a_null_dereference() {
    let (mut m, _, _) = scene();
    let before = m.step();
    // The CPU reports no address for it (#GP): the access violation is raised as Windows
    // raises a kernel-mode #GP, which `__try` catches (ReadKernel's handler returns
    // 0xDEAD), and the model is not asked about address 0 (no dereference of NULL).
    assert_eq!(
        call(&mut m, "ReadKernel", 0x8000_0000_0000_1000).unwrap(),
        0xDEAD
    );
    assert_eq!(m.step(), before);
    assert!(m.crashed().is_none());
}

#[test]
fn a_good_user_address_reads_its_bytes() {
    let (mut m, _, va) = scene();
    assert_eq!(
        call(&mut m, "ReadInTry", host(va.wrapping_add(2))).unwrap(),
        0x33
    );
}

#[test]
fn an_access_violation_no_try_catches_escapes_as_the_raised_status() {
    let (mut m, _, _) = scene();
    let r = call(&mut m, "ReadBare", host(Va::new(0x7000_0000)));
    assert!(
        matches!(r, Err(Fault::Raise(s)) if s == NtStatus::ACCESS_VIOLATION),
        "{r:?}"
    );
}

#[test]
fn a_null_dereference_is_an_access_violation() {
    let (mut m, _, _) = scene();
    assert_eq!(call(&mut m, "ReadInTry", 0).unwrap(), AV);
}

#[test]
fn a_freed_pool_block_read_is_page_fault_in_nonpaged_area_whatever_the_try() {
    let (mut m, _, _) = scene();
    let r = call(&mut m, "UseAfterFree", 0);
    let b = r.expect_err("a bug check");
    let b = b.bug_check().expect("a bug check");
    assert_eq!(b.code, BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA, "{b:?}");
    assert!(m.crashed().is_some());
}

#[test]
fn a_store_through_the_system_mapping_is_seen_through_the_user_address() {
    let (mut m, app, va) = scene();
    assert_eq!(call(&mut m, "AliasWrite", host(va)).unwrap(), 0xA5);
    assert_eq!(
        m.user_read(app, va, 2).unwrap(),
        vec![0xA5, 0x22],
        "the model has it"
    );
    assert!(m.audit().is_empty(), "{:?}", m.audit());
}

#[test]
fn continue_search_passes_the_exception_to_the_outer_try() {
    let (mut m, _, _) = scene();
    assert_eq!(
        call(&mut m, "Nested", host(Va::new(0x7000_0000))).unwrap(),
        AV + 1
    );
}

#[test]
fn a_try_left_by_return_does_not_catch_a_later_exception() {
    let (mut m, _, _) = scene();
    assert_eq!(
        call(&mut m, "ReturnThenFault", host(Va::new(0x7000_0000))).unwrap(),
        AV
    );
}

#[test]
fn leave_jumps_to_the_end_of_the_try() {
    let (mut m, _, _) = scene();
    assert_eq!(call(&mut m, "Leave", 0).unwrap(), 2);
}

#[test]
fn ex_raise_status_is_caught_with_its_code_or_escapes() {
    let (mut m, _, _) = scene();
    let s = u64::from(NtStatus::INVALID_PARAMETER.0);
    assert_eq!(call(&mut m, "RaiseCaught", s).unwrap(), s);
    let r = call(&mut m, "RaiseUncaught", s);
    assert!(
        matches!(r, Err(Fault::Raise(x)) if x == NtStatus::INVALID_PARAMETER),
        "{r:?}"
    );
}

#[test]
fn a_demand_zero_page_is_materialised_on_first_touch_and_keeps_the_store() {
    let (mut m, app, _) = scene();
    let base = call(&mut m, "AllocateAndTouch", 0).unwrap();
    assert_ne!(base, 0);
    let va = model_address(base).unwrap();
    assert_eq!(
        m.user_read(app, va.wrapping_add(PAGE_SIZE), 2).unwrap(),
        vec![0, 0x77]
    );
}

#[test]
fn a_write_to_a_read_only_user_page_is_an_access_violation() {
    let (mut m, app, _) = scene();
    let ro = m
        .virtual_alloc(
            app,
            None,
            PAGE_SIZE,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadOnly,
        )
        .unwrap();
    assert_eq!(call(&mut m, "WriteInTry", host(ro)).unwrap(), AV);
    assert_eq!(m.user_read(app, ro, 1).unwrap(), vec![0]);
}

#[test]
fn direct_writes_to_an_mdl_reach_the_model() {
    let (mut m, _, va) = scene();
    let p = call(&mut m, "WriteMdlFields", host(va)).unwrap();
    let id = m.mdl_at(model_address(p).unwrap()).expect("an MDL");
    let mdl = m.mdl(id).unwrap();
    assert!(mdl.flags.contains(MdlFlags::MAPPING_CAN_FAIL));
    assert_eq!(mdl.pfn_array()[0], 0x1234);
    m.io_free_mdl(id).unwrap();
}

#[test]
fn rtl_copy_memory_from_a_user_address_reads_through_the_model() {
    let (mut m, _, va) = scene();
    m.start_access_log().unwrap();
    assert_eq!(call(&mut m, "CaptureUser", host(va)).unwrap(), 0x4433_2211);
    let log = m.take_access_log().unwrap();
    assert!(
        log.iter().any(|a| a.va == va && a.len == 4),
        "the copy is a logged access of the 4 bytes: {log:?}"
    );
}

#[test]
fn host_pointers_compare_with_mm_user_probe_address_as_model_addresses_do() {
    let (mut m, _, va) = scene();
    assert_eq!(call(&mut m, "Probe", host(va)).unwrap(), 1);
    let pool = m.kernel().ex_allocate_pool2(0x40, 64, 1).unwrap().unwrap();
    assert_eq!(call(&mut m, "Probe", host(pool)).unwrap(), 0);
}

#[test]
fn ke_raise_irql_raises_and_ke_lower_irql_restores() {
    let (mut m, _, _) = scene();
    assert_eq!(call(&mut m, "IrqlRoundTrip", 0).unwrap(), 0x0002);
    assert_eq!(m.ke_get_current_irql().0, 0);
}

#[test]
fn paged_pool_at_dispatch_level_is_the_models_bug_check() {
    let (mut m, _, _) = scene();
    let r = call(&mut m, "PagedPoolAtDispatch", 0);
    assert!(r.as_ref().is_err_and(|f| f.bug_check().is_some()), "{r:?}");
}

#[test]
fn zw_query_virtual_memory_fills_the_callers_structure() {
    let (mut m, _, va) = scene();
    assert_eq!(
        call(&mut m, "QueryRegion", host(va.wrapping_add(5))).unwrap(),
        2 * PAGE_SIZE
    );
}

/// A raw dereference of a user address is judged on its page's first touch in a call:
/// unprobed, it is the model's `UnprobedUserAccess` event; after `ProbeForRead` in the
/// same request, nothing.
#[test]
fn a_raw_user_read_without_probe_is_an_unprobed_user_access() {
    use mdlsim::events::EventKind;
    let unprobed = |f: &str| {
        let (mut m, _, va) = scene();
        assert_eq!(call(&mut m, f, host(va)).unwrap(), 0x11);
        m.events()
            .iter()
            .filter(|e| e.kind == EventKind::UnprobedUserAccess)
            .count()
    };
    assert_eq!(unprobed("ReadUnprobed"), 1);
    assert_eq!(unprobed("ReadInTry"), 0);
}

#[test]
fn a_plain_read_of_paged_pool_at_dispatch_level_is_judged_on_a_page_already_touched() {
    let (mut m, _, _) = scene();
    let paged = m
        .kernel()
        .ex_allocate_pool2(mdlsim::pool::POOL_FLAG_PAGED, 64, 1)
        .unwrap()
        .unwrap();
    // The first read (PASSIVE_LEVEL) maps the page; the second, at DISPATCH_LEVEL, is
    // judged too because paged pool is traced: Force IRQL Checking's 0xD1 names it.
    match call(&mut m, "ReadPagedTwice", host(paged)) {
        Err(Fault::BugCheck(b)) => {
            assert_eq!(b.code, BugCheckCode::DRIVER_IRQL_NOT_LESS_OR_EQUAL);
            assert_eq!(b.params[..3], [paged.raw(), 2, 0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_jump_into_model_memory_stops_the_call_at_once_naming_0xfc() {
    let (mut m, _, va) = scene();
    match call(&mut m, "JumpTo", host(va)) {
        Err(Fault::Model(e)) => assert!(e.to_string().contains("0xFC"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_int3_in_driver_code_raises_status_breakpoint() {
    let (mut m, _, _) = scene();
    assert_eq!(call(&mut m, "BreakInTry", 0).unwrap(), 0x8000_0003);
    assert!(m.crashed().is_none());
}
