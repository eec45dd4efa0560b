//! Naming a crash by its cause, not its bug-check code. The code says what the processor
//! saw (a 0x50 is "an invalid system address"); the cause is in the machine's history
//! ([`Machine::blame`]): which DDI returned NULL, which range was released, which
//! mapping the address runs off. The rules, in order (the class table of
//! [design.md][design-bug-classes]):
//!
//! 1. **ResourceFailureUnhandled** — a DDI returned NULL during the window and the fault
//!    is a use of NULL: an access below `MM_LOWEST_USER_ADDRESS` (0x10000, the range
//!    Windows never maps) or a NULL MDL dereferenced. The finding names the DDI and
//!    its step. When the NULL is the request's own `Irp->MdlAddress` (a zero-length
//!    request, [`NULL_MDL_ADDRESS`]), the class is **ZeroLengthOrNullMdl**: the same
//!    crash whether the driver's code reads `Mdl->MdlFlags` itself (C) or a DDI does.
//! 2. **UseAfterComplete** — the faulting address lay in a range that was valid and has
//!    been released (an unmapped MDL mapping, freed pool), or the bug check is special
//!    pool catching a freed MDL. The finding names what was released, and when.
//! 3. **SpanArithmetic** — a write past the end of an MDL's PFN array (room for fewer
//!    pages than the span: invariant 3).
//! 4. **MdlMutatedWhileMapped** — a PFN list corruption (0x4E) after the driver wrote
//!    into the PFN array of a locked MDL: unlock dereferenced frames it never locked.
//! 5. **OutOfBounds** — any other faulting address: nothing the driver was given is
//!    there. The finding carries the address, and the live mapping it runs off the end of
//!    when there is one.
//!
//! Otherwise the bug check's own class stands ([`classify_fault`]).
//!
//! [design-bug-classes]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#bug-classes

use super::{BugClass, Finding, classify_fault, fault_finding};
use crate::addr::Va;
use crate::bugcheck::BugCheckCode;
use crate::fault::Fault;
use crate::machine::{KernelFault, Machine, NULL_MDL_ADDRESS};
use crate::space::SpaceId;
use crate::status::NtStatus;

/// `MM_LOWEST_USER_ADDRESS`: Windows maps nothing below 64 KiB, so an access there is
/// a NULL pointer plus an offset.
pub const MM_LOWEST_USER_ADDRESS: u64 = 0x1_0000;

/// How far past a mapping's end an access is still named as running off it.
const NEAR: u64 = 1 << 20;

/// Where the fake `PMDL` addresses of the model live ([`crate::mdl::MdlId::address`]).
const MDL_REGION: std::ops::Range<u64> = 0xFFFF_C000_0000_0000..0xFFFF_C100_0000_0000;

/// The finding `f` becomes when it escaped a driver routine that began at step `since`:
/// [`fault_finding`], with the class and detail the machine's history names (module docs).
pub fn fault_finding_in(m: &Machine, f: &Fault, step: u64, since: u64, during: &str) -> Finding {
    let mut finding = fault_finding(f, step, during);
    if let Some(cause) = cause(m, f, since) {
        finding.kind = cause.class;
        finding.detail = format!("{}; {}", finding.detail, cause.why);
        if let Some(at) = cause.at {
            finding.addresses.push(at);
        }
    }
    finding
}

/// A cause the history names.
struct Cause {
    class: BugClass,
    why: String,
    at: Option<(SpaceId, Va)>,
}

/// The faulting access of `f`, if the machine knows it.
fn faulting_access(m: &Machine, f: &Fault, since: u64) -> Option<KernelFault> {
    let recorded = m.blame().last_fault().filter(|k| k.step >= since);
    match f {
        Fault::BugCheck(b) if b.code == BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA => {
            let va = Va::new(b.params[0]);
            Some(match recorded.filter(|k| k.va == va) {
                Some(k) => k,
                None => KernelFault {
                    step: m.step(),
                    va,
                    space: SpaceId::System,
                    write: b.params[1] != 0,
                },
            })
        }
        Fault::Raise(s) if *s == NtStatus::ACCESS_VIOLATION => recorded,
        Fault::BugCheck(b)
            if b.code == BugCheckCode::KMODE_EXCEPTION_NOT_HANDLED
                && b.params[0] == NtStatus::ACCESS_VIOLATION.0 as u64 =>
        {
            recorded
        }
        _ => None,
    }
}

