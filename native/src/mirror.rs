//! Keeping host memory and the model in step at every crossing between native code and
//! the model.
//!
//! While native code runs, host memory is the truth: its stores go straight to the
//! frames. While the model runs (a DDI, a fault being resolved, the harness between two
//! calls), the model is. So at each crossing:
//!
//! * into native code ([`Mirror::show_model`]): every page native code has touched in
//!   this call is checked against the model's PTE (gone or changed: unmapped; the user
//!   window is emptied when the current process changed) and its frame's bytes are copied
//!   from the model; every live MDL's header and PFN array are written at its host
//!   address;
//! * out of native code ([`Mirror::take_stores`]): every touched frame native code could
//!   write is compared with the model, and what changed is stored into the model at the
//!   address it was visible at, its provenance decided by its content
//!   ([`crate::provenance`]); every MDL header native code changed is applied with the
//!   field write it models (`MdlFlags`, `Next`, a PFN entry), each recorded as the driver's.
//!
//! Pages are mapped **on demand** ([`Mirror::map_on_demand`]): a call starts with empty
//! windows, and the first access to a page the model maps faults once and maps it. So a
//! crossing costs what the code touched, not what the machine holds.

use crate::host::{HostMemory, Prot};
use crate::layout::{HostAddress, Layout, mdl_slot, mdl_slot_address};
use crate::provenance::{Sources, store};
use mdlsim::addr::{MDL_HEADER_SIZE, PAGE_BYTES, Va};
use mdlsim::mdl::{MdlFlags, MdlId};
use mdlsim::pfn::FrameOwner;
use mdlsim::space::{Protection, SpaceId};
use mdlsim::{Fault, Kernel, Machine, ModelError};
use std::collections::{BTreeMap, HashSet};

/// One host page mapping a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Mapping {
    pfn: u64,
    prot: Prot,
    /// The model address the page is visible at (in system space or the current process).
    va: Va,
}

/// The host copy of one MDL.
#[derive(Clone, PartialEq, Eq, Debug)]
struct MdlCopy {
    id: MdlId,
    host: u64,
    /// Bytes mapped at `host` (whole pages).
    mapped: u64,
    /// What was written there last: header and PFN array.
    written: Vec<u8>,
}

/// What the host shows of the model, as last synchronised.
#[derive(Debug, Default)]
pub struct Mirror {
    /// The pages native code touched in this call, by host address.
    mapped: BTreeMap<u64, Mapping>,
    /// The process whose pages the user window shows.
    user: Option<mdlsim::space::Pid>,
    mdls: BTreeMap<u64, MdlCopy>,
    irps: crate::irps::IrpCopies,
    /// Whether loads and stores to traced pages ([`Mirror::traced`]) are made one at a
    /// time, each judged and logged by the model.
    pub trace: bool,
    /// Traced pages opened for the access running alone, closed after it.
    open: Vec<u64>,
}

/// A host failure as the model's error (the harness reports it; nothing panics).
pub fn host_error(e: std::io::Error) -> Fault {
    Fault::Model(ModelError::Unsupported(format!("native host memory: {e}")))
}

fn unsupported(what: String) -> Fault {
    Fault::Model(ModelError::Unsupported(what))
}

fn prot_of(p: Protection) -> Prot {
    match p {
        Protection::ReadWrite => Prot::ReadWrite,
        Protection::ReadOnly => Prot::Read,
        _ => Prot::None,
    }
}

/// Groups sorted `(host page, value)` pairs into runs that one `mmap` can make:
/// consecutive host pages whose `key` says they continue each other.
fn runs<T: Copy>(
    pages: &[(u64, T)],
    continues: impl Fn(&(u64, T), &(u64, T)) -> bool,
) -> Vec<(u64, T, u64)> {
    let mut out: Vec<(u64, T, u64)> = Vec::new();
    let mut prev: Option<(u64, T)> = None;
    for &p in pages {
        match (prev, out.last_mut()) {
            (Some(q), Some(last)) if p.0 == q.0 + PAGE_BYTES as u64 && continues(&q, &p) => {
                last.2 += 1;
            }
            _ => out.push((p.0, p.1, 1)),
        }
        prev = Some(p);
    }
    out
}

impl Mirror {
    /// Unmaps everything mapped for the last call (a new call: the model may have changed
    /// anything since).
    ///
    /// # Errors
    /// The host refused.
    pub fn reset(&mut self, mem: &mut HostMemory) -> mdlsim::Result<()> {
        let pages: Vec<(u64, ())> = self.mapped.keys().map(|h| (*h, ())).collect();
        self.unmap_pages(mem, &pages)?;
        for c in std::mem::take(&mut self.mdls).into_values() {
            mem.unmap(c.host, c.mapped).map_err(host_error)?;
        }
        self.irps.reset(mem)?;
        self.user = None;
        self.open.clear();
        Ok(())
    }

