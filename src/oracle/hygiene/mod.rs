//! Hygiene: the machine's books after completion and after exit (module docs of
//! [`crate::oracle`]).

use super::{BugClass, Finding, Rule, event_finding, fault_finding};
use crate::addr::Va;
use crate::audit::HazardKind;
use crate::machine::calls::DdiCall;
use crate::machine::{Birth, Machine};
use crate::mdl::MdlId;
use crate::space::{Pid, SpaceId};

/// A lock on a client's pages the books track: the MDL that took it, the pages charged
/// to the process, and where it was taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HeldLock {
    /// The MDL the lock was taken through.
    pub mdl: MdlId,
    /// The process charged, and how many pages.
    pub charged: Option<(Pid, u64)>,
    /// Where it was locked.
    pub locked: Birth,
    /// Where the MDL was freed with the lock still held (a leaked lock), if it was.
    pub freed: Option<Birth>,
}

/// The machine's books that must be back where they were after a request, each object
/// with the step and DDI that created it (so a leak names what leaked).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Books {
    /// `NumberOfLockedPages` of the processes watched.
    pub locked: Vec<(Pid, u64)>,
    /// Locks held by live MDLs, and locks leaked by freeing locked MDLs.
    pub locks: Vec<HeldLock>,
    /// System PTEs in use.
    pub ptes: u64,
    /// Pool allocations (address, size, tag, where allocated).
    pub pool: Vec<(Va, u64, u32, Birth)>,
    /// Live MDLs, with where each was created.
    pub mdls: Vec<(MdlId, Birth)>,
    /// Live mappings (system and user) made through MDLs: space, base, pages, where made.
    pub mappings: Vec<(SpaceId, Va, u64, Birth)>,
    /// IRPs allocated and not yet freed (the I/O manager's own books, [semantics §5.7]).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    pub irps: usize,
    /// The DDI calls recorded so far (empty unless the machine records them,
    /// [`Machine::record_ddi_calls`]): they name the call that created a leaked object.
    pub calls: Vec<DdiCall>,
}

impl Books {
    /// Takes the books, watching the locked-page counts of `pids`.
    pub fn take(m: &Machine, pids: &[Pid]) -> Books {
        let mut locks: Vec<HeldLock> = m
            .mdls()
            .filter_map(|(id, _)| {
                let l = m.mdl_lock(id).ok()??;
                Some(HeldLock {
                    mdl: id,
                    charged: l.charged,
                    locked: l.birth,
                    freed: None,
                })
            })
            .collect();
        locks.extend(m.leaked_locks().iter().map(|l| HeldLock {
            mdl: l.mdl,
            charged: l.lock.charged,
            locked: l.lock.birth,
            freed: Some(l.freed_at),
        }));
        Books {
            locked: pids
                .iter()
                .filter_map(|p| m.process(*p).ok().map(|pr| (*p, pr.number_of_locked_pages)))
                .collect(),
            locks,
            ptes: m.system_ptes_in_use(),
            pool: m
                .pool_allocations()
                .map(|a| (a.va, a.size, a.tag, a.birth))
                .collect(),
            mdls: m
                .mdls()
                .map(|(id, _)| (id, m.mdl_birth(id).unwrap_or(NO_BIRTH)))
                .collect(),
            mappings: m
                .mappings()
                .map(|mp| (mp.space, mp.base, mp.pages, mp.birth))
                .collect(),
            irps: m.irps_outstanding(),
            calls: m.ddi_calls().to_vec(),
        }
    }

    /// What differs from `before`, as hygiene findings: each names the leaked objects
    /// (at most [`NAMED`] of them) with the step and DDI call that created them.
    pub fn compare(&self, before: &Books, step: u64, phase: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut f = |kind, d: String| {
            out.push(Finding::new(
                kind,
                Rule::Hygiene,
                Some(step),
                format!("{phase}: {d}"),
            ))
        };
        let new_locks: Vec<&HeldLock> = self
            .locks
            .iter()
            .filter(|l| {
                !before
                    .locks
                    .iter()
                    .any(|b| b.mdl == l.mdl && b.locked == l.locked)
            })
            .collect();
        for (p, n) in &self.locked {
            let was = before
                .locked
                .iter()
                .find(|(q, _)| q == p)
                .map_or(0, |x| x.1);
            if *n != was {
                let by: Vec<String> = new_locks
                    .iter()
                    .filter(|l| l.charged.is_some_and(|(q, _)| q == *p))
                    .map(|l| self.lock_origin(l))
                    .collect();
                f(
                    BugClass::LockLeak,
                    format!("{p} has {n} locked page(s), had {was}{}", named(&by)),
                );
            }
        }
        let leaked: Vec<String> = new_locks
            .iter()
            .filter(|l| l.freed.is_some())
            .map(|l| self.lock_origin(l))
            .collect();
        if !leaked.is_empty() {
            f(
                BugClass::LockLeak,
                format!(
                    "{} lock(s) leaked by freeing locked MDLs{}",
                    leaked.len(),
                    named(&leaked)
                ),
            );
        }
        self.compare_objects(before, &mut f);
        if self.irps != before.irps {
            f(
                BugClass::ResourceLeak,
                format!("{} IRPs outstanding, {} before", self.irps, before.irps),
            );
        }
        out
    }

