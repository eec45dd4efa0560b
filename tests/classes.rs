//! Every bug class has a negative control (issue 13, item 3): a strategy that makes
//! exactly that mistake, caught with that class, and the same strategy without the
//! mistake passing. The classes that name a cause — a NULL from a failing DDI, an access
//! off the end of a mapping, a use of a released range, bytes at the wrong offset, a
//! WRITE not copied in — are proved here on one bounce-buffer strategy with one bug
//! turned on at a time; the rest by the built-in broken strategies (their `expected()`).

use mdlsim::Kernel;
use mdlsim::addr::{PAGE_SIZE, Va, round_to_pages};
use mdlsim::fault::Result;
use mdlsim::mdl::{AccessMode, CacheType, priority};
use mdlsim::oracle::BugClass;
use mdlsim::pool::{POOL_FLAG_NON_PAGED, tag};
use mdlsim::status::NtStatus;
use mdlsim::strategy::{
    self, Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply, map_into,
    nt_success, unmap_from,
};
use mdlsim::verify::{self, Case, Config, InjectedFault, ServerBehaviour, replay};

const TAG: u32 = tag(b"ClsT");

/// The one mistake a [`Bounce`] makes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Bug {
    /// None: a correct bounce buffer.
    #[default]
    None,
    /// Uses the NULL `MmGetSystemAddressForMdlSafe` returns under PTE exhaustion.
    UseNullMapping,
    /// Copies a WRITE in from two pages past the end of the request's mapping.
    ReadPastMapping,
    /// Maps the request with `MmMapLockedPagesSpecifyCache`, unmaps it, then copies back
    /// through the old address.
    CopyAfterUnmap,
    /// Copies a READ back one byte late (`sys + 1`, one byte fewer).
    ShiftedCopyBack,
    /// Never copies a WRITE in.
    NoCopyIn,
    /// Maps an MDL it built but never locked.
    MapUnlocked,
    /// Maps the request's MDL a second time into system space.
    MapTwice,
    /// Maps the request's pages into the server non-cached (and unmaps them at once)
    /// while its cached system mapping lives.
    NonCachedView,
    /// Unmaps the server's view naming the request's MDL instead of the buffer's.
    UnmapWithOtherMdl,
    /// Points the locked, mapped request MDL's last PFN entry at another frame.
    MutateWhileMapped,
    /// Never frees the bounce buffer.
    LeakPool,
    /// Never unmaps the server's view (nor frees what it maps).
    LeaveViewMapped,
    /// Frees the bounce buffer with the wrong tag.
    WrongTag,
    /// Probes and locks the server's view (an MDL user mapping) through a second MDL.
    LockServerView,
}

/// A bounce buffer in pool mapped into the server, with one [`Bug`].
#[derive(Clone, Default)]
struct Bounce {
    bug: Bug,
    held: Option<Held>,
}

#[derive(Clone, Copy)]
struct Held {
    pool: Va,
    bmdl: mdlsim::MdlId,
    view: Va,
    sys: Va,
}

impl Bounce {
    fn with(bug: Bug) -> Self {
        Bounce { bug, held: None }
    }

    /// The request's system address (or the NULL a buggy driver goes on with).
    fn system_address(&self, k: &mut Kernel<'_>, io: &Io) -> Result<Option<Va>> {
        let prio = priority::NORMAL;
        match self.bug {
            Bug::CopyAfterUnmap => k.mm_map_locked_pages_specify_cache(
                io.mdl,
                AccessMode::KernelMode,
                CacheType::Cached,
                None,
                false,
                prio,
            ),
            Bug::UseNullMapping => Ok(Some(
                k.mm_get_system_address_for_mdl_safe(io.mdl, prio)?
                    .unwrap_or(Va::NULL),
            )),
            Bug::MapUnlocked => {
                let Some(m) = k.io_allocate_mdl(io.buffer, io.length, false, false, None)? else {
                    return Ok(None);
                };
                k.mm_get_system_address_for_mdl_safe(m, prio)
            }
            Bug::MapTwice => {
                k.mm_get_system_address_for_mdl_safe(io.mdl, prio)?;
                k.mm_map_locked_pages_specify_cache(
                    io.mdl,
                    AccessMode::KernelMode,
                    CacheType::Cached,
                    None,
                    false,
                    prio,
                )
            }
            _ => k.mm_get_system_address_for_mdl_safe(io.mdl, prio),
        }
    }