fn cause(m: &Machine, f: &Fault, since: u64) -> Option<Cause> {
    if let (Fault::BugCheck(b), Some((step, mdl))) = (f, m.blame().last_locked_array_write()) {
        // The corruption is that MDL's own unlock (the bug check names it), not another's.
        if b.code == BugCheckCode::PFN_LIST_CORRUPT && b.detail.contains(&mdl.to_string()) {
            return Some(Cause {
                class: BugClass::MdlMutatedWhileMapped,
                why: format!(
                    "the driver rewrote the PFN array of {mdl} at step {step} while it was locked, so unlock dereferenced frames it never locked"
                ),
                at: None,
            });
        }
    }
    // The NULL MdlAddress of the request is handed over before the routine begins, and
    // stays the request's NULL for its whole life.
    let null = m
        .blame()
        .nulls()
        .rev()
        .find(|n| n.step >= since || n.ddi == NULL_MDL_ADDRESS)
        .copied();
    let access = faulting_access(m, f, since);
    let null_mdl = matches!(f, Fault::BugCheck(b) if b.detail.contains("NULL MDL"));
    if let Some(n) = null {
        let near_null = access.is_some_and(|a| a.va.raw() < MM_LOWEST_USER_ADDRESS);
        if near_null || null_mdl {
            let what = match access {
                Some(a) if !null_mdl => format!(": {} at {}", rw(a.write), a.va),
                _ => String::new(),
            };
            if n.ddi == NULL_MDL_ADDRESS {
                return Some(Cause {
                    class: BugClass::ZeroLengthOrNullMdl,
                    why: format!("the driver used the NULL {}{what}", n.ddi),
                    at: None,
                });
            }
            return Some(Cause {
                class: BugClass::ResourceFailureUnhandled,
                why: format!(
                    "{} returned NULL at step {} and the driver used it{what}",
                    n.ddi, n.step
                ),
                at: None,
            });
        }
    }
    let a = access?;
    let at = Some((a.space, a.va));
    if let Some(r) = m.blame().released_at(a.space, a.va) {
        return Some(Cause {
            class: BugClass::UseAfterComplete,
            why: format!(
                "{} at {}, in {} [{}, {}) released at step {}",
                rw(a.write),
                a.va,
                r.what,
                r.start,
                r.start.wrapping_add(r.len),
                r.step
            ),
            at,
        });
    }
    if MDL_REGION.contains(&a.va.raw()) {
        let class = match f {
            Fault::BugCheck(b) if b.detail.contains("after it was freed") => {
                BugClass::UseAfterComplete
            }
            _ => BugClass::SpanArithmetic,
        };
        return (class != classify_fault(f)).then(|| Cause {
            class,
            why: "the MDL's PFN array has room for fewer pages than the span".into(),
            at: None,
        });
    }
    Some(Cause {
        class: BugClass::OutOfBounds,
        why: format!(
            "{} at {} in {}: {}",
            rw(a.write),
            a.va,
            a.space,
            nearest(m, a)
        ),
        at,
    })
}

fn rw(write: bool) -> &'static str {
    if write { "a write" } else { "a read" }
}

/// The live mapping the access runs off the end of (the closest one below it in its
/// space), or that nothing the driver was given is there.
fn nearest(m: &Machine, a: KernelFault) -> String {
    let below = m
        .mappings()
        .filter(|mp| mp.space == a.space && mp.base <= a.va)
        .max_by_key(|mp| mp.base)
        .filter(|mp| {
            let end = mp.base.raw() + mp.pages * crate::addr::PAGE_SIZE;
            a.va.raw() < end.saturating_add(NEAR)
        });
    match below {
        Some(mp) => {
            let end = mp.base.wrapping_add(mp.pages * crate::addr::PAGE_SIZE);
            format!(
                "{:#x} bytes past the end of the mapping [{}, {end}) of {}",
                a.va.raw().saturating_sub(end.raw()),
                mp.base,
                mp.mdl
            )
        }
        None => "nothing the driver was given is mapped there".into(),
    }
}
