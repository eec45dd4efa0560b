//! The facade of the pool ([`crate::pool`]): each DDI enters the call and
//! delegates to the pool through a [`PoolCtx`] borrowed field by field; the rule each
//! follows is stated here, its code is in `src/pool.rs`.

use super::Machine;
use crate::addr::{PAGE_SIZE, Va};
use crate::bugcheck::{BugCheckCode, bad_pool_caller, verifier};
use crate::fault::Result;
use crate::irql::Kirql;
use crate::mdl::MdlId;
use crate::pool::{
    POOL_FLAG_PAGED, POOL_FLAG_UNINITIALIZED, PoolAllocation, PoolCtx, PoolType, is_paged_pool,
};
use crate::windows::WindowsVersion;

impl Machine {
    /// The pool's context for one call (see [`PoolCtx`]).
    pub(crate) fn pool_ctx(&mut self) -> PoolCtx<'_> {
        let (pool, vm) = self.split_pool();
        PoolCtx { pool, vm }
    }

    /// Allocates from the pool for the kernel's own use (the I/O manager's system
    /// buffers): [`PoolCtx::alloc`].
    pub(crate) fn pool_alloc(&mut self, size: u64, tag: u32, zero: bool) -> Result<Option<Va>> {
        self.pool_ctx().alloc(PoolType::NonPaged, size, tag, zero)
    }

    /// What the pool DDIs allocate: NULL while the harness exhausts the pool
    /// ([`Machine::exhaust_pool`]), else [`Machine::pool_alloc`]; a NULL return is
    /// remembered for blame.
    fn pool_ddi_alloc(
        &mut self,
        pool_type: PoolType,
        size: u64,
        tag: u32,
        zero: bool,
    ) -> Result<Option<Va>> {
        self.check_alloc_irql(pool_type, size)?;
        if size == 0 && self.config.verifier.enabled {
            // Verifier's automatic check (Microsoft's 0xC4 page, row 0x00; "Automatic
            // checks"); without it the request gets a minimal block.
            let irql = self.irql.param();
            return Err(self.bug_check(
                BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [verifier::ZERO_BYTE_ALLOCATION, irql, pool_type as u64, 0],
                format!("{} of zero bytes (Verifier)", self.routine),
            ));
        }
        let r = if self.pool.exhausted() {
            Ok(None)
        } else {
            self.pool_ctx().alloc(pool_type, size, tag, zero)
        };
        self.note_null(r)
    }

    /// Allocating paged pool above `APC_LEVEL` is Verifier's `0xC4` 0x01, nonpaged pool
    /// above `DISPATCH_LEVEL` 0x02; P3 the pool type, P4 the size ([semantics §5.9]).
    /// Without Verifier the pool's own check: `BAD_POOL_CALLER (0xC2)` 0x08, P2 the IRQL,
    /// P3 the pool type, P4 the size ([`crate::verifier`]).
    ///
    /// [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9
    fn check_alloc_irql(&mut self, pool_type: PoolType, size: u64) -> Result<()> {
        let (limit, subcode) = pool_irql_limit(pool_type, false);
        self.check_pool_irql(limit, subcode, pool_type, size)
    }

    /// The IRQL check of a pool allocation or free: Verifier's `0xC4` `subcode`, or
    /// without Verifier `BAD_POOL_CALLER (0xC2)` 0x08 (allocate) / 0x09 (free) with the
    /// same parameters (Microsoft's 0xC2 page).
    fn check_pool_irql(
        &mut self,
        limit: Kirql,
        subcode: u64,
        pool_type: PoolType,
        p4: u64,
    ) -> Result<()> {
        if self.config.verifier.enabled || self.irql <= limit {
            return self.check_irql(limit, subcode, pool_type as u64, p4);
        }
        let free = matches!(
            subcode,
            verifier::FREE_PAGED_POOL_ABOVE_APC_LEVEL
                | verifier::FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL
        );
        let p1 = if free {
            bad_pool_caller::FREE_AT_BAD_IRQL
        } else {
            bad_pool_caller::ALLOCATE_AT_BAD_IRQL
        };
        let (routine, irql) = (self.routine, self.irql);
        Err(self.bug_check(
            BugCheckCode::BAD_POOL_CALLER,
            [p1, irql.param(), pool_type as u64, p4],
            format!("{routine} at {irql}, above {limit} (semantics §5.9; no Verifier)"),
        ))
    }

    /// Freeing paged pool above `APC_LEVEL` is Verifier's `0xC4` 0x11, nonpaged pool
    /// above `DISPATCH_LEVEL` 0x12; P3 the allocation's pool type, P4 the address
    /// (Microsoft, `ExFreePoolWithTag` Remarks; [semantics §5.9]); without Verifier
    /// `BAD_POOL_CALLER (0xC2)` 0x09. An address that is no allocation (an MDL's, a wild
    /// one) is judged by its region.
    ///
    /// [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9
    fn check_free_irql(&mut self, va: Va) -> Result<()> {
        let by_region = if is_paged_pool(va) {
            PoolType::Paged
        } else {
            PoolType::NonPaged
        };
        let pool_type = self
            .pool
            .allocation_at(va)
            .map_or(by_region, |a| a.pool_type);
        let (limit, subcode) = pool_irql_limit(pool_type, true);
        self.check_pool_irql(limit, subcode, pool_type, va.raw())
    }

    /// `MmBuildMdlForNonPagedPool` over paged pool, on Windows 10/11: Verifier's `0xC4`
    /// 0x7F, P2 the IRQL, P3 the MDL, P4 its flags ([invariant 19]). Earlier versions
    /// build the MDL (the memory manager records the misuse).
    ///
    /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
    pub(crate) fn check_build_over_paged_pool(&mut self, mdl: Option<MdlId>) -> Result<()> {
        if self.config.windows < WindowsVersion::Windows10 {
            return Ok(());
        }
        let Some(d) = mdl.and_then(|id| self.mdls.get(id.0)).map(|s| &s.mdl) else {
            return Ok(());
        };
        let start = d.virtual_address().page_align();
        let end = start
            .raw()
            .saturating_add(d.page_count() as u64 * PAGE_SIZE);
        let flags = d.flags.bits() as u64;
        if !crate::pool::overlaps_paged_pool(start, end) {
            return Ok(());
        }
        let id = mdl.map_or(0, |m| m.address());
        Err(self.bug_check(
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                verifier::BUILD_MDL_FOR_NONPAGED_POOL_ON_PAGED_POOL,
                self.irql.param(),
                id,
                flags,
            ],
            format!("MmBuildMdlForNonPagedPool over paged pool at {start} (invariant 19)"),
        ))
    }

    /// Driver code touching pool outside every allocation — past the end of its block
    /// (into the next block's header, or the rest of a whole-page allocation's last
    /// page), before it, or in a block already freed: a driver accesses only the storage
    /// it explicitly allocated (Microsoft, `ExAllocatePoolWithTag` Remarks). On
    /// Windows the bytes are some other block's (BAD_POOL_HEADER 0x19 later), or, under
    /// Verifier's special pool, a bug check at the access or at the free (0xCD / 0xC1).
    /// The model makes the access and records the event
    /// [`crate::events::EventKind::PoolAccessOutsideAllocation`].
    pub(crate) fn judge_pool_access(&mut self, va: Va, len: u64, write: bool) {
        if len == 0 || !crate::pool::is_pool(va) {
            return;
        }
        let end = va.raw().saturating_add(len);
        let block = self.pool.allocation_below(va).map(|a| (a.va, a.size));
        let where_ = match block {
            Some((b, size)) if end <= b.raw().saturating_add(size) => return,
            Some((b, size)) if va.raw() < b.raw().saturating_add(size) => {
                format!("runs past the end of the block at {b} of {size:#x} bytes")
            }
            Some((b, size)) => {
                format!("lies in no allocation (the block below: {b}, {size:#x} bytes)")
            }
            None => "lies in no allocation".to_string(),
        };
        let what = if write { "wrote" } else { "read" };
        self.event(
            crate::events::EventKind::PoolAccessOutsideAllocation,
            None,
            Some(va),
            format!("driver code {what} {len} bytes of pool at {va}: the access {where_}"),
        );
    }

    /// Frees a pool allocation for the kernel: [`PoolCtx::free`].
    pub(crate) fn pool_free(&mut self, va: Va, tag: Option<u32>) -> Result<()> {
        self.pool_ctx().free(va, tag)
    }

    /// [`ExAllocatePoolWithTag`]: non-paged or paged pool, **not zeroed** — the block
    /// holds the stale bytes of the frame's or block's previous owner. `Ok(None)` is
    /// the NULL return (pool limit or physical memory exhausted).
    ///
    /// A request of [`POOL_BLOCK_MAX`](crate::pool::POOL_BLOCK_MAX) (`PAGE_SIZE - 32`)
    /// bytes or less is a block of a shared pool page after a 16-byte header; a larger
    /// one is whole, page-aligned pages.
    /// A zero-byte request is Verifier's `0xC4` 0x00 (P2 the IRQL, P3 the pool type, P4
    /// 0); without Verifier it gets a minimal block.
    ///
    /// # Errors
    /// Above `APC_LEVEL` for [`PoolType::Paged`], above `DISPATCH_LEVEL` otherwise:
    /// Verifier's `0xC4` 0x01 / 0x02 (P2 the IRQL, P3 the pool type, P4 the size).
    ///
    /// # Examples
    /// ```
    /// use mdlsim::{Config, Machine, pool::{PoolType, tag}};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let va = m.ex_allocate_pool_with_tag(PoolType::NonPaged, 8192, tag(b"Test")).unwrap().unwrap();
    /// assert!(va.is_page_aligned());
    /// m.ex_free_pool_with_tag(va, tag(b"Test")).unwrap();
    /// ```
    ///
    /// [`ExAllocatePoolWithTag`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-exallocatepoolwithtag
    #[doc(alias = "ExAllocatePoolWithTag")]
    pub fn ex_allocate_pool_with_tag(
        &mut self,
        pool_type: PoolType,
        size: u64,
        tag: u32,
    ) -> Result<Option<Va>> {
        self.enter("ExAllocatePoolWithTag")?;
        self.pool_ddi_alloc(pool_type, size, tag, false)
    }
    /// [`ExAllocatePool2`]: paged pool with `POOL_FLAG_PAGED`, else non-paged (no-execute)
    /// pool; zeroed unless `POOL_FLAG_UNINITIALIZED` is given. `Ok(None)` is the NULL
    /// return.
    ///
    /// # Errors
    /// As [`Machine::ex_allocate_pool_with_tag`] for the pool chosen.
    ///
    /// [`ExAllocatePool2`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-exallocatepool2
    #[doc(alias = "ExAllocatePool2")]
    pub fn ex_allocate_pool2(&mut self, flags: u64, size: u64, tag: u32) -> Result<Option<Va>> {
        self.enter("ExAllocatePool2")?;
        let pool_type = if flags & POOL_FLAG_PAGED != 0 {
            PoolType::Paged
        } else {
            PoolType::NonPagedNx
        };
        self.pool_ddi_alloc(pool_type, size, tag, flags & POOL_FLAG_UNINITIALIZED == 0)
    }
    /// The free of `ExFreePool(WithTag)` once the IRQL is checked: an MDL's address frees
    /// the MDL's storage ([`Mm::free_mdl_storage`](crate::mm::Mm)); anything else is
    /// [`PoolCtx::free`], checking `tag` unless it is 0.
    ///
    /// The MDLs `MmAllocatePagesForMdl(Ex)` and `MmCreateMdl` return are pool the caller
    /// frees with `ExFreePool` (Microsoft, `MmAllocatePagesForMdlEx`: "call ExFreePool to
    /// release the memory allocated for the MDL structure"); ReactOS's `MmMdl.c` does so
    /// with `ExFreePoolWithTag(Mdl, 0)` on Windows, so a tag of 0 is not checked
    /// (`ExFreePool` is the same call without a tag). The model does not know the tag
    /// Windows gives an MDL's storage and checks none for an MDL.
    fn ddi_free(&mut self, va: Va, tag: u32) -> Result<()> {
        if let Some(i) = MdlId::slot_of(va) {
            if let Some(h) = self.mdls.live_at(i) {
                return self.mm().free_mdl_storage(MdlId(h));
            }
            if self.mdls.issued(i) {
                return Err(self.bug_check(
                    BugCheckCode::BAD_POOL_CALLER,
                    [0x07, 0, 0, va.raw()],
                    format!("ExFreePool of the MDL at {va}, which was already freed"),
                ));
            }
        }
        if self.config.verifier.enabled && self.pool.allocation_at(va).is_none() {
            return Err(self.verifier_bad_free(va));
        }
        self.pool_free(va, (tag != 0).then_some(tag))
    }

    /// Verifier's check of a free (an automatic check, Microsoft's "Automatic checks"
    /// page): an address where a block was and was freed is `0xC4` 0x13, P3 its pool
    /// header (the 16 bytes before a small block; a page-aligned block has none in line,
    /// so its own address), P2 and P4 (reserved, the header's contents) 0; any other
    /// address that no allocation returned is 0x10, P2 the address. Without Verifier the
    /// pool's own `BAD_POOL_CALLER` 0x07 / 0x46 ([`crate::verifier`]).
    fn verifier_bad_free(&mut self, va: Va) -> crate::fault::Fault {
        if self.pool.was_freed(va) {
            let header = if va.is_page_aligned() {
                va.raw()
            } else {
                va.raw() - crate::pool::POOL_HEADER_SIZE
            };
            return self.bug_check(
                BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [verifier::POOL_ALREADY_FREED, 0, header, 0],
                format!("ExFreePool of {va}, which was already freed (Verifier)"),
            );
        }
        self.bug_check(
            BugCheckCode::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::FREE_UNALLOCATED_ADDRESS, va.raw(), 0, 0],
            format!("ExFreePool of {va}, which is not a pool allocation (Verifier)"),
        )
    }

    /// [`ExFreePoolWithTag`]: frees an allocation — or an MDL's storage, given the MDL's
    /// address ([`MdlId::va`]) — at `DISPATCH_LEVEL` or below for non-paged pool,
    /// `APC_LEVEL` or below for paged pool. Its bytes stay in the frame (a later
    /// non-zeroing allocation sees them). An MDL freed this way is not prepared for reuse:
    /// its lock and its mapping, if any, stay (and leak).
    ///
    /// # Errors
    /// `BAD_POOL_CALLER (0xC2)`: P1 0x07 for a block (or MDL) already freed, 0x0A when a
    /// non-zero `tag` differs from the allocation's, 0x46 for an address that is not a
    /// pool allocation. Above the pool's IRQL: Verifier's `0xC4` 0x11 / 0x12.
    ///
    /// # Examples
    /// ```
    /// use mdlsim::{Config, Machine, mdl::CacheType};
    /// let mut m = Machine::new(Config::default()).unwrap();
    /// let mdl = m
    ///     .mm_allocate_pages_for_mdl_ex(0, u64::MAX, 0, 8192, CacheType::Cached, 0)
    ///     .unwrap()
    ///     .unwrap();
    /// m.mm_free_pages_from_mdl(mdl).unwrap();
    /// m.ex_free_pool_with_tag(mdl.va(), 0).unwrap(); // the MDL itself is pool
    /// assert!(m.mdl(mdl).is_err());
    /// ```
    ///
    /// [`ExFreePoolWithTag`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-exfreepoolwithtag
    #[doc(alias = "ExFreePoolWithTag")]
    pub fn ex_free_pool_with_tag(&mut self, va: Va, tag: u32) -> Result<()> {
        self.enter("ExFreePoolWithTag")?;
        self.check_free_irql(va)?;
        self.ddi_free(va, tag)
    }
    /// [`ExFreePool`]: like [`Machine::ex_free_pool_with_tag`] without the tag check.
    ///
    /// [`ExFreePool`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-exfreepool
    #[doc(alias = "ExFreePool")]
    pub fn ex_free_pool(&mut self, va: Va) -> Result<()> {
        self.enter("ExFreePool")?;
        self.check_free_irql(va)?;
        self.ddi_free(va, 0)
    }
    /// Outstanding pool allocations, in address order.
    pub fn pool_allocations(&self) -> impl Iterator<Item = &PoolAllocation> {
        self.pool.allocations()
    }
    /// Outstanding pool allocations with this tag.
    pub fn pool_allocations_with_tag(&self, tag: u32) -> impl Iterator<Item = &PoolAllocation> {
        self.pool.allocations().filter(move |a| a.tag == tag)
    }
    /// A harness control, not a DDI: while `on`, every `ExAllocatePoolWithTag` and
    /// `ExAllocatePool2` returns NULL, as at the pool limit, while the I/O manager's
    /// own buffers are still built: pool exhaustion between the build of a request and
    /// the driver's own allocations (the worst moment for the driver).
    ///
    /// # Errors
    /// The recorded bug check once the machine crashed.
    pub fn exhaust_pool(&mut self, on: bool) -> Result<()> {
        self.alive()?;
        self.pool.set_exhausted(on);
        Ok(())
    }
    /// Pool pages in use.
    pub fn pool_pages_in_use(&self) -> u64 {
        self.pool.pages_in_use()
    }
    /// System PTEs in use by kernel-mode MDL mappings.
    pub fn system_ptes_in_use(&self) -> u64 {
        self.sysptes.used()
    }
    /// System PTEs still free.
    pub fn system_ptes_available(&self) -> u64 {
        self.sysptes.available()
    }
}

/// The highest IRQL at which a block of `pool_type` may be allocated (or, with `free`,
/// freed), and Verifier's `0xC4` subcode above it: paged pool `APC_LEVEL` (0x01 / 0x11),
/// nonpaged pool `DISPATCH_LEVEL` (0x02 / 0x12).
fn pool_irql_limit(pool_type: PoolType, free: bool) -> (Kirql, u64) {
    match (pool_type.is_paged(), free) {
        (true, false) => (
            Kirql::APC_LEVEL,
            verifier::ALLOCATE_PAGED_POOL_ABOVE_APC_LEVEL,
        ),
        (true, true) => (Kirql::APC_LEVEL, verifier::FREE_PAGED_POOL_ABOVE_APC_LEVEL),
        (false, false) => (
            Kirql::DISPATCH_LEVEL,
            verifier::ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
        ),
        (false, true) => (
            Kirql::DISPATCH_LEVEL,
            verifier::FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
        ),
    }
}