    /// The server's view of the buffer MDL.
    fn view(&self, k: &mut Kernel<'_>, io: &Io, bmdl: mdlsim::MdlId) -> Result<Option<Va>> {
        let writable = io.direction == Direction::Read;
        if self.bug == Bug::NonCachedView {
            k.attach(io.server)?;
            let r = k.mm_map_locked_pages_specify_cache(
                io.mdl,
                AccessMode::UserMode,
                CacheType::NonCached,
                None,
                false,
                priority::NORMAL | priority::MDL_MAPPING_NO_WRITE,
            );
            if let Ok(Some(va)) = r {
                k.mm_unmap_locked_pages(va, io.mdl)?;
            }
            k.detach()?;
        }
        map_into(k, io.server, bmdl, None, writable)
    }

    fn tear_down(&self, k: &mut Kernel<'_>, io: &Io, h: Held) -> Result<()> {
        match self.bug {
            Bug::LeaveViewMapped => return Ok(()),
            Bug::UnmapWithOtherMdl => unmap_from(k, io.server, h.view, io.mdl.unwrap_or(h.bmdl))?,
            _ => unmap_from(k, io.server, h.view, h.bmdl)?,
        }
        k.io_free_mdl(h.bmdl)?;
        match self.bug {
            Bug::LeakPool => Ok(()),
            Bug::WrongTag => k.ex_free_pool_with_tag(h.pool, TAG ^ 1),
            _ => k.ex_free_pool_with_tag(h.pool, TAG),
        }
    }
}

