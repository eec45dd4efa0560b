//! ProbeForRead / ProbeForWrite, `__try/__except`, and the judgement of a driver's own
//! accesses to user addresses (semantics §5.8).

use mdlsim::addr::{MM_USER_PROBE_ADDRESS, PAGE_SIZE, Va};
use mdlsim::events::EventKind;
use mdlsim::space::{Pid, Protection};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Fault, Machine, ModelError, NtStatus};

fn machine() -> (Machine, Pid, Va) {
    let mut m = Machine::new(Config::default()).unwrap();
    let app = m.create_process("app").unwrap();
    let va = m
        .virtual_alloc(
            app,
            None,
            2 * PAGE_SIZE,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    m.switch_to(Some(app)).unwrap();
    (m, app, va)
}

fn kinds(m: &Machine) -> Vec<EventKind> {
    m.events().iter().map(|e| e.kind).collect()
}

#[test]
fn probe_for_read_checks_range_and_alignment_only() {
    let (mut m, _, va) = machine();
    let mut k = m.kernel();
    // Length 0: nothing is checked, not even a kernel address or the alignment.
    assert_eq!(
        k.probe_for_read(Va::new(0xFFFF_F780_0000_0001), 0, 4),
        Ok(())
    );
    assert_eq!(
        k.probe_for_read(va.wrapping_add(1), 4, 4),
        Err(Fault::Raise(NtStatus::DATATYPE_MISALIGNMENT))
    );
    // Ending exactly at MmUserProbeAddress is allowed, one byte further is not.
    let top = Va::new(MM_USER_PROBE_ADDRESS.raw() - 16);
    assert_eq!(k.probe_for_read(top, 16, 1), Ok(()), "nothing is touched");
    assert_eq!(
        k.probe_for_read(top, 17, 1),
        Err(Fault::Raise(NtStatus::ACCESS_VIOLATION))
    );
    assert_eq!(
        k.probe_for_read(Va::new(u64::MAX - 3), 8, 1),
        Err(Fault::Raise(NtStatus::ACCESS_VIOLATION)),
        "a wrapping range"
    );
    assert!(matches!(
        k.probe_for_read(va, 4, 3),
        Err(Fault::Model(ModelError::Unsupported(_)))
    ));
}

#[test]
fn probe_for_write_touches_every_page_for_write() {
    let (mut m, app, va) = machine();
    let ro = m
        .virtual_alloc(
            app,
            None,
            PAGE_SIZE,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadOnly,
        )
        .unwrap();
    let reserved = m
        .virtual_alloc(app, None, PAGE_SIZE, MEM_RESERVE, Protection::ReadWrite)
        .unwrap();
    let mut k = m.kernel();
    assert_eq!(
        k.probe_for_write(va.wrapping_add(8), 2 * PAGE_SIZE - 8, 8),
        Ok(())
    );
    let av = Err(Fault::Raise(NtStatus::ACCESS_VIOLATION));
    assert_eq!(
        k.probe_for_write(va, 2 * PAGE_SIZE + 1, 1),
        av,
        "runs off the allocation"
    );
    assert_eq!(k.probe_for_write(ro, 1, 1), av, "read-only");
    assert_eq!(
        k.probe_for_write(reserved, 1, 1),
        av,
        "reserved, not committed"
    );
    assert_eq!(
        k.probe_for_read(ro, 1, 1),
        Ok(()),
        "a read probe does not care"
    );
}

#[test]
fn try_except_catches_raised_exceptions_and_nothing_else() {
    let (mut m, _, _) = machine();
    let mut k = m.kernel();
    let bad = Va::new(0x7000_0000);
    assert_eq!(
        k.try_except(|k| k.kernel_read(bad, 1)).unwrap(),
        Err(NtStatus::ACCESS_VIOLATION)
    );
    assert_eq!(k.try_except(|_| Ok(5)).unwrap(), Ok(5));
    // A bug check is not an exception: it propagates.
    let r = k.try_except(|k| k.mm_unlock_pages(None));
    assert!(matches!(r, Err(Fault::BugCheck(_))), "{r:?}");
}

#[test]
fn a_probed_access_inside_try_is_clean_and_every_other_is_recorded() {
    let (mut m, app, va) = machine();
    m.user_write(app, va, &[1; 64]).unwrap();
    let mut k = m.kernel();
    k.try_except(|k| {
        k.probe_for_read(va, 64, 1)?;
        k.kernel_read(va, 64)
    })
    .unwrap()
    .unwrap();
    assert!(kinds(&m).is_empty(), "{:?}", m.events());

    let mut k = m.kernel();
    k.kernel_read(va, 4).unwrap();
    assert_eq!(
        kinds(&m),
        [EventKind::UserAccessOutsideTry],
        "the probe of this service still covers it; __try is needed for every access"
    );
    let mut k = m.kernel();
    k.try_except(|k| k.kernel_read(va.wrapping_add(64), 1))
        .unwrap()
        .unwrap();
    assert_eq!(
        kinds(&m)[1..],
        [EventKind::UnprobedUserAccess],
        "one byte past the probed range"
    );
}

#[test]
fn a_write_needs_probe_for_write_and_a_read_probe_does_not_cover_it() {
    let (mut m, _, va) = machine();
    let mut k = m.kernel();
    k.try_except(|k| {
        k.probe_for_read(va, 16, 1)?;
        k.kernel_write(va, &[7; 16])
    })
    .unwrap()
    .unwrap();
    assert_eq!(kinds(&m), [EventKind::UnprobedUserAccess]);
    let mut k = m.kernel();
    k.try_except(|k| {
        k.probe_for_write(va, 16, 1)?;
        k.kernel_copy(va, va.wrapping_add(16), 8)
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        kinds(&m),
        [EventKind::UnprobedUserAccess, EventKind::UnprobedUserAccess],
        "the copy's source (va+16) was never probed"
    );
}

#[test]
fn kernel_addresses_null_pointers_and_the_io_managers_own_copies_are_not_judged() {
    let (mut m, app, va) = machine();
    let pool = m
        .ex_allocate_pool_with_tag(mdlsim::pool::PoolType::NonPaged, 64, 1)
        .unwrap()
        .unwrap();
    let mut k = m.kernel();
    k.kernel_write(pool, &[1; 64]).unwrap();
    let _ = k.kernel_read(Va::new(0x10), 1);
    m.user_write(app, va, &[2; 8]).unwrap();
    m.kernel_read(va, 8).unwrap();
    assert!(kinds(&m).is_empty(), "{:?}", m.events());
}
