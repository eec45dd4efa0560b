//! Hygiene: the machine's books after completion and after exit (module docs of
//! [`crate::oracle`]).

use super::{BugClass, Finding, Rule, event_finding, fault_finding};
use crate::addr::Va;
use crate::machine::Machine;
use crate::space::{Pid, SpaceId};

/// The machine's books that must be back where they were after a request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Books {
    /// `NumberOfLockedPages` of the processes watched.
    pub locked: Vec<(Pid, u64)>,
    /// System PTEs in use.
    pub ptes: u64,
    /// Pool allocations (address, size, tag).
    pub pool: Vec<(Va, u64, u32)>,
    /// Live MDLs.
    pub mdls: usize,
    /// Live mappings (system and user) made through MDLs.
    pub mappings: Vec<(SpaceId, Va)>,
    /// Locks leaked by freeing locked MDLs.
    pub leaked_locks: usize,
    /// IRPs allocated and not yet freed (the I/O manager's own books, [semantics §5.7]).
    ///
    /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
    pub irps: usize,
}

impl Books {
    /// Takes the books, watching the locked-page counts of `pids`.
    pub fn take(m: &Machine, pids: &[Pid]) -> Books {
        Books {
            locked: pids
                .iter()
                .filter_map(|p| m.process(*p).ok().map(|pr| (*p, pr.number_of_locked_pages)))
                .collect(),
            ptes: m.system_ptes_in_use(),
            pool: m
                .pool_allocations()
                .map(|a| (a.va, a.size, a.tag))
                .collect(),
            mdls: m.mdls().count(),
            mappings: m.mappings().map(|mp| (mp.space, mp.base)).collect(),
            leaked_locks: m.leaked_locks().len(),
            irps: m.irps_outstanding(),
        }
    }

    /// What differs from `before`, as hygiene findings.
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
        for (p, n) in &self.locked {
            let was = before
                .locked
                .iter()
                .find(|(q, _)| q == p)
                .map_or(0, |x| x.1);
            if *n != was {
                f(
                    BugClass::LockLeak,
                    format!("{p} has {n} locked page(s), had {was}"),
                );
            }
        }
        if self.leaked_locks > before.leaked_locks {
            f(
                BugClass::LockLeak,
                format!(
                    "{} lock(s) leaked by freeing locked MDLs",
                    self.leaked_locks - before.leaked_locks
                ),
            );
        }
        let extra: Vec<&(SpaceId, Va)> = self
            .mappings
            .iter()
            .filter(|x| !before.mappings.contains(x))
            .collect();
        if let Some((sp, va)) = extra.first() {
            let kind = if matches!(sp, SpaceId::Process(_)) {
                BugClass::MappingOutlivesProcess
            } else {
                BugClass::ResourceLeak
            };
            f(
                kind,
                format!("{} MDL mapping(s) left, first in {sp} at {va}", extra.len()),
            );
        }
        if self.ptes != before.ptes {
            f(
                BugClass::ResourceLeak,
                format!("{} system PTEs in use, {} before", self.ptes, before.ptes),
            );
        }
        let leaked: Vec<&(Va, u64, u32)> = self
            .pool
            .iter()
            .filter(|x| !before.pool.contains(x))
            .collect();
        if let Some((va, size, _)) = leaked.first() {
            f(
                BugClass::ResourceLeak,
                format!(
                    "{} pool allocation(s) not freed, first {size} bytes at {va}",
                    leaked.len()
                ),
            );
        }
        if self.mdls != before.mdls {
            f(
                BugClass::ResourceLeak,
                format!("{} MDLs live, {} before", self.mdls, before.mdls),
            );
        }
        if self.irps != before.irps {
            f(
                BugClass::ResourceLeak,
                format!("{} IRPs outstanding, {} before", self.irps, before.irps),
            );
        }
        out
    }
}

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
            "leaked_lock" => BugClass::LockLeak,
            "dangling_pte" => BugClass::FreeWhileMapped,
            _ => BugClass::ResourceLeak,
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