    fn unmap_pages(&mut self, mem: &mut HostMemory, pages: &[(u64, ())]) -> mdlsim::Result<()> {
        for (at, (), n) in runs(pages, |_, _| true) {
            mem.unmap(at, n * PAGE_BYTES as u64).map_err(host_error)?;
        }
        for (h, ()) in pages {
            self.mapped.remove(h);
        }
        Ok(())
    }

    /// The model into host memory: the touched pages checked against the model's PTEs
    /// and refreshed, the MDL copies written.
    ///
    /// # Errors
    /// The host refused a mapping; an MDL too large for its host slot is unsupported.
    pub fn show_model(&mut self, mem: &mut HostMemory, m: &Machine) -> mdlsim::Result<()> {
        mem.ensure_frames(m.frames_total() + 1)
            .map_err(host_error)?;
        self.unmap_stale(mem, m)?;
        let mut copied = HashSet::new();
        for mp in self.mapped.values() {
            if copied.insert(mp.pfn) {
                copy_frame(mem, m, mp.pfn);
            }
        }
        self.mdls_to_host(mem, m)?;
        self.irps.show(mem, m)
    }

    /// Unmaps the touched pages whose model PTE is gone or changed (the user window's all,
    /// when the current process changed).
    fn unmap_stale(&mut self, mem: &mut HostMemory, m: &Machine) -> mdlsim::Result<()> {
        let current = m.current_process();
        let switched = current != self.user;
        self.user = current;
        let stale: Vec<(u64, ())> = self
            .mapped
            .iter()
            .filter(|(_, mp)| {
                (switched && mp.va.is_user()) || model_mapping(m, mp.va) != Some(**mp)
            })
            .map(|(h, _)| (*h, ()))
            .collect();
        self.unmap_pages(mem, &stale)
    }

    /// The model's bytes of every frame native code sees, before a step that may run
    /// another thread's scheduled write ([`Mirror::apply_interleaved`]).
    pub fn model_frames(&self, m: &Machine) -> BTreeMap<u64, Vec<u8>> {
        self.mapped
            .values()
            .filter_map(|mp| {
                let b = m.frame_bytes(mdlsim::addr::Pfn::new(mp.pfn))?;
                Some((mp.pfn, b.to_vec()))
            })
            .collect()
    }

    /// What another thread did during a step (a scheduled write, a release), carried to
    /// the host without taking native code's own pending stores: the bytes the model's
    /// frames gained since `before` are patched into the host frames, and pages whose
    /// PTE went are unmapped. Native code's stores stay pending, so the model takes them
    /// at the same step as in a run without the interleaving.
    ///
    /// # Errors
    /// The host refused to unmap a page.
    pub fn apply_interleaved(
        &mut self,
        mem: &mut HostMemory,
        m: &Machine,
        before: &BTreeMap<u64, Vec<u8>>,
    ) -> mdlsim::Result<()> {
        for (pfn, was) in before {
            let Some(now) = m.frame_bytes(mdlsim::addr::Pfn::new(*pfn)) else {
                continue;
            };
            let runs = changed_runs(was, now);
            if let (false, Some(host)) = (runs.is_empty(), mem.frame(*pfn)) {
                for (off, len) in runs {
                    host[off..off + len].copy_from_slice(&now[off..off + len]);
                }
            }
        }
        self.unmap_stale(mem, m)
    }

    /// Whether [`Mirror::map_on_demand`] would map the page of `va` for this access.
    pub fn can_map(&self, m: &Machine, va: Va, write: bool) -> bool {
        model_mapping(m, va).is_some_and(|mp| allows(mp.prot, write))
    }

    /// Maps the page of `va` for native code if the model has a valid PTE there that
    /// allows the access (a read, or a write to a writable page): `Ok(true)` when it was
    /// mapped now, so the access can be retried. The frame's bytes are copied from the
    /// model unless native code already sees the frame through another mapping (then the
    /// host's bytes are the newer).
    ///
    /// # Errors
    /// The host refused the mapping.
    pub fn map_on_demand(
        &mut self,
        mem: &mut HostMemory,
        m: &Machine,
        va: Va,
        write: bool,
    ) -> mdlsim::Result<bool> {
        let Some((h, mp)) = allowed_mapping(mem.layout(), m, va, write) else {
            return Ok(false);
        };
        if self.mapped.get(&h) == Some(&mp) {
            return Ok(false);
        }
        self.map_page(mem, m, h, mp)?;
        Ok(true)
    }

