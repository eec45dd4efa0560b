//! The facade of the non-paged pool ([`crate::pool`]): each DDI enters the call and
//! delegates to the pool through a [`PoolCtx`] borrowed field by field; the rule each
//! follows is stated here, its code is in `src/pool.rs`.

use super::Machine;
use crate::addr::Va;
use crate::bugcheck::verifier;
use crate::fault::Result;
use crate::irql::Kirql;
use crate::pool::{POOL_FLAG_UNINITIALIZED, PoolAllocation, PoolCtx, PoolType};

impl Machine {
    /// The pool's context for one call (see [`PoolCtx`]).
    pub(crate) fn pool_ctx(&mut self) -> PoolCtx<'_> {
        let (pool, vm) = self.split_pool();
        PoolCtx { pool, vm }
    }

    /// Allocates from the pool for the kernel's own use (the I/O manager's system
    /// buffers): [`PoolCtx::alloc`].
    pub(crate) fn pool_alloc(&mut self, size: u64, tag: u32, zero: bool) -> Result<Option<Va>> {
        self.pool_ctx().alloc(size, tag, zero)
    }

    /// What the pool DDIs allocate: NULL while the harness exhausts the pool
    /// ([`Machine::exhaust_pool`]), else [`Machine::pool_alloc`]; a NULL return is
    /// remembered for blame.
    fn pool_ddi_alloc(&mut self, size: u64, tag: u32, zero: bool) -> Result<Option<Va>> {
        let r = if self.pool.exhausted() {
            Ok(None)
        } else {
            self.pool_alloc(size, tag, zero)
        };
        self.note_null(r)
    }

    /// Freeing nonpaged pool above `DISPATCH_LEVEL`: Verifier's `0xC4` 0x12, P3 the pool
    /// type, P4 the address ([semantics §5.9]).
    ///
    /// [semantics §5.9]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.9
    fn check_free_irql(&mut self, va: Va) -> Result<()> {
        self.check_irql(
            Kirql::DISPATCH_LEVEL,
            verifier::FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
            PoolType::NonPaged as u64,
            va.raw(),
        )
    }

    /// Frees a pool allocation for the kernel: [`PoolCtx::free`].
    pub(crate) fn pool_free(&mut self, va: Va, tag: Option<u32>) -> Result<()> {
        self.pool_ctx().free(va, tag)
    }

    /// [`ExAllocatePoolWithTag`]: non-paged pool, **not zeroed** — the block holds
    /// the stale bytes of the frame's or block's previous owner. `Ok(None)` is
    /// the NULL return (pool limit or physical memory exhausted).
    ///
    /// A request of `PAGE_SIZE - 16` bytes or less is a block of a shared pool
    /// page after a 16-byte header; a larger one is whole, page-aligned pages.
    /// (A zero-byte request gets a minimal block, as on Windows without Verifier.)
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
        self.check_irql(
            Kirql::DISPATCH_LEVEL,
            verifier::ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
            pool_type as u64,
            size,
        )?;
        self.pool_ddi_alloc(size, tag, false)
    }
    /// [`ExAllocatePool2`]: non-paged pool, zeroed unless `POOL_FLAG_UNINITIALIZED` is given.
    /// `Ok(None)` is the NULL return.
    ///
    /// [`ExAllocatePool2`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-exallocatepool2
    #[doc(alias = "ExAllocatePool2")]
    pub fn ex_allocate_pool2(&mut self, flags: u64, size: u64, tag: u32) -> Result<Option<Va>> {
        self.enter("ExAllocatePool2")?;
        self.check_irql(
            Kirql::DISPATCH_LEVEL,
            verifier::ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL,
            PoolType::NonPaged as u64,
            size,
        )?;
        self.pool_ddi_alloc(size, tag, flags & POOL_FLAG_UNINITIALIZED == 0)
    }
    /// [`ExFreePoolWithTag`]: frees an allocation. Its bytes stay in the frame
    /// (a later non-zeroing allocation sees them).
    ///
    /// # Errors
    /// `BAD_POOL_CALLER (0xC2)`: P1 0x07 for a block already freed, 0x0A when
    /// `tag` differs from the allocation's, 0x46 for an address that is not a
    /// pool allocation.
    ///
    /// [`ExFreePoolWithTag`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-exfreepoolwithtag
    #[doc(alias = "ExFreePoolWithTag")]
    pub fn ex_free_pool_with_tag(&mut self, va: Va, tag: u32) -> Result<()> {
        self.enter("ExFreePoolWithTag")?;
        self.check_free_irql(va)?;
        self.pool_free(va, Some(tag))
    }
    /// [`ExFreePool`]: like [`Machine::ex_free_pool_with_tag`] without the tag check.
    ///
    /// [`ExFreePool`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-exfreepool
    #[doc(alias = "ExFreePool")]
    pub fn ex_free_pool(&mut self, va: Va) -> Result<()> {
        self.enter("ExFreePool")?;
        self.check_free_irql(va)?;
        self.pool_free(va, None)
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
