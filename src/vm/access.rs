//! Reads, writes and copies by virtual address, user and kernel mode: every access of
//! the model goes through here (provenance labels, the access log, MDL-mapping writes).

use super::*;

impl Vm<'_> {
    // ----- reads, writes, copies ---------------------------------------------------------

    /// Records one page's access in the access log when the log is on (the check is
    /// inlined into the copy loops; the record is not).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn log_access(
        &mut self,
        who: Who,
        space: SpaceId,
        va: Va,
        pfn: Pfn,
        off: usize,
        len: usize,
        write: bool,
    ) {
        if self.log.enabled {
            self.record_access(who, space, va, pfn, off, len, write);
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[cold]
    #[inline(never)]
    pub(super) fn record_access(
        &mut self,
        who: Who,
        space: SpaceId,
        va: Va,
        pfn: Pfn,
        off: usize,
        len: usize,
        write: bool,
    ) {
        let mut labels = Vec::new();
        if self.shadow {
            self.phys.labels(pfn).spans(off, len, &mut labels);
        }
        self.log.records.push(Access {
            step: self.step,
            actor: who.actor(),
            space,
            va,
            pfn,
            offset: off as u16,
            len: len as u16,
            write,
            labels,
        });
    }

    /// Reads `len` bytes into a new vector grown run by run, so an absurd length faults at
    /// the first inaccessible page instead of first allocating `len` bytes on the host.
    pub(crate) fn read_vec_as(&mut self, who: Who, va: Va, len: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut pages = Pages::new(who, false);
        while (out.len() as u64) < len {
            let at = va.wrapping_add(out.len() as u64);
            let (space, r) = pages.run(self, at, len - out.len() as u64)?;
            // The bytes returned are host memory too: one read may return at most the
            // host-memory budget (the same frames mapped many times over can make a
            // range of virtual memory far larger than the frames behind it).
            if (out.len() + r.len) as u64 > self.phys.host_limit() {
                return Err(self.phys.budget_fault());
            }
            self.log_run(who, space, at, &r, false);
            out.extend_from_slice(self.phys.run_bytes(r.first, r.at, r.len));
        }
        Ok(out)
    }

    /// Reads `buf.len()` bytes at `va` into `buf`, run by run ([`Pages::run`]: each page
    /// translated and checked in order, consecutive frames copied at once), each page's
    /// access logged; bytes before a faulting page are copied, as page by page.
    pub(crate) fn read_as(&mut self, who: Who, va: Va, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        let mut pages = Pages::new(who, false);
        while done < buf.len() {
            let at = va.wrapping_add(done as u64);
            let (space, r) = pages.run(self, at, (buf.len() - done) as u64)?;
            self.log_run(who, space, at, &r, false);
            buf[done..done + r.len].copy_from_slice(self.phys.run_bytes(r.first, r.at, r.len));
            done += r.len;
        }
        Ok(())
    }

    /// The probe phase of `MmProbeAndLockPages` over `n` pages from `a` ([semantics §3.4]
    /// steps 2–3): reads the first byte of each page (`a` itself for the first, the page's
    /// start after), demand-faulting and logging it exactly as [`Vm::read_as`] of one
    /// byte would, then with `write` checks the page's PTE is writable; collects each page's
    /// frame into `frames`. The pages are translated a batch at a time ([`Pages`]), so a
    /// probe costs one page-table walk per batch rather than per page.
    ///
    /// # Errors
    /// The first page that faults, with its index and the fault (earlier pages stay probed).
    ///
    /// [semantics §3.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.4
    pub(crate) fn probe_pages(
        &mut self,
        who: Who,
        a: Va,
        n: usize,
        write: bool,
        frames: &mut Vec<Pfn>,
    ) -> std::result::Result<(), (usize, Fault)> {
        let mut pages = Pages::new(who, false);
        let end = a.page_align().0.wrapping_add(n as u64 * PAGE_SIZE);
        for i in 0..n {
            let at = if i == 0 {
                a
            } else {
                Va(a.page_align().0 + i as u64 * PAGE_SIZE)
            };
            let (space, pfn) = pages
                .resolve(self, at, end.wrapping_sub(at.0))
                .map_err(|f| (i, f))?;
            self.log_access(who, space, at, pfn, at.byte_offset() as usize, 1, false);
            if write {
                self.check_writable(who, at).map_err(|f| (i, f))?;
            }
            frames.push(pfn);
        }
        Ok(())
    }

    /// Writes `data` at `va`, run by run ([`Pages::run`]); each page's bytes get the
    /// label of a fresh origin (the writer's space and the page's first address), or
    /// [`Label::Zero`] with `zero`, and each page's access is logged. A fault at a page
    /// leaves the bytes before it written, as page by page.
    pub(crate) fn write_as(&mut self, who: Who, va: Va, data: &[u8], zero: bool) -> Result<()> {
        let mut done = 0usize;
        let mut pages = Pages::new(who, true);
        while done < data.len() {
            let at = va.wrapping_add(done as u64);
            let (space, r) = pages.run(self, at, (data.len() - done) as u64)?;
            self.phys
                .run_bytes_mut(r.first, r.at, r.len)
                .copy_from_slice(&data[done..done + r.len]);
            if self.shadow || self.log.enabled {
                for (page_va, pfn, off, n) in r.pages(at) {
                    if self.shadow {
                        let label = if zero {
                            Label::Zero
                        } else {
                            let origin_space = match who {
                                Who::User(p) => SpaceId::Process(p),
                                Who::Kernel => SpaceId::System,
                            };
                            Label::Origin {
                                space: origin_space,
                                va: page_va,
                            }
                        };
                        self.phys.set_labels(pfn, off, n, label);
                    }
                    self.log_access(who, space, page_va, pfn, off, n, true);
                }
            }
            if zero {
                self.counters.bytes_zeroed += r.len as u64;
            }
            done += r.len;
        }
        Ok(())
    }

    /// Logs each page of a run read or written at `at` (nothing when the log is off).
    #[inline(always)]
    pub(super) fn log_run(&mut self, who: Who, space: SpaceId, at: Va, r: &FrameRun, write: bool) {
        if self.log.enabled {
            for (page_va, pfn, off, n) in r.pages(at) {
                self.record_access(who, space, page_va, pfn, off, n, write);
            }
        }
    }

    /// Copies `len` bytes from `src` (as `src_who`) to `dst` (as `dst_who`), carrying labels.
    ///
    /// Chunk by chunk (each inside one source and one destination page), in order: both
    /// pages translated, labels spliced, accesses logged. The bytes of chunks whose source
    /// and destination both continue the previous chunk's in host memory are gathered into
    /// a pair of runs copied at once; a pair is only extended while its two byte ranges stay
    /// disjoint, so one copy equals the chunks copied in order, and it is copied before the
    /// next pair starts or a fault returns.
    pub(crate) fn copy_as(
        &mut self,
        dst_who: Who,
        dst: Va,
        src_who: Who,
        src: Va,
        len: u64,
    ) -> Result<()> {
        self.copy_as_with(dst_who, dst, src_who, src, len, true)
    }

    /// [`Vm::copy_as`], the source's reads logged only with `log_source` (not when the
    /// loads were made and logged one by one already: native code's own copy loop).
    pub(crate) fn copy_as_with(
        &mut self,
        dst_who: Who,
        dst: Va,
        src_who: Who,
        src: Va,
        len: u64,
        log_source: bool,
    ) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        if wraps(src, len) || wraps(dst, len) {
            return Err(AV);
        }
        let mut spans: Vec<LabelSpan> = Vec::new();
        let mut run: Option<(FrameRun, FrameRun)> = None;
        let (mut src_pages, mut dst_pages) =
            (Pages::new(src_who, false), Pages::new(dst_who, true));
        let mut done = 0u64;
        while done < len {
            let s = src.wrapping_add(done);
            let d = dst.wrapping_add(done);
            let so = s.byte_offset() as usize;
            let doff = d.byte_offset() as usize;
            let n = ((len - done) as usize)
                .min(PAGE_BYTES - so)
                .min(PAGE_BYTES - doff);
            let resolved = src_pages
                .resolve(self, s, len - done)
                .and_then(|a| Ok((a, dst_pages.resolve(self, d, len - done)?)));
            let ((sspace, spfn), (dspace, dpfn)) = match resolved {
                Ok(r) => r,
                Err(e) => {
                    self.flush_copy_run(run);
                    return Err(e);
                }
            };
            if log_source {
                self.log_access(src_who, sspace, s, spfn, so, n, false);
            }
            if spfn == dpfn {
                self.flush_copy_run(run.take());
                self.phys.bytes_mut(spfn).copy_within(so..so + n, doff);
            } else if !extend_copy_run(&mut run, (spfn, so), (dpfn, doff), n) {
                self.flush_copy_run(
                    run.replace((FrameRun::new(spfn, so, n), FrameRun::new(dpfn, doff, n))),
                );
            }
            self.copy_chunk_labels(&mut spans, (spfn, so), (dpfn, doff), n);
            self.log_access(dst_who, dspace, d, dpfn, doff, n, true);
            if src_who == Who::Kernel || dst_who == Who::Kernel {
                self.counters.bytes_copied += n as u64;
            }
            done += n as u64;
        }
        self.flush_copy_run(run);
        Ok(())
    }

    /// Carries the provenance labels of one chunk of [`Vm::copy_as`] from `(frame, offset)`
    /// `src` to `dst` (`spans` is the copy's scratch buffer, reused chunk after chunk).
    #[inline]
    fn copy_chunk_labels(
        &mut self,
        spans: &mut Vec<LabelSpan>,
        (spfn, so): (Pfn, usize),
        (dpfn, doff): (Pfn, usize),
        n: usize,
    ) {
        if self.shadow {
            spans.clear();
            self.phys.labels(spfn).spans(so, n, spans);
            self.phys.splice_labels(dpfn, doff, n, spans);
        }
    }

    /// Copies a gathered (source, destination) run pair of [`Vm::copy_as`].
    pub(super) fn flush_copy_run(&mut self, run: Option<(FrameRun, FrameRun)>) {
        if let Some((s, d)) = run {
            // Disjoint by construction (a single chunk of two distinct frames, or
            // extended only while disjoint), so the copy always happens.
            let copied = self.phys.copy_run(&s, &d);
            debug_assert!(copied, "copy_as gathered overlapping runs");
        }
    }

    /// The work of [`Machine::user_read`](crate::Machine::user_read) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn user_read(&mut self, pid: Pid, va: Va, len: u64) -> Result<Vec<u8>> {
        if wraps(va, len) {
            return Err(AV);
        }
        self.read_vec_as(Who::User(pid), va, len)
    }

    /// The work of [`Machine::user_read_into`](crate::Machine::user_read_into) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn user_read_into(&mut self, pid: Pid, va: Va, buf: &mut [u8]) -> Result<()> {
        if va.checked_add(buf.len() as u64).is_none() {
            return Err(AV);
        }
        self.read_as(Who::User(pid), va, buf)
    }

    /// The work of [`Machine::kernel_read_into`](crate::Machine::kernel_read_into) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn kernel_read_into(&mut self, va: Va, buf: &mut [u8]) -> Result<()> {
        if va.checked_add(buf.len() as u64).is_none() {
            return Err(AV);
        }
        self.read_as(Who::Kernel, va, buf)
    }

    /// The work of [`Machine::user_write`](crate::Machine::user_write) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn user_write(&mut self, pid: Pid, va: Va, data: &[u8]) -> Result<()> {
        if wraps(va, data.len() as u64) {
            return Err(AV);
        }
        self.write_as(Who::User(pid), va, data, false)
    }

    /// The work of [`Machine::user_copy`](crate::Machine::user_copy) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn user_copy(&mut self, pid: Pid, dst: Va, src: Va, len: u64) -> Result<()> {
        self.copy_as(Who::User(pid), dst, Who::User(pid), src, len)
    }

    /// The work of [`Machine::kernel_read`](crate::Machine::kernel_read) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn kernel_read(&mut self, va: Va, len: u64) -> Result<Vec<u8>> {
        if wraps(va, len) {
            return Err(AV);
        }
        self.read_vec_as(Who::Kernel, va, len)
    }

    /// The work of [`Machine::kernel_access`](crate::Machine::kernel_access) once the
    /// facade has entered the call: each page translated as a kernel access (a
    /// demand-zero page materialised, a bad address faulting as a read or write would),
    /// a read logged; no byte read or changed.
    pub(crate) fn kernel_access(&mut self, va: Va, len: u64, write: bool) -> Result<()> {
        if wraps(va, len) {
            return Err(AV);
        }
        let mut done = 0u64;
        let mut pages = Pages::new(Who::Kernel, write);
        while done < len {
            let at = va.wrapping_add(done);
            let (space, r) = pages.run(self, at, len - done)?;
            if !write {
                self.log_run(Who::Kernel, space, at, &r, false);
            }
            done += r.len as u64;
        }
        Ok(())
    }

    /// The work of [`Machine::kernel_write`](crate::Machine::kernel_write) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn kernel_write(&mut self, va: Va, data: &[u8]) -> Result<()> {
        if wraps(va, data.len() as u64) {
            return Err(AV);
        }
        self.write_as(Who::Kernel, va, data, false)
    }

    /// The work of [`Machine::kernel_zero`](crate::Machine::kernel_zero) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn kernel_zero(&mut self, va: Va, len: u64) -> Result<()> {
        if wraps(va, len) {
            return Err(AV);
        }
        // Page by page, so a huge length faults at the first bad page without a huge buffer.
        const ZEROS: [u8; PAGE_BYTES] = [0; PAGE_BYTES];
        for (page, off, n) in crate::addr::page_chunks(va, len) {
            self.write_as(
                Who::Kernel,
                page.wrapping_add(off as u64),
                &ZEROS[..n],
                true,
            )?;
        }
        Ok(())
    }

    /// The work of [`Machine::kernel_copy`](crate::Machine::kernel_copy) once the facade has entered
    /// the call (its docs state the rule).
    pub(crate) fn kernel_copy(&mut self, dst: Va, src: Va, len: u64) -> Result<()> {
        self.copy_as(Who::Kernel, dst, Who::Kernel, src, len)
    }
}

/// Extends the gathered run pair of [`Vm::copy_as`] by the chunk of `n` bytes at source and
/// destination `(frame, offset)`, when both runs continue there in host memory and the two
/// stay disjoint; false (the pair unchanged) when the chunk must start a new pair.
#[inline]
fn extend_copy_run(
    run: &mut Option<(FrameRun, FrameRun)>,
    (spfn, so): (Pfn, usize),
    (dpfn, doff): (Pfn, usize),
    n: usize,
) -> bool {
    match run {
        Some((rs, rd)) if rs.continues_at(spfn, so) && rd.continues_at(dpfn, doff) => {
            let (mut s2, mut d2) = (*rs, *rd);
            s2.len += n;
            d2.len += n;
            if FrameRun::disjoint(&s2, &d2) {
                (*rs, *rd) = (s2, d2);
                true
            } else {
                false
            }
        }
        _ => false,
    }
}