    /// Maps `mp` at host page `h`; its frame's bytes copied from the model unless native
    /// code already sees the frame elsewhere (then the host's bytes are the newer).
    fn map_page(
        &mut self,
        mem: &mut HostMemory,
        m: &Machine,
        h: u64,
        mp: Mapping,
    ) -> mdlsim::Result<()> {
        mem.map_frames(h, mp.pfn, 1, mp.prot).map_err(host_error)?;
        if !self.mapped.values().any(|x| x.pfn == mp.pfn) {
            copy_frame(mem, m, mp.pfn);
        }
        self.mapped.insert(h, mp);
        Ok(())
    }

    /// Whether native code's accesses to the page of `va` are traced, when tracing is
    /// on: a user address (each access judged against the probe and `__try` rules), paged
    /// pool (each access judged against the IRQL), or a frame of a process's private
    /// memory at any address (an MDL's system mapping of a user buffer), where a second
    /// load of one byte is a double fetch. Non-paged pool and the driver's own pages run
    /// at full speed (judged on their first touch in a call).
    pub fn traced(&self, m: &Machine, va: Va) -> bool {
        if !self.trace {
            return false;
        }
        if va.is_user() || mdlsim::pool::is_paged_pool(va) {
            return true;
        }
        model_mapping(m, va)
            .and_then(|mp| m.pfn_entry(mdlsim::addr::Pfn::new(mp.pfn)))
            .is_some_and(|e| matches!(e.owner, FrameOwner::Process(_)))
    }

    /// Opens the traced page of `va` for one access the model allowed: mapped (first
    /// touch) or given back its protection (a page closed after an earlier access).
    /// `Ok(false)` when the model has no mapping that takes the access.
    ///
    /// # Errors
    /// The host refused.
    pub fn open_for_one_access(
        &mut self,
        mem: &mut HostMemory,
        m: &Machine,
        va: Va,
        write: bool,
    ) -> mdlsim::Result<bool> {
        let Some((h, mp)) = allowed_mapping(mem.layout(), m, va, write) else {
            return Ok(false);
        };
        if self.mapped.get(&h) == Some(&mp) {
            mem.protect(h, PAGE_BYTES as u64, mp.prot)
                .map_err(host_error)?;
        } else {
            self.map_page(mem, m, h, mp)?;
        }
        self.open.push(h);
        Ok(true)
    }

    /// Closes the pages opened for the access that just ran (or never completed): the
    /// next access to them faults and is traced.
    ///
    /// # Errors
    /// The host refused.
    pub fn close_open(&mut self, mem: &mut HostMemory) -> mdlsim::Result<()> {
        for h in std::mem::take(&mut self.open) {
            if self.mapped.contains_key(&h) {
                mem.protect(h, PAGE_BYTES as u64, Prot::None)
                    .map_err(host_error)?;
            }
        }
        Ok(())
    }

    fn mdls_to_host(&mut self, mem: &mut HostMemory, m: &Machine) -> mdlsim::Result<()> {
        let layout = mem.layout();
        let mut live = HashSet::new();
        for (id, _) in m.mdls() {
            let slot = mdl_slot(id);
            live.insert(slot);
            let bytes = encode_mdl(layout, m, id)?;
            let host = layout
                .mdl(slot)
                .ok_or_else(|| unsupported(format!("{id}: too many MDLs for the native window")))?;
            let need = (bytes.len() as u64).div_ceil(PAGE_BYTES as u64) * PAGE_BYTES as u64;
            if need > crate::layout::MDL_STRIDE {
                return Err(unsupported(format!(
                    "{id}: a PFN array of {} entries is larger than the native window's slot",
                    (bytes.len() as u64 - MDL_HEADER_SIZE) / 8
                )));
            }
            let fits = self.mdls.get(&slot).is_some_and(|c| c.mapped >= need);
            if !fits {
                mem.map_private(host, need).map_err(host_error)?;
            }
            // SAFETY: [host, host + need) was mapped private read-write just above or by
            // an earlier call (`fits`), and is unmapped only when the copy is dropped.
            let dst = unsafe { mem.private_bytes(host, bytes.len()) };
            dst.copy_from_slice(&bytes);
            let mapped = if fits { self.mdls[&slot].mapped } else { need };
            self.mdls.insert(
                slot,
                MdlCopy {
                    id,
                    host,
                    mapped,
                    written: bytes,
                },
            );
        }
        let freed: Vec<u64> = self
            .mdls
            .keys()
            .copied()
            .filter(|s| !live.contains(s))
            .collect();
        for slot in freed {
            if let Some(c) = self.mdls.remove(&slot) {
                mem.unmap(c.host, c.mapped).map_err(host_error)?;
            }
        }
        Ok(())
    }

