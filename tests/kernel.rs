//! The `Kernel` view driver code receives: the queries it gained so strategies need no
//! inspection (`ZwQueryVirtualMemory`, `PsGetProcessExitStatus`), the strategy helper
//! written on them, and that the view changes nothing of the machine's behaviour.

mod common;

use common::*;
use mdlsim::addr::{MM_HIGHEST_USER_ADDRESS, MM_LOWEST_USER_ADDRESS, PAGE_SIZE, Va};
use mdlsim::mdl::LockOperation;
use mdlsim::space::Protection;
use mdlsim::strategy::{find_free_user_range, map_into};
use mdlsim::vm::{MEM_COMMIT, MEM_FREE, MEM_RELEASE, MEM_RESERVE};
use mdlsim::{Fault, NtStatus};

/// A reservation with a committed page in the middle reports three runs, and the free
/// run before the next VAD ends exactly at that VAD.
#[test]
fn query_reports_each_run_of_a_reservation_and_the_free_gap_after_it() {
    let (mut m, app) = with_app();
    let va = m
        .virtual_alloc(app, None, 0x4000, MEM_RESERVE, Protection::ReadWrite)
        .unwrap();
    m.virtual_alloc(
        app,
        Some(at(va, 0x1000)),
        0x1000,
        MEM_COMMIT,
        Protection::ReadOnly,
    )
    .unwrap();
    let next = m
        .virtual_alloc(
            app,
            Some(at(va, 0x3_0000)),
            0x1000,
            MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    let q = |m: &mdlsim::Machine, a| m.zw_query_virtual_memory(app, a).unwrap();
    let first = q(&m, at(va, 0x10));
    assert_eq!(
        (
            first.base_address,
            first.allocation_base,
            first.region_size,
            first.state
        ),
        (va, Some(va), 0x1000, MEM_RESERVE)
    );
    let mid = q(&m, at(va, 0x1FFF));
    assert_eq!(
        (mid.base_address, mid.region_size),
        (at(va, 0x1000), 0x1000)
    );
    assert_eq!(
        (mid.state, mid.protect),
        (MEM_COMMIT, Some(Protection::ReadOnly))
    );
    let last = q(&m, at(va, 0x2000));
    assert_eq!(
        (last.region_size, last.state, last.protect),
        (0x2000, MEM_RESERVE, None)
    );
    let gap = q(&m, at(va, 0x4000));
    assert_eq!((gap.state, gap.allocation_base), (MEM_FREE, None));
    assert_eq!(gap.region_size, next.raw() - at(va, 0x4000).raw());
    let top = q(&m, at(next, PAGE_SIZE));
    assert_eq!(
        top.region_size,
        MM_HIGHEST_USER_ADDRESS.raw() + 1 - at(next, PAGE_SIZE).raw()
    );
}

/// A user-mode MDL mapping is one committed region with its PTEs' protection
/// (`MdlMappingNoWrite` makes it read-only).
#[test]
fn query_reports_a_user_mdl_mapping_as_one_committed_region() {
    let (mut m, app) = with_app();
    let buf = user_buf(&mut m, app, 0x3000);
    let mdl = lock_user(&mut m, app, buf, 0x3000, LockOperation::IoReadAccess);
    let view = map_into(&mut m.kernel(), app, mdl, None, false)
        .unwrap()
        .unwrap();
    let info = m.zw_query_virtual_memory(app, at(view, 0x1800)).unwrap();
    assert_eq!(info.allocation_base, Some(view));
    assert_eq!((info.state, info.region_size), (MEM_COMMIT, 0x2000));
    assert_eq!(info.protect, Some(Protection::ReadOnly));
}

/// The DDI's failures: a kernel address is STATUS_INVALID_PARAMETER, a process whose
/// address space is gone STATUS_PROCESS_IS_TERMINATING; queries take no step.
#[test]
fn query_refuses_kernel_addresses_and_exited_processes_and_takes_no_step() {
    let (mut m, app) = with_app();
    let step = m.step();
    let r = m.zw_query_virtual_memory(app, Va::new(0xFFFF_8000_0000_0000));
    assert_eq!(r.unwrap_err(), Fault::Status(NtStatus::INVALID_PARAMETER));
    assert_eq!(
        m.ps_get_process_exit_status(app).unwrap(),
        NtStatus::PENDING
    );
    assert_eq!(m.step(), step, "queries are not steps");
    m.terminate_process(app).unwrap();
    let r = m.zw_query_virtual_memory(app, MM_LOWEST_USER_ADDRESS);
    assert_eq!(
        r.unwrap_err(),
        Fault::Status(NtStatus::PROCESS_IS_TERMINATING)
    );
    assert_eq!(
        m.ps_get_process_exit_status(app).unwrap(),
        NtStatus::SUCCESS
    );
}

/// `find_free_user_range`, walking `ZwQueryVirtualMemory` regions, finds the lowest
/// 64 KiB-aligned hole big enough, skipping holes that are too small, and agrees with
/// the allocator's own first fit for a NULL base.
#[test]
fn find_free_user_range_finds_the_first_hole_big_enough() {
    let (mut m, app) = with_app();
    let a = m
        .virtual_alloc(app, None, 0x1_0000, MEM_RESERVE, Protection::ReadWrite)
        .unwrap();
    let b = m
        .virtual_alloc(app, None, 0x1_0000, MEM_RESERVE, Protection::ReadWrite)
        .unwrap();
    let c = m
        .virtual_alloc(app, None, 0x1_0000, MEM_RESERVE, Protection::ReadWrite)
        .unwrap();
    assert_eq!((b.raw() - a.raw(), c.raw() - b.raw()), (0x1_0000, 0x1_0000));
    m.virtual_free(app, b, 0, MEM_RELEASE).unwrap();
    // One 64 KiB hole at `b`: 16 pages fit there, 17 only after `c`.
    let mut k = m.kernel();
    assert_eq!(find_free_user_range(&mut k, app, 16).unwrap(), Some(b));
    assert_eq!(
        find_free_user_range(&mut k, app, 17).unwrap(),
        Some(at(c, 0x1_0000))
    );
    let fit = m
        .virtual_alloc(
            app,
            None,
            17 * PAGE_SIZE,
            MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    assert_eq!(fit, at(c, 0x1_0000), "the allocator's first fit agrees");
    let huge = (MM_HIGHEST_USER_ADDRESS.raw() + 1) / PAGE_SIZE;
    assert_eq!(
        find_free_user_range(&mut m.kernel(), app, huge).unwrap(),
        None
    );
}

/// A crashed machine: the view's calls report the bug check, like the machine's.
#[test]
fn kernel_calls_on_a_crashed_machine_return_the_bug_check() {
    let (mut m, app) = with_app();
    let b = match m.io_free_mdl(None) {
        Err(Fault::BugCheck(b)) => b,
        other => panic!("{other:?}"),
    };
    let mut k = m.kernel();
    assert_eq!(
        k.ex_allocate_pool2(0x40, 16, 1).unwrap_err(),
        Fault::BugCheck(b.clone())
    );
    assert_eq!(
        k.zw_query_virtual_memory(app, MM_LOWEST_USER_ADDRESS)
            .unwrap_err(),
        Fault::BugCheck(b.clone())
    );
    assert_eq!(
        k.ps_get_process_exit_status(app).unwrap_err(),
        Fault::BugCheck(b)
    );
}