    /// Mappings, system PTEs, pool and MDLs.
    fn compare_objects(&self, before: &Books, f: &mut impl FnMut(BugClass, String)) {
        let extra: Vec<_> = self
            .mappings
            .iter()
            .filter(|x| !before.mappings.contains(x))
            .collect();
        if let Some((sp, ..)) = extra.first() {
            let kind = if matches!(sp, SpaceId::Process(_)) {
                BugClass::MappingOutlivesProcess
            } else {
                BugClass::ResourceLeak
            };
            let by: Vec<String> = extra
                .iter()
                .map(|(sp, va, n, b)| {
                    format!("{n} page(s) at {va} in {sp}, mapped {}", self.origin(b))
                })
                .collect();
            f(
                kind,
                format!("{} MDL mapping(s) left{}", extra.len(), named(&by)),
            );
        }
        if self.ptes != before.ptes {
            let by: Vec<String> = extra
                .iter()
                .filter(|(sp, ..)| *sp == SpaceId::System)
                .map(|(_, va, n, b)| format!("{n} PTE(s) mapping {va}, mapped {}", self.origin(b)))
                .collect();
            f(
                BugClass::ResourceLeak,
                format!(
                    "{} system PTEs in use, {} before{}",
                    self.ptes,
                    before.ptes,
                    named(&by)
                ),
            );
        }
        let leaked: Vec<String> = self
            .pool
            .iter()
            .filter(|x| !before.pool.contains(x))
            .map(|(va, size, tag, b)| {
                format!(
                    "{size} byte(s) at {va} tag {}, {}",
                    tag_name(*tag),
                    self.origin(b)
                )
            })
            .collect();
        if !leaked.is_empty() {
            f(
                BugClass::ResourceLeak,
                format!(
                    "{} pool allocation(s) not freed{}",
                    leaked.len(),
                    named(&leaked)
                ),
            );
        }
        if self.mdls.len() != before.mdls.len() {
            let by: Vec<String> = self
                .mdls
                .iter()
                .filter(|x| !before.mdls.contains(x))
                .map(|(id, b)| format!("{id}, created {}", self.origin(b)))
                .collect();
            f(
                BugClass::ResourceLeak,
                format!(
                    "{} MDLs live, {} before{}",
                    self.mdls.len(),
                    before.mdls.len(),
                    named(&by)
                ),
            );
        }
    }

    /// `MDL .. locked N page(s) of pid P at step S by ..[, freed at ..]`.
    fn lock_origin(&self, l: &HeldLock) -> String {
        let pages = l
            .charged
            .map_or(String::new(), |(p, n)| format!(" {n} page(s) of {p}"));
        let mut s = format!("{} locked{pages} {}", l.mdl, self.origin(&l.locked));
        if let Some(fr) = &l.freed {
            s.push_str(&format!(", freed still locked {}", self.origin(fr)));
        }
        s
    }

    /// `at step S by DDI(args) -> result` from the call log, or the model's own
    /// record (`at step S by DDI`) when no call was recorded.
    fn origin(&self, b: &Birth) -> String {
        let call = self
            .calls
            .iter()
            .rev()
            .find(|c| c.ddi == b.routine && c.first_step <= b.step && b.step <= c.last_step)
            .or_else(|| {
                self.calls
                    .iter()
                    .rev()
                    .find(|c| c.first_step <= b.step && b.step <= c.last_step)
            });
        match call {
            Some(c) => format!(
                "at step {} by {}({}) -> {}",
                b.step, c.ddi, c.args, c.result
            ),
            None => format!("at step {} by {}", b.step, b.routine),
        }
    }
}

/// How many leaked objects a finding names (the rest are counted).
pub const NAMED: usize = 4;

/// `: a; b` for the first [`NAMED`] of `items`, and how many more.
fn named(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut s = format!(": {}", items[..items.len().min(NAMED)].join("; "));
    if items.len() > NAMED {
        s.push_str(&format!("; and {} more", items.len() - NAMED));
    }
    s
}

/// A pool tag as its four characters (`'PxyB'`), or hex when not printable.
fn tag_name(tag: u32) -> String {
    let b = tag.to_le_bytes();
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("'{}'", String::from_utf8_lossy(&b))
    } else {
        format!("{tag:#x}")
    }
}

const NO_BIRTH: Birth = Birth {
    step: 0,
    routine: "",
};

/// After both processes exited: the machine did not crash, nothing dangerous is left
/// (`hazards()`), and the model's books balance (`audit()`).
pub fn after_exit(m: &Machine, step: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(b) = m.crashed() {
        out.push(fault_finding(
            &crate::Fault::BugCheck(b.clone()),
            step,
            "at process exit",
        ));
        return out;
    }
    for h in m.hazards() {
        let kind = match h.kind {
            HazardKind::LeakedLock => BugClass::LockLeak,
            HazardKind::DanglingPte => BugClass::FreeWhileMapped,
            HazardKind::StuckIrp
            | HazardKind::IrpChainFreedMdl
            | HazardKind::IrpSystemBufferFreed => BugClass::ResourceLeak,
        };
        out.push(Finding::new(
            kind,
            Rule::Hygiene,
            Some(step),
            format!("after exit: {h}"),
        ));
    }
    for v in m.audit() {
        out.push(Finding::new(
            BugClass::ModelInvariant,
            Rule::Hygiene,
            Some(step),
            format!("after exit: {v}"),
        ));
    }
    out
}

/// The protocol events recorded since index `from`, as findings.
pub fn events_since(m: &Machine, from: usize) -> Vec<Finding> {
    m.events().iter().skip(from).map(event_finding).collect()
}

#[cfg(test)]
mod tests;