    /// Native code's stores into the model: changed frame bytes, changed MDL fields.
    ///
    /// # Errors
    /// What the model says of a write (a crashed machine), or an MDL field native code
    /// wrote that the model has no write for.
    pub fn take_stores(&mut self, mem: &mut HostMemory, k: &mut Kernel<'_>) -> mdlsim::Result<()> {
        let mut seen = HashSet::new();
        let mut stored: Vec<(Va, Vec<u8>)> = Vec::new();
        // A frame native code sees at a system and a user address (an MDL's mapping of
        // a user buffer) changed through one of them, the host cannot tell which: the
        // store is credited to the kernel's mapping, as `Sources` credits a copy's source.
        let mut writable: Vec<&Mapping> = self
            .mapped
            .values()
            .filter(|mp| mp.prot == Prot::ReadWrite)
            .collect();
        writable.sort_by_key(|mp| (mp.va.is_user(), mp.va));
        for mp in writable {
            if !seen.insert(mp.pfn) {
                continue;
            }
            let Some(host) = mem.frame(mp.pfn) else {
                continue;
            };
            let pfn = mdlsim::addr::Pfn::new(mp.pfn);
            let model = k.interleave(|m| m.frame_bytes(pfn).map(<[u8]>::to_vec));
            let Some(model) = model else {
                continue;
            };
            for (off, len) in changed_runs(&model, host) {
                stored.push((
                    mp.va.wrapping_add(off as u64),
                    host[off..off + len].to_vec(),
                ));
            }
        }
        if !stored.is_empty() {
            let stored = join_runs(stored);
            // What native code could have read: the touched pages.
            let pages: Vec<(Va, u64)> = self.mapped.values().map(|mp| (mp.va, mp.pfn)).collect();
            k.interleave(|m| -> mdlsim::Result<()> {
                let needs_sources = stored.iter().any(|(_, w)| w.iter().any(|b| *b != 0));
                let sources = if needs_sources {
                    Sources::new(m, pages)
                } else {
                    Sources::default()
                };
                let traced = |m: &Machine, va: Va| self.traced(m, va);
                for (va, w) in &stored {
                    store(m, &sources, *va, w, &traced)?;
                }
                Ok(())
            })?;
        }
        let layout = mem.layout();
        let copies: Vec<MdlCopy> = self.mdls.values().cloned().collect();
        for c in copies {
            // SAFETY: the copy's pages are mapped private read-write while it is in
            // `self.mdls` (see `mdls_to_host`).
            let now = unsafe { mem.private_bytes(c.host, c.written.len()) }.to_vec();
            if now != c.written {
                apply_mdl_writes(layout, k, &c, &now)?;
            }
        }
        self.irps.take(mem, k)
    }
}

/// The mapping the model has for the page of `va` now: in system space, or in the
/// current process for a user address.
fn model_mapping(m: &Machine, va: Va) -> Option<Mapping> {
    let space = if va.is_user() {
        SpaceId::Process(m.current_process()?)
    } else {
        SpaceId::System
    };
    let page = va.page_align();
    let pte = m.pte(space, page)?;
    Some(Mapping {
        pfn: pte.pfn.raw(),
        prot: prot_of(pte.protection),
        va: page,
    })
}

/// The model's mapping of the page of `va` and its host page, when it takes the access.
fn allowed_mapping(layout: Layout, m: &Machine, va: Va, write: bool) -> Option<(u64, Mapping)> {
    let mp = model_mapping(m, va)?;
    let h = layout.host(mp.va)?;
    allows(mp.prot, write).then_some((h, mp))
}

/// Whether a page mapped with `prot` takes the access (a read, or a write).
fn allows(prot: Prot, write: bool) -> bool {
    match prot {
        Prot::ReadWrite => true,
        Prot::Read => !write,
        Prot::None => false,
    }
}

/// Copies frame `pfn`'s bytes from the model into host memory.
fn copy_frame(mem: &mut HostMemory, m: &Machine, pfn: u64) {
    if let (Some(src), Some(dst)) = (m.frame_bytes(mdlsim::addr::Pfn::new(pfn)), mem.frame(pfn)) {
        dst.copy_from_slice(src);
    }
}