impl ProxyStrategy for Bounce {
    fn name(&self) -> String {
        format!("Bounce({:?})", self.bug)
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        if io.mdl.is_none() {
            return Ok(Exposure::Mapped {
                va: Va::NULL,
                len: 0,
            });
        }
        let refused = Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        let Some(sys) = self.system_address(k, io)? else {
            return refused;
        };
        let size = round_to_pages(len).unwrap_or(PAGE_SIZE);
        let Some(pool) = k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, TAG)? else {
            return refused;
        };
        let Some(bmdl) = k.io_allocate_mdl(pool, size as u32, false, false, None)? else {
            k.ex_free_pool_with_tag(pool, TAG)?;
            return refused;
        };
        k.mm_build_mdl_for_non_paged_pool(bmdl)?;
        match (io.direction, self.bug) {
            (Direction::Write, Bug::NoCopyIn) => {}
            (Direction::Write, Bug::ReadPastMapping) => {
                k.kernel_copy(pool, sys.wrapping_add(2 * PAGE_SIZE), len)?
            }
            (Direction::Write, _) => k.kernel_copy(pool, sys, len)?,
            (Direction::Read, _) => {}
        }
        let Some(view) = self.view(k, io, bmdl)? else {
            k.io_free_mdl(bmdl)?;
            k.ex_free_pool_with_tag(pool, TAG)?;
            return refused;
        };
        if self.bug == Bug::LockServerView {
            k.attach(io.server)?;
            if let Some(second) = k.io_allocate_mdl(view, io.length, false, false, None)? {
                k.mm_probe_and_lock_pages(
                    second,
                    AccessMode::KernelMode,
                    mdlsim::mdl::LockOperation::IoReadAccess,
                )?;
                k.mm_unlock_pages(second)?;
                k.io_free_mdl(second)?;
            }
            k.detach()?;
        }
        if self.bug == Bug::MutateWhileMapped {
            let last = k.mdl(io.mdl.unwrap_or(bmdl))?.page_count() - 1;
            let other = k.mdl(bmdl)?.pfn_array()[0];
            k.mdl_set_pfn(io.mdl, last, other)?;
        }
        self.held = Some(Held {
            pool,
            bmdl,
            view,
            sys,
        });
        Ok(Exposure::Mapped { va: view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let ok = nt_success(reply.status);
        let n = reply.information.min(io.length as u64);
        if let Some(h) = self.held.take() {
            if self.bug == Bug::CopyAfterUnmap {
                k.mm_unmap_locked_pages(h.sys, io.mdl)?;
            }
            if io.direction == Direction::Read && ok {
                match self.bug {
                    Bug::ShiftedCopyBack if n > 1 => {
                        k.kernel_copy(h.sys.wrapping_add(1), h.pool, n - 1)?
                    }
                    _ => k.kernel_copy(h.sys, h.pool, n)?,
                }
            }
            self.tear_down(k, io, h)?;
        }
        Ok(Completion {
            status: reply.status,
            information: if ok { n } else { 0 },
        })
    }
}

/// A case every bug of [`Bounce`] shows on: three pages and a bit, mid-page.
fn case(direction: Direction, fault: InjectedFault) -> Case {
    Case {
        offset: 0x123,
        length: 3 * PAGE_SIZE as u32 + 17,
        direction,
        server: ServerBehaviour::Honest,
        fault,
        seed: 3,
    }
}

/// The bug, the case it is shown on, and the class that names it.
const CAUSES: [(Bug, Direction, InjectedFault, BugClass); 15] = [
    // The NULL from `expose`, used in `retire`: the request's whole life counts.
    (
        Bug::UseNullMapping,
        Direction::Read,
        InjectedFault::SystemPtesExhausted,
        BugClass::ResourceFailureUnhandled,
    ),
    (
        Bug::UseNullMapping,
        Direction::Write,
        InjectedFault::SystemPtesExhausted,
        BugClass::ResourceFailureUnhandled,
    ),
    (
        Bug::ReadPastMapping,
        Direction::Write,
        InjectedFault::None,
        BugClass::OutOfBounds,
    ),
    (
        Bug::CopyAfterUnmap,
        Direction::Read,
        InjectedFault::None,
        BugClass::UseAfterComplete,
    ),
    (
        Bug::ShiftedCopyBack,
        Direction::Read,
        InjectedFault::None,
        BugClass::SpanArithmetic,
    ),
    (
        Bug::NoCopyIn,
        Direction::Write,
        InjectedFault::None,
        BugClass::CopyInError,
    ),
    (
        Bug::MapUnlocked,
        Direction::Read,
        InjectedFault::None,
        BugClass::MapUnlocked,
    ),
    (
        Bug::MapTwice,
        Direction::Read,
        InjectedFault::None,
        BugClass::DuplicateSystemMapping,
    ),
    (
        Bug::NonCachedView,
        Direction::Read,
        InjectedFault::None,
        BugClass::CacheAttributeConflict,
    ),
    (
        Bug::UnmapWithOtherMdl,
        Direction::Read,
        InjectedFault::None,
        BugClass::UnmapMismatch,
    ),
    (
        Bug::MutateWhileMapped,
        Direction::Read,
        InjectedFault::None,
        BugClass::MdlMutatedWhileMapped,
    ),
    (
        Bug::LeakPool,
        Direction::Read,
        InjectedFault::None,
        BugClass::ResourceLeak,
    ),
    (
        Bug::LeaveViewMapped,
        Direction::Read,
        InjectedFault::None,
        BugClass::MappingOutlivesProcess,
    ),
    (
        Bug::LockServerView,
        Direction::Read,
        InjectedFault::None,
        BugClass::NestedMappingHazard,
    ),
    (
        Bug::WrongTag,
        Direction::Read,
        InjectedFault::None,
        BugClass::Crash,
    ),
];

/// Positive control: the bounce buffer without a bug passes everything.
#[test]
fn the_bounce_buffer_without_a_bug_passes() {
    let cfg = Config::default().cases(600).seed(13).ignore_env();
    verify::verify(&Bounce::default(), &cfg).unwrap();
}

/// Each bug, replayed on its case, is found with the class that names its cause — and
/// with no class that names another (the class does not depend on luck).
#[test]
fn each_bug_is_named_by_its_cause() {
    for (bug, dir, fault, class) in CAUSES {
        let run = replay(
            &Bounce::with(bug),
            &case(dir, fault),
            &mdlsim::Config::default(),
        );
        let kinds: Vec<BugClass> = run.findings.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&class), "{bug:?}: {class} not in {kinds:?}");
        for other in [
            BugClass::ResourceFailureUnhandled,
            BugClass::OutOfBounds,
            BugClass::UseAfterComplete,
            BugClass::SpanArithmetic,
            BugClass::CopyInError,
        ] {
            assert!(
                other == class || !kinds.contains(&other),
                "{bug:?}: {other} also in {kinds:?}"
            );
        }
    }
}

