//! The parameter-1 sub-code tables of the bug check codes that document them (re-exported from
//! [`crate::bugcheck`]).

/// Defines a sub-code module's `u64` constants (ready for `params[0]`), its `ALL` table and `name`.
macro_rules! subcodes {
    ($( $(#[$meta:meta])* $name:ident = $value:literal ; )*) => {
        $( $(#[$meta])* pub const $name: u64 = $value; )*

        /// Every parameter-1 value this module defines, with its constant's name.
        pub const ALL: &[(u64, &str)] = &[$(($value, stringify!($name))),*];

        /// The constant name for a parameter-1 value, if this module defines it.
        pub const fn name(p1: u64) -> Option<&'static str> {
            match p1 {
                $( $value => Some(stringify!($name)), )*
                _ => None,
            }
        }
    };
}

/// Parameter-1 values of `DRIVER_VERIFIER_DETECTED_VIOLATION` (0xC4) for pool, MDL and IRP
/// misuse ([page 0xC4]). Doc format: meaning; P2, P3, P4.
///
/// [page 0xc4]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc4--driver-verifier-detected-violation
pub mod verifier {
    subcodes! {
        /// A zero-byte pool allocation; P2 the IRQL, P3 the pool type, P4 the size (0).
        ZERO_BYTE_ALLOCATION = 0x00;
        /// Allocating paged pool at IRQL > APC_LEVEL; P2 IRQL, P3 pool type, P4 size in
        /// bytes.
        ALLOCATE_PAGED_POOL_ABOVE_APC_LEVEL = 0x01;
        /// Allocating nonpaged pool at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 pool type, P4
        /// size in bytes.
        ALLOCATE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL = 0x02;
        /// Freeing an address no allocation returned; P2 bad address, P3 0, P4 0.
        FREE_UNALLOCATED_ADDRESS = 0x10;
        /// Freeing paged pool at IRQL > APC_LEVEL; P2 IRQL, P3 pool type, P4 pool address.
        FREE_PAGED_POOL_ABOVE_APC_LEVEL = 0x11;
        /// Freeing nonpaged pool at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 pool type, P4 pool address.
        FREE_NONPAGED_POOL_ABOVE_DISPATCH_LEVEL = 0x12;
        /// Freeing pool that was already freed (double free); P2 reserved, P3 pool header address,
        /// P4 pool header contents.
        POOL_ALREADY_FREED = 0x13;
        /// Freeing pool that was already freed (second documented value, same meaning as 0x13).
        POOL_ALREADY_FREED_ALT = 0x14;
        /// Freeing pool at a bad address, or bad parameters to a memory routine; P2 reserved,
        /// P3 pool address, P4 0.
        FREE_POOL_BAD_ADDRESS = 0x16;
        /// Driver unloading without freeing its pool (Pool Tracking); P2 driver name, P3 reserved,
        /// P4 outstanding allocation count.
        UNLOAD_WITH_OUTSTANDING_POOL = 0x62;
        /// `KeRaiseIrql` to an IRQL below the current one or above HIGH_LEVEL; P2 current
        /// IRQL, P3 requested IRQL, P4 0.
        RAISE_IRQL_INVALID = 0x30;
        /// `KeLowerIrql` to an IRQL above the current one or above HIGH_LEVEL; P2 current
        /// IRQL, P3 requested IRQL, P4 0 (1: inside a DPC routine).
        LOWER_IRQL_INVALID = 0x31;
        /// `KeReleaseSpinLock` at an IRQL other than DISPATCH_LEVEL (a double release,
        /// say); P2 current IRQL, P3 spin lock address, P4 0.
        RELEASE_SPIN_LOCK_NOT_AT_DISPATCH_LEVEL = 0x32;
        /// `KeAcquireSpinLock` at IRQL > DISPATCH_LEVEL; P2 current IRQL, P3 spin lock
        /// address, P4 0.
        ACQUIRE_SPIN_LOCK_ABOVE_DISPATCH_LEVEL = 0x42;
        /// `MmProbeAndLockPages` at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL, P4 access mode.
        PROBE_AND_LOCK_ABOVE_DISPATCH_LEVEL = 0x70;
        /// `MmProbeAndLockProcessPages` at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL, P4 the
        /// process's address.
        PROBE_AND_LOCK_PROCESS_PAGES_ABOVE_DISPATCH_LEVEL = 0x71;
        /// `MmMapLockedPages` (kernel mode) at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL, P4 access mode.
        MAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL = 0x74;
        /// `MmMapLockedPages` (user mode) at IRQL > APC_LEVEL; P2 IRQL, P3 MDL, P4 access mode.
        MAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL = 0x75;
        /// `MmMapLockedPagesSpecifyCache` (kernel mode) at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL,
        /// P4 access mode.
        MAP_SPECIFY_CACHE_KERNEL_ABOVE_DISPATCH_LEVEL = 0x76;
        /// `MmMapLockedPagesSpecifyCache` (user mode) at IRQL > APC_LEVEL; P2 IRQL, P3 MDL,
        /// P4 access mode.
        MAP_SPECIFY_CACHE_USER_ABOVE_APC_LEVEL = 0x77;
        /// `MmUnlockPages` at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 MDL, P4 0.
        UNLOCK_PAGES_ABOVE_DISPATCH_LEVEL = 0x78;
        /// `MmUnmapLockedPages` (kernel mode) at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 VA being
        /// unmapped, P4 MDL.
        UNMAP_LOCKED_PAGES_KERNEL_ABOVE_DISPATCH_LEVEL = 0x79;
        /// `MmUnmapLockedPages` (user mode) at IRQL > APC_LEVEL; P2 IRQL, P3 VA being unmapped, P4 MDL.
        UNMAP_LOCKED_PAGES_USER_ABOVE_APC_LEVEL = 0x7A;
        /// `MmUnlockPages` on an MDL whose pages were never successfully locked; P2 MDL,
        /// P3 MDL flags, P4 0 ([invariant 8]).
        ///
        /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
        UNLOCK_PAGES_NEVER_LOCKED = 0x7C;
        /// `MmUnlockPages` on an MDL describing nonpaged pool (never to be unlocked); P2 MDL,
        /// P3 MDL flags, P4 0 ([invariant 8], [invariant 19]).
        ///
        /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
        /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
        UNLOCK_PAGES_NONPAGED_POOL_MDL = 0x7D;
        /// `MmAllocatePagesForMdl(Ex)` / `MmFreePagesFromMdl` at IRQL > DISPATCH_LEVEL; P2 IRQL,
        /// P3 DISPATCH_LEVEL, P4 0.
        PAGES_FOR_MDL_ABOVE_DISPATCH_LEVEL = 0x7E;
        /// `MmBuildMdlForNonPagedPool` on an MDL whose pages are paged pool; P2 IRQL, P3 MDL,
        /// P4 MDL flags ([invariant 19]).
        ///
        /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
        BUILD_MDL_FOR_NONPAGED_POOL_ON_PAGED_POOL = 0x7F;
        /// `MmMapLockedPages` was called (use `MmMapLockedPagesSpecifyCache` with
        /// BugCheckOnFailure FALSE instead); P2 MDL, P3 MDL flags, P4 0.
        MAP_LOCKED_PAGES_CALLED = 0x81;
        /// `MmMapLockedPagesSpecifyCache` with BugCheckOnFailure TRUE; P2 MDL, P3 MDL flags, P4 0.
        MAP_SPECIFY_CACHE_BUGCHECK_ON_FAILURE = 0x82;
        /// `MmMapIoSpace` over physical pages that are not locked down; P2 start physical address,
        /// P3 byte count, P4 first PFN not locked.
        MAP_IO_SPACE_PAGES_NOT_LOCKED = 0x83;
        /// `MmMapLockedPages` on an MDL whose pages are not locked; P2 MDL, P3 page count,
        /// P4 first PFN not locked ([invariant 14]).
        ///
        /// [invariant 14]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-14
        MAP_LOCKED_PAGES_NOT_LOCKED = 0x85;
        /// An MDL not marked I/O contains non-memory page numbers; P2 MDL, P3 pointer to the
        /// PFN-array entry, P4 the non-memory page number.
        MDL_NON_MEMORY_PAGE_NOT_IO_SPACE = 0x89;
        /// `MmProbeAndLockPages` on an MDL with incorrect flags (e.g. built by
        /// `MmBuildMdlForNonPagedPool`); P2 MDL, P3 MDL flags, P4 the incorrect flags ([invariant 4]).
        ///
        /// [invariant 4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-4
        PROBE_AND_LOCK_BAD_MDL_FLAGS = 0xB0;
        /// `MmProbeAndLockProcessPages` on an MDL with incorrect flags; P2 MDL, P3 MDL flags,
        /// P4 the incorrect flags.
        PROBE_AND_LOCK_PROCESS_PAGES_BAD_MDL_FLAGS = 0xB1;
        /// `MmMapLockedPages` on an MDL with incorrect flags (e.g. already mapped to system VA);
        /// P2 MDL, P3 MDL flags, P4 the incorrect flags ([invariant 13]).
        ///
        /// [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
        MAP_LOCKED_PAGES_BAD_MDL_FLAGS = 0xB2;
        /// `MmMapLockedPages` on an MDL missing required flags (e.g. not locked); P2 MDL,
        /// P3 MDL flags, P4 the missing flags ([invariant 13]).
        ///
        /// [invariant 13]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-13
        MAP_LOCKED_PAGES_MISSING_MDL_FLAGS = 0xB3;
        /// `MmUnlockPages` on a partial MDL (built by `IoBuildPartialMdl`); P2 MDL, P3 MDL flags,
        /// P4 the unexpected partial flag ([invariant 24]).
        ///
        /// [invariant 24]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-24
        UNLOCK_PAGES_PARTIAL_MDL = 0xB4;
        /// `MmUnmapLockedPages` of a partial MDL (one mapped on its own: `IoFreeMdl` and
        /// `MmPrepareMdlForReuse` unmap those); P2 the MDL, P3 its flags, P4 the
        /// unexpected partial flag.
        UNMAP_LOCKED_PAGES_PARTIAL_MDL = 0xB5;
        /// `MmUnmapLockedPages` of an MDL that is not mapped to a system address (a second
        /// unmap, say); P2 the MDL, P3 its flags, P4 the missing flag
        /// (`MDL_MAPPED_TO_SYSTEM_VA`).
        UNMAP_LOCKED_PAGES_NOT_MAPPED = 0xB6;
        /// `MmUnmapLockedPages` of a user address where the current process has no MDL
        /// mapping (a stale or wrong address, or the wrong process); P2 the address being
        /// unmapped, P3 the MDL, P4 reserved.
        UNMAP_LOCKED_PAGES_BAD_USER_ADDRESS = 0xB9;
        /// `IoFreeMdl` while the MDL's pages are still mapped; P2 MDL, P3 MDL flags, P4 reserved
        /// ([invariant 25]).
        ///
        /// [invariant 25]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-25
        FREE_MDL_STILL_MAPPED = 0xB8;
        /// A user-mode address was passed to a kernel function; P2 address, P3 range size, P4 reserved.
        USER_ADDRESS_PASSED_TO_KERNEL = 0xE0;
        /// A KernelMode IRP holds a user-mode address; P2 IRP, P3 the user address, P4 reserved.
        KERNEL_IRP_WITH_USER_ADDRESS = 0xE2;
        /// `memcpy` with overlapping buffers; P2 destination, P3 source, P4 byte count.
        MEMCPY_OVERLAP = 0xF0;
        /// An IRP was released with `ExFreePool` instead of `IoFreeIrp`; P2 IRP.
        IRP_FREED_WITH_EX_FREE_POOL = 0x105;
        /// A cancelled IRP was not completed in the expected time; P2 IRP, P3 allowed milliseconds.
        CANCELLED_IRP_NOT_COMPLETED = 0x135;
        /// `ExFreePool` address differs from the one Verifier tracked; P2 caller's address,
        /// P3 tracked address, P4 pointer to the tracked address.
        FREE_POOL_ADDRESS_MISMATCH = 0x13E;
        /// `ExFreePool` byte count differs from the tracked one; P2 block, P3 bytes freed,
        /// P4 pointer to the tracked byte count.
        FREE_POOL_SIZE_MISMATCH = 0x13F;
        /// A non-locked MDL was built over pageable or tradable memory; P2 IRQL, P3 MDL, P4 its VA.
        NON_LOCKED_MDL_OVER_PAGEABLE_MEMORY = 0x140;
    }
}

/// Parameter-1 values of `DRIVER_VERIFIER_IOMANAGER_VIOLATION` (0xC9) ([page 0xC9]).
///
/// Values 0x01–0x12 are the page's first table (P2–P4 as documented per value). Values ≥ 0x200
/// are the page's "I/O error codes" (shown as `WDM DRIVER ERROR`); for those the page lists the
/// dump contents as the error code, the address in the driver that was detected, the IRP and the
/// device object, which this model maps to P1–P4 in that order.
///
/// [page 0xc9]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc9--driver-verifier-iomanager-violation
pub mod io_verifier {
    subcodes! {
        /// Freeing an object whose type is not `IO_TYPE_IRP`; P2 the object, P3 0, P4 0.
        FREE_NON_IRP = 0x01;
        /// Freeing an IRP still associated with a thread; P2 IRP, P3 0, P4 0 ([invariant 27]).
        ///
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        FREE_IRP_STILL_ON_THREAD = 0x02;
        /// `IoCallDriver` given an IRP whose Type is not IRP_TYPE; P2 IRP, P3 0, P4 0.
        CALL_DRIVER_NOT_AN_IRP = 0x03;
        /// `IoCallDriver` given an invalid device object; P2 device object, P3 0, P4 0.
        CALL_DRIVER_INVALID_DEVICE = 0x04;
        /// IRQL changed across a dispatch routine; P2 device object, P3 IRQL before, P4 IRQL after.
        DISPATCH_CHANGED_IRQL = 0x05;
        /// `IoCompleteRequest` with STATUS_PENDING (or −1); P2 the status, P3 IRP, P4 0
        /// ([semantics §5.7], [invariant 27]).
        ///
        /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        COMPLETE_WITH_PENDING_STATUS = 0x06;
        /// `IoCompleteRequest` while a cancel routine is still set; P2 cancel routine, P3 IRP, P4 0
        /// ([semantics §5.7], [invariant 27]).
        ///
        /// [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        COMPLETE_WITH_CANCEL_ROUTINE = 0x07;
        /// `IoBuildAsynchronousFsdRequest` given an invalid buffer; P2 device object, P3 major
        /// function, P4 exception status ([semantics §5.4]).
        ///
        /// [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
        BUILD_ASYNC_FSD_INVALID_BUFFER = 0x08;
        /// `IoBuildDeviceIoControlRequest` given an invalid buffer; P2 device object, P3 IOCTL,
        /// P4 exception status ([semantics §5.4]).
        ///
        /// [semantics §5.4]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.4
        BUILD_DEVICE_IO_CONTROL_INVALID_BUFFER = 0x09;
        /// An IRP's I/O status block lives on a stack that has already unwound; P2 IOSB, P3 0, P4 0.
        IOSB_ON_UNWOUND_STACK = 0x0C;
        /// An IRP's user event lives on a stack that has already unwound; P2 event, P3 0, P4 0.
        USER_EVENT_ON_UNWOUND_STACK = 0x0D;
        /// `IoCompleteRequest` at IRQL > DISPATCH_LEVEL; P2 IRQL, P3 IRP, P4 0.
        COMPLETE_ABOVE_DISPATCH_LEVEL = 0x0E;
        /// `IoCallDriver` above DISPATCH_LEVEL; P2 IRQL, P3–P4 reserved.
        CALL_DRIVER_ABOVE_DISPATCH_LEVEL = 0x10;
        /// `IoCallDriver` with the IRP's cancel routine not NULL (fatal).
        CALL_DRIVER_WITH_CANCEL_ROUTINE = 0x203;
        /// Forwarding an IRP that is currently queued beneath the caller (fatal).
        FORWARD_QUEUED_IRP = 0x205;
        /// The IRP is about to run out of stack locations (fatal; [semantics §7] 0x35).
        ///
        /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
        IRP_OUT_OF_STACK_LOCATIONS = 0x208;
        /// Completing an IRP that is currently queued beneath the caller (fatal).
        COMPLETE_QUEUED_IRP = 0x209;
        /// `IoFreeIrp` on an IRP still in use (original IRP and IRP in use given) (fatal).
        FREE_IRP_IN_USE = 0x20A;
        /// `IoFreeIrp` on an IRP still in use (fatal).
        FREE_IRP_IN_USE_ALT = 0x20B;
        /// `IoFreeIrp` on an IRP still queued against a thread (fatal; [invariant 27]).
        ///
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        FREE_IRP_QUEUED_TO_THREAD = 0x20C;
        /// A dispatch routine returned a status inconsistent with `IoStatus.Status` (fatal).
        DISPATCH_STATUS_INCONSISTENT = 0x224;
        /// A dispatch routine returned the illegal status 0xFFFFFFFF (non-fatal).
        DISPATCH_RETURNED_ILLEGAL_STATUS = 0x225;
        /// A dispatch routine returned without forwarding or completing the IRP, or without
        /// returning STATUS_PENDING (fatal).
        DISPATCH_LOST_IRP = 0x226;
        /// A completion routine did not mark the IRP pending though `PendingReturned` was set (non-fatal).
        COMPLETION_ROUTINE_DID_NOT_MARK_PENDING = 0x228;
        /// A cancel routine was set on an IRP being processed by lower drivers (fatal).
        CANCEL_ROUTINE_SET_WHILE_OWNED_BELOW = 0x229;
        /// An IRP was completed without clearing its cancel routine (fatal; [invariant 27]).
        ///
        /// [invariant 27]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-27
        COMPLETED_WITH_CANCEL_ROUTINE = 0x23C;
        /// STATUS_PENDING returned without `IoMarkIrpPending` (non-fatal).
        PENDING_RETURNED_NOT_MARKED = 0x23D;
        /// `IoMarkIrpPending` called but STATUS_PENDING not returned (non-fatal).
        MARKED_PENDING_NOT_RETURNED = 0x23E;
        /// A filter did not copy DO_BUFFERED_IO / DO_DIRECT_IO from the device it attached to
        /// (fatal; [semantics §5.1]).
        ///
        /// [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1
        BUFFERING_FLAGS_NOT_COPIED = 0x244;
        /// Both DO_BUFFERED_IO and DO_DIRECT_IO are set; they are mutually exclusive
        /// (fatal; [semantics §5.1]).
        ///
        /// [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1
        BOTH_BUFFERED_AND_DIRECT_IO = 0x245;
        /// STATUS_PENDING returned without `IoMarkIrpPending` (Windows XP+ table; non-fatal).
        PENDING_RETURNED_NOT_MARKED_ALT = 0x24C;
    }
}

/// Parameter-1 values of `MEMORY_MANAGEMENT` (0x1A) concerning MDLs, locked pages and pool
/// frees ([page 0x1A], current and "previous versions" tables).
///
/// [page 0x1a]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x1a--memory-management
pub mod memory_management {
    subcodes! {
        /// (Earlier Windows) `MmGetSystemAddressForMdl*` would map a fully cached page non-cached
        /// and the MDL asked for bug-check-on-failure.
        CACHED_PAGE_MAPPED_NONCACHED = 0x1000;
        /// Unlocking a pageable section that is not locked (never locked or unlocked twice).
        UNLOCK_SECTION_NOT_LOCKED = 0x1010;
        /// Mapping a physical page that is not locked; P2 its PFN ([invariant 14]).
        ///
        /// [invariant 14]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-14
        MAP_UNLOCKED_PAGE = 0x1233;
        /// Protecting an MDL with an invalid mapping.
        PROTECT_MDL_INVALID_MAPPING = 0x1235;
        /// An MDL contains an unlocked (or invalid) physical page; P2 MDL, P3 pointer to the PFN
        /// entry, P4 the PFN ([invariant 20], `MmFreePagesFromMdl`).
        ///
        /// [invariant 20]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-20
        MDL_UNLOCKED_OR_INVALID_PAGE = 0x1236;
        /// Building an MDL for a virtual range that is not resident; P2 MDL, P3 PTE pointer
        /// ([`crate::addr::pte_address`]; [invariant 19]).
        ///
        /// [invariant 19]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-19
        MDL_FOR_NONRESIDENT_RANGE = 0x1240;
        /// (Earlier Windows) the MDL's VA was unmapped asynchronously while the MDL was being
        /// built; P2 MDL, P3 PTE pointer.
        MDL_VA_UNMAPPED_DURING_BUILD = 0x1241;
        /// Freeing an invalid pool address; P2 the VA, P3 the region size.
        FREE_INVALID_POOL_ADDRESS_REGION = 0x5305;
        /// Freeing an invalid pool address.
        FREE_INVALID_POOL_ADDRESS = 0x41286;
        /// (Earlier Windows) a flawed MDL, typically a write MDL built for a paging read by the
        /// caller of `MmProbeAndLockPages`.
        FLAWED_MDL = 0x61946;
        /// Unlocking an I/O-space range whose accounting node is missing (never locked or already
        /// unlocked); P2 base I/O frame, P3 page count, P4 the frame.
        IO_SPACE_RANGE_NOT_LOCKED = 0x61948;
        /// Dereferencing an I/O-space page that is not referenced during unmap; P2–P3 the range,
        /// P4 the page.
        IO_SPACE_PAGE_NOT_REFERENCED = 0x6194A;
    }
}

/// Parameter-1 values of `PFN_LIST_CORRUPT` (0x4E) ([page 0x4E]).
///
/// [page 0x4e]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x4e--pfn-list-corrupt
pub mod pfn_list_corrupt {
    subcodes! {
        /// A list head was corrupted; P2 the list head, P3 pages available, P4 0.
        LIST_HEAD_CORRUPT = 0x01;
        /// A list entry was corrupted; P2 the entry, P3 highest physical page, P4 its reference count.
        LIST_ENTRY_CORRUPT = 0x02;
        /// A page was unlocked more times than it was locked (typically a double
        /// `MmUnlockPages`); P2 PFN, P3 current share count, P4 0 ([invariant 8]).
        ///
        /// [invariant 8]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-8
        UNLOCKED_MORE_THAN_LOCKED = 0x07;
        /// The page-free list is corrupt (likely hardware); P2 PFN, P3 0, P4 0.
        FREE_LIST_CORRUPT = 0x8D;
        /// The free or zeroed page list head is corrupt; P2 new page, P3 old page, P4 0.
        FREE_OR_ZEROED_LIST_HEAD_CORRUPT = 0x8F;
        /// A PTE or PFN is corrupt; P2 PFN, P3 current page state, P4 0 ([semantics §7]).
        ///
        /// [semantics §7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s7
        PTE_OR_PFN_CORRUPT = 0x99;
        /// Freeing a page still locked for I/O; P2 PFN, P3 current page state, P4 its reference
        /// count ([invariant 12]).
        ///
        /// [invariant 12]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-12
        FREE_PAGE_LOCKED_FOR_IO = 0x9A;
    }
}

/// Parameter-1 values of `PROCESS_HAS_LOCKED_PAGES` (0x76) ([page 0x76]).
///
/// [page 0x76]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0x76--process-has-locked-pages
pub mod process_has_locked_pages {
    subcodes! {
        /// A terminating process still has locked pages; P2 process, P3 locked page count,
        /// P4 driver stacks or 0 ([semantics §6], [invariant 11]).
        ///
        /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
        /// [invariant 11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-11
        PROCESS_EXIT_WITH_LOCKED_PAGES = 0x00;
        /// Unlocking process pages that are not locked; P2 MDL, P3 the process's locked page
        /// count, P4 driver stacks or 0 ([semantics §6]).
        ///
        /// [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6
        UNLOCK_PAGES_NOT_LOCKED = 0x01;
    }
}

/// Parameter-1 values of `LOCKED_PAGES_TRACKER_CORRUPTION` (0xD9) ([page 0xD9]).
///
/// [page 0xd9]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xd9--locked-pages-tracker-corruption
pub mod locked_pages_tracker_corruption {
    subcodes! {
        /// The MDL is inserted twice on the same process list; P2 tracker, P3 MDL, P4 pages
        /// locked for the process.
        MDL_INSERTED_TWICE_PROCESS_LIST = 0x01;
        /// The MDL is inserted twice on the systemwide list; P2 tracker, P3 MDL, P4 pages
        /// locked for the process.
        MDL_INSERTED_TWICE_SYSTEM_LIST = 0x02;
        /// The MDL was found twice in the process list when freed; P2 first tracker found,
        /// P3 tracker, P4 MDL.
        MDL_FOUND_TWICE_ON_FREE = 0x03;
        /// The MDL was still in the systemwide list on free after removal; P2 tracker, P3 MDL, P4 0.
        MDL_IN_SYSTEM_LIST_AFTER_REMOVAL = 0x04;
    }
}

/// Parameter-1 values of `SYSTEM_PTE_MISUSE` (0xDA) ([page 0xDA]). Values 0x01–0x06 need PTE
/// tracking; 0x1xx–0x3xx concern reserved mapping ranges (`MmAllocateMappingAddress` family).
/// The page's Windows-2000-only values 0x07–0x11 are not modelled.
///
/// [page 0xda]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xda--system-pte-misuse
pub mod system_pte_misuse {
    subcodes! {
        /// The mapping being freed is a duplicate; P2 tracker, P3 MDL, P4 duplicate tracker.
        DUPLICATE_FREE = 0x01;
        /// Wrong number of mappings freed; P2 tracker, P3 expected count, P4 count requested.
        WRONG_MAPPING_COUNT = 0x02;
        /// Wrong mapping address freed; P2 first tracker, P3 expected address, P4 address given
        /// ([invariant 18]).
        ///
        /// [invariant 18]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-18
        WRONG_MAPPING_ADDRESS = 0x03;
        /// The MDL's first page changed since it was mapped; P2 tracker, P3 expected PFN,
        /// P4 current first PFN.
        MDL_FIRST_PAGE_CHANGED = 0x04;
        /// The MDL's start VA changed since it was mapped; P2 first tracker, P3 expected VA,
        /// P4 VA given ([invariant 18]).
        ///
        /// [invariant 18]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-18
        MDL_START_VA_CHANGED = 0x05;
        /// The MDL being unmapped was never (or is not currently) mapped; P2 MDL, P3 VA,
        /// P4 mapping count (double unmap; [invariant 17]).
        ///
        /// [invariant 17]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#invariant-17
        MDL_NOT_MAPPED = 0x06;
        /// Zero mappings requested; P2 count, P3 caller's tag, P4 caller's caller.
        ZERO_MAPPINGS_REQUESTED = 0x100;
        /// Freeing a mapping range the caller does not own; P2 first address, P3 caller's tag,
        /// P4 owner's tag.
        FREE_RANGE_NOT_OWNED = 0x101;
        /// Freeing a mapping range that is apparently empty; P2 first address, P3 caller's tag.
        FREE_RANGE_EMPTY = 0x102;
        /// Freeing a mapping range still in use (`MmUnmapReservedMapping` first); P2 invalid
        /// mapping, P3 caller's tag, P4 mapping count.
        FREE_RANGE_STILL_MAPPED = 0x103;
        /// Mapping an MDL into a range the caller does not own; P2 first address, P3 caller's tag,
        /// P4 owner's tag ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        MAP_INTO_RANGE_NOT_OWNED = 0x104;
        /// Mapping an MDL into an invalid range; P2 first address, P3 caller's tag ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        MAP_INTO_INVALID_RANGE = 0x105;
        /// Mapping an MDL into a range not properly reserved (not unmapped first); P2 first
        /// address, P3 non-empty mapping, P4 last address.
        MAP_INTO_RANGE_NOT_EMPTY = 0x107;
        /// Unmapping a range the caller does not own; P2 first address, P3 caller's tag,
        /// P4 owner's tag ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        UNMAP_RANGE_NOT_OWNED = 0x108;
        /// Unmapping a range that is apparently empty; P2 first address, P3 caller's tag
        /// ([semantics §3.11]).
        ///
        /// [semantics §3.11]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s3.11
        UNMAP_RANGE_EMPTY = 0x109;
        /// Unmapping more mappings than exist; P2 first address, P3 mappings in range,
        /// P4 count to unmap.
        UNMAP_TOO_MANY = 0x10A;
        /// Unmapping a part of the range that is not mapped; P2 first address, P3 caller's tag,
        /// P4 count to unmap.
        UNMAP_NOT_MAPPED_PART = 0x10B;
        /// Not unmapping the whole range; P2 first address, P3 caller's tag, P4 count to unmap.
        UNMAP_PARTIAL_RANGE = 0x10C;
        /// Reserving a range that contains no mappings; P2 first address, P3 0, P4 0.
        RESERVE_EMPTY_RANGE = 0x200;
        /// A mapping to be reserved is already reserved; P2 first address, P3 reserved mapping,
        /// P4 count.
        RESERVE_ALREADY_RESERVED = 0x201;
        /// A mapping to be reserved is already reserved (second documented value).
        RESERVE_ALREADY_RESERVED_ALT = 0x202;
        /// Releasing a range that contains no mappings; P2 first address, P3 0, P4 0.
        RELEASE_EMPTY_RANGE = 0x300;
        /// Releasing a mapping the caller may not release; P2 mapping, P3 0, P4 0.
        RELEASE_NOT_PERMITTED = 0x301;
        /// Releasing a system address that is not mapped; P2 address, P3–P4 reserved.
        RELEASE_NOT_MAPPED = 0x302;
        /// Releasing a range that was not reserved; P2 first address, P3 count, P4 0.
        RELEASE_NOT_RESERVED = 0x303;
        /// Releasing a range that starts inside another allocation; P2 first address, P3 count, P4 0.
        RELEASE_MID_ALLOCATION = 0x304;
    }
}

/// Parameter-1 values of `BAD_POOL_CALLER` (0xC2) ([page 0xC2]). A tag mismatch on
/// `ExFreePoolWithTag` is [`bad_pool_caller::FREE_WITH_WRONG_TAG`] (0x0A) here, not a 0xC4 code.
///
/// [page 0xc2]: https://learn.microsoft.com/en-us/windows-hardware/drivers/debugger/bug-check-0xc2--bad-pool-caller
pub mod bad_pool_caller {
    subcodes! {
        /// A zero-byte allocation; P2 0, P3 pool type, P4 pool tag.
        ZERO_BYTE_ALLOCATION = 0x00;
        /// The pool header is corrupt; P2 pool header, P3 first part of its contents, P4 0.
        POOL_HEADER_CORRUPT = 0x01;
        /// The pool header is corrupt (second documented value, same parameters).
        POOL_HEADER_CORRUPT_2 = 0x02;
        /// The pool header is corrupt (third documented value, same parameters).
        POOL_HEADER_CORRUPT_4 = 0x04;
        /// Freeing pool that was already freed; P2 reserved, P3 pool header, P4 header contents.
        DOUBLE_FREE_HEADER = 0x06;
        /// Freeing pool that was already freed; P2 reserved, P3 header contents, P4 block address.
        DOUBLE_FREE = 0x07;
        /// Allocating at an invalid IRQL; P2 IRQL, P3 pool type, P4 size.
        ALLOCATE_AT_BAD_IRQL = 0x08;
        /// Freeing at an invalid IRQL; P2 IRQL, P3 pool type, P4 pool address.
        FREE_AT_BAD_IRQL = 0x09;
        /// Freeing with the wrong tag (the memory may belong to another component); P2 pool
        /// address, P3 allocator's tag, P4 tag used in the free.
        FREE_WITH_WRONG_TAG = 0x0A;
        /// Freeing kernel pool at a user-mode address; P2 address, P3 start of system space, P4 0.
        FREE_USER_ADDRESS = 0x40;
        /// Freeing a non-allocated nonpaged-pool address; P2 address, P3 physical page,
        /// P4 highest physical page.
        FREE_UNALLOCATED_NONPAGED = 0x41;
        /// Freeing an address that was never in any pool; P2 address, P3 0, P4 0.
        FREE_NEVER_IN_POOL = 0x42;
        /// Freeing an address that was never in any pool (second documented value).
        FREE_NEVER_IN_POOL_2 = 0x43;
        /// Freeing a non-allocated nonpaged-pool address; P2 address, P3 reserved, P4 0.
        FREE_UNALLOCATED_NONPAGED_2 = 0x44;
        /// Freeing an invalid pool address; P2 address, P3 0, P4 0.
        FREE_INVALID_ADDRESS = 0x46;
        /// Freeing a non-allocated nonpaged-pool address; P2 address, P3 physical page,
        /// P4 highest physical page.
        FREE_UNALLOCATED_NONPAGED_3 = 0x47;
        /// Freeing a non-allocated paged-pool address; P2 address, P3–P4 reserved.
        FREE_UNALLOCATED_PAGED = 0x48;
        /// Freeing a non-allocated paged-pool address; P2 address, P3 page offset into paged pool,
        /// P4 paged pool size.
        FREE_UNALLOCATED_PAGED_2 = 0x50;
        /// `MmFreeContiguousMemory` given a bad pointer; P2 address, P3 0, P4 0.
        FREE_BAD_CONTIGUOUS_MEMORY = 0x60;
        /// Freeing pool with an invalid address (or a corrupt header); P2 address, P3 0, P4 0.
        FREE_BAD_POOL_ADDRESS = 0x99;
        /// Freeing a paged-pool address in the middle of an allocation; P4 page offset into paged pool.
        FREE_PAGED_MID_ALLOCATION = 0x41286;
    }
}