/// Joins stored runs that continue each other across a page boundary (a copy into two
/// pages is one run), in address order.
fn join_runs(mut runs: Vec<(Va, Vec<u8>)>) -> Vec<(Va, Vec<u8>)> {
    runs.sort_by_key(|(va, _)| (va.is_user(), *va));
    let mut out: Vec<(Va, Vec<u8>)> = Vec::with_capacity(runs.len());
    for (va, w) in runs {
        match out.last_mut() {
            Some((start, run)) if start.wrapping_add(run.len() as u64) == va => run.extend(w),
            _ => out.push((va, w)),
        }
    }
    out
}

/// The `(offset, length)` runs where `a` and `b` differ.
fn changed_runs(a: &[u8], b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < a.len() {
        if a[i] == b[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < a.len() && a[i] != b[i] {
            i += 1;
        }
        out.push((start, i - start));
    }
    out
}

/// An MDL's header and PFN array as native code sees them (x64 layout, host addresses).
fn encode_mdl(layout: Layout, m: &Machine, id: MdlId) -> mdlsim::Result<Vec<u8>> {
    let mdl = m.mdl(id)?;
    let host_of = |va: Va| layout.host(va).unwrap_or(va.raw());
    let next = mdl.next.and_then(|n| layout.mdl(mdl_slot(n))).unwrap_or(0);
    let process = mdl.process.map(|p| layout.process(p.0)).unwrap_or(0);
    let mut b = Vec::with_capacity(MDL_HEADER_SIZE as usize + 8 * mdl.pfn_array().len());
    b.extend_from_slice(&next.to_le_bytes());
    b.extend_from_slice(&mdl.size.to_le_bytes());
    b.extend_from_slice(&mdl.flags.bits().to_le_bytes());
    b.extend_from_slice(&[0u8; 4]);
    b.extend_from_slice(&process.to_le_bytes());
    b.extend_from_slice(&host_of(mdl.mapped_system_va).to_le_bytes());
    b.extend_from_slice(&host_of(mdl.start_va).to_le_bytes());
    b.extend_from_slice(&mdl.byte_count.to_le_bytes());
    b.extend_from_slice(&mdl.byte_offset.to_le_bytes());
    for pfn in mdl.pfn_array() {
        b.extend_from_slice(&pfn.to_le_bytes());
    }
    Ok(b)
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

/// The header fields, by offset, that the model has no driver write for.
const FIXED_FIELDS: [(usize, usize, &str); 6] = [
    (8, 2, "Size"),
    (16, 8, "Process"),
    (24, 8, "MappedSystemVa"),
    (32, 8, "StartVa"),
    (40, 4, "ByteCount"),
    (44, 4, "ByteOffset"),
];

/// The MDL a host pointer names, for `Next` and for DDI arguments: `None` for NULL.
pub fn mdl_from_host(layout: Layout, m: &Machine, h: u64) -> mdlsim::Result<Option<MdlId>> {
    if h == 0 {
        return Ok(None);
    }
    match layout.classify(h) {
        HostAddress::Mdl(slot, 0) => mdl_slot_address(slot)
            .and_then(|va| m.mdl_at(va))
            .map(Some)
            .ok_or_else(|| unsupported(format!("{h:#x} was never an MDL"))),
        _ => Err(unsupported(format!(
            "{h:#x} is not an MDL from IoAllocateMdl or another DDI (an MDL in driver-owned \
             memory is not modelled yet)"
        ))),
    }
}

fn apply_mdl_writes(
    layout: Layout,
    k: &mut Kernel<'_>,
    c: &MdlCopy,
    now: &[u8],
) -> mdlsim::Result<()> {
    let was = &c.written;
    for (off, len, name) in FIXED_FIELDS {
        if was[off..off + len] != now[off..off + len] {
            return Err(unsupported(format!(
                "native code wrote {}->{name} directly; the model has no such write",
                c.id
            )));
        }
    }
    if u64_at(was, 0) != u64_at(now, 0) {
        let next = k.interleave(|m| mdl_from_host(layout, m, u64_at(now, 0)))?;
        k.mdl_set_next(c.id, next)?;
    }
    if u16_at(was, 10) != u16_at(now, 10) {
        k.mdl_set_flags(c.id, MdlFlags::from_bits_retain(u16_at(now, 10)))?;
    }
    let header = MDL_HEADER_SIZE as usize;
    for i in 0..(now.len() - header) / 8 {
        let off = header + 8 * i;
        if u64_at(was, off) != u64_at(now, off) {
            k.mdl_set_pfn(c.id, i as u32, u64_at(now, off))?;
        }
    }
    Ok(())
}