/// And `verify` finds each, from a search, with its class.
#[test]
fn verify_finds_each_bug_with_its_class() {
    for (bug, dir, fault, class) in CAUSES {
        let cfg = Config::default()
            .seed(13)
            .cases(400)
            .direction(dir)
            .faults(&[fault])
            .focus(&[class])
            .ignore_env();
        let cx = verify::verify(&Bounce::with(bug), &cfg)
            .err()
            .unwrap_or_else(|| panic!("{bug:?} passed"));
        assert!(cx.has(class), "{bug:?}: {cx}");
    }
}

/// The finding of a cause names it: the DDI and its step, the released range, the
/// mapping an access runs off, the shift.
#[test]
fn findings_name_the_cause() {
    let cfg = mdlsim::Config::default();
    let detail = |bug, dir, fault, class| {
        let run = replay(&Bounce::with(bug), &case(dir, fault), &cfg);
        run.findings
            .into_iter()
            .find(|f| f.kind == class)
            .map(|f| f.detail)
            .unwrap_or_default()
    };
    let null = detail(
        Bug::UseNullMapping,
        Direction::Write,
        InjectedFault::SystemPtesExhausted,
        BugClass::ResourceFailureUnhandled,
    );
    assert!(
        null.contains("MmGetSystemAddressForMdlSafe returned NULL at step"),
        "{null}"
    );
    let oob = detail(
        Bug::ReadPastMapping,
        Direction::Write,
        InjectedFault::None,
        BugClass::OutOfBounds,
    );
    assert!(oob.contains("past the end of the mapping"), "{oob}");
    let uac = detail(
        Bug::CopyAfterUnmap,
        Direction::Read,
        InjectedFault::None,
        BugClass::UseAfterComplete,
    );
    assert!(
        uac.contains("an MDL mapping") && uac.contains("released at step"),
        "{uac}"
    );
    let span = detail(
        Bug::ShiftedCopyBack,
        Direction::Read,
        InjectedFault::None,
        BugClass::SpanArithmetic,
    );
    assert!(span.contains("shifted by -1"), "{span}");
}

/// Every class has a negative control: the causes above, the built-in broken
/// strategies (each caught as its `expected()` by the audit tests), and the classes
/// only the model or a scenario can show.
#[test]
fn every_class_has_a_negative_control() {
    let mut covered: Vec<BugClass> = CAUSES.iter().map(|c| c.3).collect();
    covered.extend(strategy::builtins().iter().filter_map(|s| s.expected()));
    // The model checking itself: tests/audit.rs corrupts the books by hand.
    covered.push(BugClass::ModelInvariant);
    for c in BugClass::ALL {
        assert!(covered.contains(&c), "{c} has no negative control");
    }
}
