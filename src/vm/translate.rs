//! Translation: resolving a virtual address to its frame for an access (demand-zero
//! faults, protections, the current context).

use super::*;

impl Vm<'_> {
    // ----- translation -------------------------------------------------------------------

    /// Resolves one page for an access, demand-faulting private pages in. A kernel access
    /// that faults is recorded ([`Machine::blame`](crate::Machine::blame)) with its address: what the oracle
    /// names the crash by.
    pub(super) fn resolve(&mut self, who: Who, va: Va, write: bool) -> Result<(SpaceId, Pfn)> {
        let r = self.resolve_page(who, va, write);
        if let (Err(_), Who::Kernel) = (&r, who) {
            let space = match (va.is_system(), self.current) {
                (false, Some(p)) => SpaceId::Process(p),
                _ => SpaceId::System,
            };
            self.note_kernel_fault(space, va, write);
        }
        r
    }

    fn resolve_page(&mut self, who: Who, va: Va, write: bool) -> Result<(SpaceId, Pfn)> {
        let space_id = match who {
            Who::User(pid) => {
                if !va.is_user() {
                    return Err(AV);
                }
                SpaceId::Process(pid)
            }
            Who::Kernel => {
                if va.is_system() {
                    return self.resolve_system(va, write);
                }
                if !va.is_user() {
                    return Err(AV); // non-canonical: #GP, delivered as an access violation
                }
                match self.current {
                    Some(p) => SpaceId::Process(p),
                    None => return Err(AV),
                }
            }
        };
        let SpaceId::Process(pid) = space_id else {
            return Err(AV);
        };
        let Some(proc_) = self.processes.get(&pid) else {
            return Err(AV);
        };
        if let Some(pte) = proc_.space.pte(va).copied() {
            let ok = if write {
                pte.protection.can_write()
            } else {
                pte.protection.can_read()
            };
            if !ok {
                return Err(AV);
            }
            if let (true, PteKind::Mdl(mid)) = (write, pte.kind) {
                self.note_mdl_write(mid, va);
            }
            return Ok((space_id, pte.pfn));
        }
        // Not valid: demand-zero fault if the VAD page is committed and accessible.
        let Some(vad) = proc_.space.vad(va) else {
            return Err(AV);
        };
        let VadKind::Private(descs) = &vad.kind else {
            return Err(AV);
        };
        let Some(PageDesc::Committed(prot)) = descs.get(va.vpn() - vad.start.vpn()) else {
            return Err(AV);
        };
        if !(if write {
            prot.can_write()
        } else {
            prot.can_read()
        }) {
            return Err(AV);
        }
        let pfn = match self.phys.allocate(FrameOwner::Process(pid), true) {
            Ok(pfn) => pfn,
            Err(NoFrame::Exhausted) => return Err(Fault::Raise(NtStatus::NO_MEMORY)),
            Err(NoFrame::HostBudget) => return Err(self.phys.budget_fault()),
        };
        self.counters.pages_zero_filled += 1;
        if let Some(p) = self.processes.get_mut(&pid) {
            p.space.ptes.insert(
                va.vpn(),
                Pte {
                    pfn,
                    protection: prot,
                    kind: PteKind::Private,
                },
            );
        }
        Ok((space_id, pfn))
    }

    /// The fast path of [`Vm::resolve`] over a stretch of pages: fills `out` with the
    /// frames of the pages from `page` on (at most `out.len()`) for which `resolve(who, _,
    /// write)` would return `Ok` at once with no side effect — a valid PTE allowing the
    /// access, and for a write not an MDL mapping whose MDL was probed for
    /// `IoReadAccess` (that write records an event). Stops at the first other page, which
    /// the caller hands to `resolve`. Returns the space and the number of frames filled.
    ///
    /// The checks are `resolve`'s and `resolve_system`'s, per page (user space and system
    /// space both start and end on page boundaries, so a page's start decides for all
    /// its bytes), with one page-table lookup per 512 pages instead of one per page.
    pub(super) fn resolve_valid(
        &self,
        who: Who,
        page: Va,
        write: bool,
        out: &mut [Pfn],
    ) -> (SpaceId, usize) {
        let page = page.page_align();
        let (space_id, space) = match who {
            Who::User(pid) => match self.processes.get(&pid) {
                Some(p) if page.is_user() => (SpaceId::Process(pid), &p.space),
                _ => return (SpaceId::System, 0),
            },
            Who::Kernel if page.is_system() => (SpaceId::System, &*self.system),
            Who::Kernel => match self
                .current
                .and_then(|pid| Some((pid, self.processes.get(&pid)?)))
            {
                Some((pid, p)) if page.is_user() => (SpaceId::Process(pid), &p.space),
                _ => return (SpaceId::System, 0),
            },
        };
        let mut vpn = page.vpn();
        // Pages left in the half `page` is in: user space ends at MM_HIGHEST_USER_ADDRESS,
        // system space at the top of the address space.
        let half_left = match space_id {
            SpaceId::Process(_) => (MM_HIGHEST_USER_ADDRESS.vpn() + 1).saturating_sub(vpn),
            SpaceId::System => (u64::MAX >> crate::addr::PAGE_SHIFT) + 1 - vpn,
        };
        let want = out
            .len()
            .min(usize::try_from(half_left).unwrap_or(usize::MAX));
        let mut n = 0;
        let mut quiet_mid = None;
        'chunks: while n < want {
            let entries = space.ptes.entries_from(vpn);
            if entries.is_empty() {
                break;
            }
            let before = n;
            for e in &entries[..entries.len().min(want - n)] {
                let Some(pte) = e else { break 'chunks };
                let ok = if write {
                    pte.protection.can_write()
                } else {
                    pte.protection.can_read()
                };
                if !ok {
                    break 'chunks;
                }
                if let (true, PteKind::Mdl(mid)) = (write, pte.kind) {
                    if quiet_mid != Some(mid) {
                        if self.read_probed_mdl(mid).is_some() {
                            break 'chunks;
                        }
                        quiet_mid = Some(mid);
                    }
                }
                out[n] = pte.pfn;
                n += 1;
            }
            vpn += (n - before) as u64;
        }
        (space_id, n)
    }

    pub(super) fn resolve_system(&mut self, va: Va, write: bool) -> Result<(SpaceId, Pfn)> {
        match self.system.pte(va).copied() {
            Some(pte) if write && !pte.protection.can_write() => Err(self.bug_check(
                BugCheckCode::ATTEMPTED_WRITE_TO_READONLY_MEMORY,
                [va.0, pte.pfn.0, 0, 0],
                format!("kernel write to read-only system mapping at {va}"),
            )),
            Some(pte) if !pte.protection.can_read() => Err(self.bug_check(
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
                [va.0, self.windows.page_fault_access(write), 0, 0],
                format!("kernel touched no-access system mapping at {va}"),
            )),
            Some(pte) => {
                if let (true, PteKind::Mdl(mid)) = (write, pte.kind) {
                    self.note_mdl_write(mid, va);
                }
                Ok((SpaceId::System, pte.pfn))
            }
            None => Err(self.bug_check(
                BugCheckCode::PAGE_FAULT_IN_NONPAGED_AREA,
                [va.0, self.windows.page_fault_access(write), 0, 0],
                format!("kernel touched invalid system address {va}"),
            )),
        }
    }
}
