//! Wine, `dlls/ntoskrnl.exe/tests/driver.c`, `test_mdl_map` (run on Windows; `todo_wine`
//! marks only where Wine differs).
//!
//! The test describes a 20-byte buffer on the driver's kernel stack; the model has no
//! kernel stacks, so the buffer is a non-paged pool block (system space, resident, as a
//! stack page is while its thread runs).

use crate::common::*;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, priority};
use mdlsim::pool::{PoolType, tag};

/// `IoAllocateMdl(buffer, 20)` is non-NULL; after `MmProbeAndLockPages(KernelMode,
/// IoReadAccess)`, `MmMapLockedPagesSpecifyCache(KernelMode, MmCached, NULL, FALSE,
/// NormalPagePriority)` returns a non-NULL address; `MmUnmapLockedPages` then
/// `IoFreeMdl` (without `MmUnlockPages`, as the test does) do not crash. The lock the
/// MDL took is leaked, which the model records.
#[test]
fn mdl_map_of_a_kernel_buffer_locked_for_read_maps_and_frees_without_unlock() {
    let mut m = machine();
    let buffer = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, 20, tag(b"Test"))
        .unwrap()
        .unwrap();
    m.kernel_write(buffer, b"test buffer\0\0\0\0\0\0\0\0\0")
        .unwrap();
    let mdl = m
        .io_allocate_mdl(buffer, 20, false, false, None)
        .unwrap()
        .expect("IoAllocateMdl failed");
    m.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, LockOperation::IoReadAccess)
        .unwrap();
    let addr = m
        .mm_map_locked_pages_specify_cache(
            mdl,
            AccessMode::KernelMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL,
        )
        .unwrap()
        .expect("MmMapLockedPagesSpecifyCache failed");
    assert_eq!(m.kernel_read(addr, 11).unwrap(), b"test buffer");
    m.mm_unmap_locked_pages(addr, mdl).unwrap();
    m.io_free_mdl(mdl).unwrap();
    assert!(m.crashed().is_none());
    assert_eq!(m.leaked_locks().len(), 1);
}
