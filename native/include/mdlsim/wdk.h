/*
 * mdlsim's WDK-shaped C interface: the types, macros and DDIs a driver's buffer code
 * uses, for compiling that code unchanged on Linux (GCC or Clang) against mdlsim's model
 * of the Windows kernel. Written for mdlsim from the documented ABI (x64 layouts,
 * constant values); not derived from the WDK's, ReactOS' or MinGW's headers.
 *
 * The layouts are x64 Windows' (LLP64): ULONG is 32 bits, pointers and ULONG_PTR 64.
 * Where a WDK macro reads a structure (MmGetSystemAddressForMdlSafe reads MdlFlags and
 * MappedSystemVa), it does here too, from the same fields in real memory.
 *
 * Structured exception handling: __try / __except (filter) / __leave work as in MSVC for
 * what a driver's buffer code does with them (see "Structured exception handling"
 * below). One difference, as with setjmp: a local variable changed inside __try and read
 * in __except must be volatile.
 */
#ifndef MDLSIM_WDK_H
#define MDLSIM_WDK_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----- basic types (x64, LLP64) --------------------------------------------------- */

typedef void VOID, *PVOID;
typedef char CHAR, *PCHAR, CCHAR;
typedef unsigned char UCHAR, *PUCHAR;
typedef int16_t CSHORT, SHORT;
typedef uint16_t USHORT, *PUSHORT;
typedef int32_t LONG, *PLONG;
typedef uint32_t ULONG, *PULONG;
typedef int64_t LONGLONG, LONG64;
typedef uint64_t ULONGLONG, ULONG64, *PULONG64;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR, *PULONG_PTR;
typedef size_t SIZE_T, *PSIZE_T;
typedef uint8_t BOOLEAN, *PBOOLEAN;
typedef int32_t NTSTATUS;
typedef void *HANDLE;
typedef ULONG_PTR PFN_NUMBER, *PPFN_NUMBER;
typedef UCHAR KIRQL, *PKIRQL;

#define TRUE 1
#define FALSE 0
#ifndef NULL
#define NULL ((void *)0)
#endif
#define IN
#define OUT
#define OPTIONAL
#define _In_
#define _Out_
#define _Inout_
#define _In_opt_

_Static_assert(sizeof(ULONG) == 4, "ULONG is 32 bits");
_Static_assert(sizeof(PVOID) == 8, "an x64 host");

/* ----- NTSTATUS -------------------------------------------------------------------- */

#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#define STATUS_DATATYPE_MISALIGNMENT ((NTSTATUS)0x80000002L)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002L)
#define STATUS_ACCESS_VIOLATION ((NTSTATUS)0xC0000005L)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#define STATUS_NO_MEMORY ((NTSTATUS)0xC0000017L)
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define STATUS_INVALID_USER_BUFFER ((NTSTATUS)0xC00000E8L)
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)

/* ----- pages ----------------------------------------------------------------------- */

#define PAGE_SIZE 0x1000
#define PAGE_SHIFT 12L
#define PAGE_ALIGN(Va) ((PVOID)((ULONG_PTR)(Va) & ~((ULONG_PTR)PAGE_SIZE - 1)))
#define BYTE_OFFSET(Va) ((ULONG)((LONG_PTR)(Va) & (PAGE_SIZE - 1)))
#define ROUND_TO_PAGES(Size) (((ULONG_PTR)(Size) + PAGE_SIZE - 1) & ~((ULONG_PTR)PAGE_SIZE - 1))
#define BYTES_TO_PAGES(Size) (((Size) >> PAGE_SHIFT) + (((Size) & (PAGE_SIZE - 1)) != 0))
#define ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, Size) \
    ((BYTE_OFFSET(Va) + ((SIZE_T)(Size)) + (PAGE_SIZE - 1)) >> PAGE_SHIFT)

/* ----- processes ------------------------------------------------------------------- */

/* A process object. Opaque: buffer code only passes it to DDIs. */
typedef struct _EPROCESS *PEPROCESS;
typedef struct _KAPC_STATE {
    ULONG_PTR Opaque[6];
} KAPC_STATE, *PKAPC_STATE;

#define NtCurrentProcess() ((HANDLE)(LONG_PTR)-1)
#define ZwCurrentProcess() NtCurrentProcess()

/* The highest user address and the probe limit, as the driver sees them (host addresses). */
extern ULONG_PTR MmUserProbeAddress;
extern PVOID MmHighestUserAddress;
extern PVOID MmSystemRangeStart;
#define MM_USER_PROBE_ADDRESS MmUserProbeAddress
#define MM_HIGHEST_USER_ADDRESS MmHighestUserAddress
#define MM_SYSTEM_RANGE_START MmSystemRangeStart

typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *Flink;
    struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY;

typedef struct _IRP IRP, *PIRP;
struct _DEVICE_OBJECT;

/* ----- MDLs (x64 layout: 48-byte header, PFN array after it) ----------------------- */

typedef struct _MDL {
    struct _MDL *Next;
    CSHORT Size;
    CSHORT MdlFlags;
    USHORT AllocationProcessorNumber;
    USHORT Reserved;
    PEPROCESS Process;
    PVOID MappedSystemVa;
    PVOID StartVa;
    ULONG ByteCount;
    ULONG ByteOffset;
} MDL, *PMDL;

_Static_assert(sizeof(MDL) == 48, "the x64 MDL header is 48 bytes");
_Static_assert(offsetof(MDL, MdlFlags) == 10, "MdlFlags at 10");
_Static_assert(offsetof(MDL, MappedSystemVa) == 24, "MappedSystemVa at 24");
_Static_assert(offsetof(MDL, StartVa) == 32, "StartVa at 32");
_Static_assert(offsetof(MDL, ByteCount) == 40, "ByteCount at 40");

#define MDL_MAPPED_TO_SYSTEM_VA 0x0001
#define MDL_PAGES_LOCKED 0x0002
#define MDL_SOURCE_IS_NONPAGED_POOL 0x0004
#define MDL_ALLOCATED_FIXED_SIZE 0x0008
#define MDL_PARTIAL 0x0010
#define MDL_PARTIAL_HAS_BEEN_MAPPED 0x0020
#define MDL_IO_PAGE_READ 0x0040
#define MDL_WRITE_OPERATION 0x0080
#define MDL_PARENT_MAPPED_SYSTEM_VA 0x0100
#define MDL_FREE_EXTRA_PTES 0x0200
#define MDL_DESCRIBES_AWE 0x0400
#define MDL_IO_SPACE 0x0800
#define MDL_NETWORK_HEADER 0x1000
#define MDL_MAPPING_CAN_FAIL 0x2000
#define MDL_ALLOCATED_MUST_SUCCEED 0x4000
#define MDL_INTERNAL 0x8000
#define MDL_MAPPING_FLAGS                                                              \
    (MDL_MAPPED_TO_SYSTEM_VA | MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL |        \
     MDL_PARTIAL_HAS_BEEN_MAPPED | MDL_PARENT_MAPPED_SYSTEM_VA | MDL_IO_SPACE)

#define MmGetMdlPfnArray(Mdl) ((PPFN_NUMBER)((Mdl) + 1))
#define MmGetMdlVirtualAddress(Mdl) ((PVOID)((PCHAR)((Mdl)->StartVa) + (Mdl)->ByteOffset))
#define MmGetMdlBaseVa(Mdl) ((Mdl)->StartVa)
#define MmGetMdlByteCount(Mdl) ((Mdl)->ByteCount)
#define MmGetMdlByteOffset(Mdl) ((Mdl)->ByteOffset)

typedef enum _LOCK_OPERATION { IoReadAccess, IoWriteAccess, IoModifyAccess } LOCK_OPERATION;
typedef CCHAR KPROCESSOR_MODE;
typedef enum _MODE { KernelMode, UserMode, MaximumMode } MODE;
typedef enum _MEMORY_CACHING_TYPE {
    MmNonCached = 0,
    MmCached = 1,
    MmWriteCombined = 2,
    MmHardwareCoherentCached = 3,
    MmNonCachedUnordered = 4,
    MmUSWCCached = 5,
    MmMaximumCacheType = 6
} MEMORY_CACHING_TYPE;
typedef enum _MM_PAGE_PRIORITY {
    LowPagePriority = 0,
    NormalPagePriority = 16,
    HighPagePriority = 32
} MM_PAGE_PRIORITY;
#define MdlMappingNoWrite 0x80000000
#define MdlMappingNoExecute 0x40000000

typedef union _LARGE_INTEGER {
    struct {
        ULONG LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, PHYSICAL_ADDRESS;

#define MM_DONT_ZERO_ALLOCATION 0x00000001
#define MM_ALLOCATE_FROM_LOCAL_NODE_ONLY 0x00000002
#define MM_ALLOCATE_FULLY_REQUIRED 0x00000004
#define MM_ALLOCATE_NO_WAIT 0x00000008
#define MM_ALLOCATE_PREFER_CONTIGUOUS 0x00000010
#define MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS 0x00000020

PMDL IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer,
                   BOOLEAN ChargeQuota, PIRP Irp);
VOID IoFreeMdl(PMDL Mdl);
VOID IoBuildPartialMdl(PMDL SourceMdl, PMDL TargetMdl, PVOID VirtualAddress, ULONG Length);
VOID MmInitializeMdl(PMDL MemoryDescriptorList, PVOID BaseVa, SIZE_T Length);
VOID MmPrepareMdlForReuse(PMDL Mdl);
SIZE_T MmSizeOfMdl(PVOID Base, SIZE_T Length);
VOID MmBuildMdlForNonPagedPool(PMDL MemoryDescriptorList);
VOID MmProbeAndLockPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                         LOCK_OPERATION Operation);
VOID MmProbeAndLockProcessPages(PMDL MemoryDescriptorList, PEPROCESS Process,
                                KPROCESSOR_MODE AccessMode, LOCK_OPERATION Operation);
VOID MmUnlockPages(PMDL MemoryDescriptorList);
PVOID MmMapLockedPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode);
PVOID MmMapLockedPagesSpecifyCache(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                                   MEMORY_CACHING_TYPE CacheType, PVOID RequestedAddress,
                                   ULONG BugCheckOnFailure, ULONG Priority);
VOID MmUnmapLockedPages(PVOID BaseAddress, PMDL MemoryDescriptorList);
NTSTATUS MmProtectMdlSystemAddress(PMDL MemoryDescriptorList, ULONG NewProtect);
PMDL MmAllocatePagesForMdlEx(PHYSICAL_ADDRESS LowAddress, PHYSICAL_ADDRESS HighAddress,
                             PHYSICAL_ADDRESS SkipBytes, SIZE_T TotalBytes,
                             MEMORY_CACHING_TYPE CacheType, ULONG Flags);
VOID MmFreePagesFromMdl(PMDL MemoryDescriptorList);
PMDL MmCreateMdl(PMDL MemoryDescriptorList, PVOID Base, SIZE_T Length);

/* MmGetSystemAddressForMdlSafe is a macro in the WDK: it reads MdlFlags and returns
 * MappedSystemVa when the MDL is mapped or describes non-paged pool. */
#define MmGetSystemAddressForMdlSafe(Mdl, Priority)                                    \
    (((Mdl)->MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL))       \
         ? ((Mdl)->MappedSystemVa)                                                     \
         : MmMapLockedPagesSpecifyCache((Mdl), KernelMode, MmCached, NULL, FALSE,      \
                                        (Priority)))

/* ----- pool ------------------------------------------------------------------------ */

typedef enum _POOL_TYPE {
    NonPagedPool = 0,
    PagedPool = 1,
    NonPagedPoolMustSucceed = 2,
    NonPagedPoolCacheAligned = 4,
    NonPagedPoolNx = 512
} POOL_TYPE;
typedef ULONG64 POOL_FLAGS;
#define POOL_FLAG_UNINITIALIZED 0x0000000000000002ULL
#define POOL_FLAG_NON_PAGED 0x0000000000000040ULL
#define POOL_FLAG_PAGED 0x0000000000000100ULL

PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag);
PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
VOID ExFreePool(PVOID P);
VOID ExFreePoolWithTag(PVOID P, ULONG Tag);

/* ----- user addresses, virtual memory, process context ----------------------------- */

VOID ProbeForRead(const volatile VOID *Address, SIZE_T Length, ULONG Alignment);
VOID ProbeForWrite(volatile VOID *Address, SIZE_T Length, ULONG Alignment);

#define MEM_COMMIT 0x00001000
#define MEM_RESERVE 0x00002000
#define MEM_DECOMMIT 0x00004000
#define MEM_RELEASE 0x00008000
#define PAGE_NOACCESS 0x01
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04

NTSTATUS ZwAllocateVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, ULONG_PTR ZeroBits,
                                 PSIZE_T RegionSize, ULONG AllocationType, ULONG Protect);
NTSTATUS ZwFreeVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
                             ULONG FreeType);
VOID KeStackAttachProcess(PEPROCESS Process, PKAPC_STATE ApcState);
VOID KeUnstackDetachProcess(PKAPC_STATE ApcState);
PEPROCESS PsGetCurrentProcess(VOID);
NTSTATUS PsGetProcessExitStatus(PEPROCESS Process);
#define IoGetCurrentProcess PsGetCurrentProcess

typedef enum _MEMORY_INFORMATION_CLASS { MemoryBasicInformation = 0 } MEMORY_INFORMATION_CLASS;
typedef struct _MEMORY_BASIC_INFORMATION {
    PVOID BaseAddress;
    PVOID AllocationBase;
    ULONG AllocationProtect;
    USHORT PartitionId;
    SIZE_T RegionSize;
    ULONG State;
    ULONG Protect;
    ULONG Type;
} MEMORY_BASIC_INFORMATION, *PMEMORY_BASIC_INFORMATION;
_Static_assert(sizeof(MEMORY_BASIC_INFORMATION) == 48, "x64 MEMORY_BASIC_INFORMATION");
#define MEM_FREE 0x00010000
#define MEM_PRIVATE 0x00020000

NTSTATUS ZwProtectVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
                                ULONG NewProtect, PULONG OldProtect);
NTSTATUS ZwQueryVirtualMemory(HANDLE ProcessHandle, PVOID BaseAddress,
                              MEMORY_INFORMATION_CLASS MemoryInformationClass,
                              PVOID MemoryInformation, SIZE_T MemoryInformationLength,
                              PSIZE_T ReturnLength);

/* ----- IRQL, spin locks, time ------------------------------------------------------ */

#define PASSIVE_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2
#define HIGH_LEVEL 15
typedef ULONG_PTR KSPIN_LOCK, *PKSPIN_LOCK;

KIRQL KeGetCurrentIrql(VOID);
KIRQL KfRaiseIrql(KIRQL NewIrql);
VOID KeLowerIrql(KIRQL NewIrql);
#define KeRaiseIrql(NewIrql, OldIrql) (*(OldIrql) = KfRaiseIrql(NewIrql))
/* An inline function in the WDK: on x64 a spin lock is free when it is 0. */
#define KeInitializeSpinLock(SpinLock) ((void)(*(SpinLock) = 0))
KIRQL KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock);
#define KeAcquireSpinLock(SpinLock, OldIrql) (*(OldIrql) = KeAcquireSpinLockRaiseToDpc(SpinLock))
VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);
ULONGLONG KeQueryInterruptTime(VOID);

/* ----- exceptions and bug checks --------------------------------------------------- */

__attribute__((noreturn)) VOID ExRaiseStatus(NTSTATUS Status);

/* ----- memory ---------------------------------------------------------------------- */

#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define RtlMoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define RtlFillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlEqualMemory(A, B, Length) (!memcmp((A), (B), (Length)))

/* ----- structured exception handling ----------------------------------------------- */

#define EXCEPTION_EXECUTE_HANDLER 1
#define EXCEPTION_CONTINUE_SEARCH 0
#define EXCEPTION_CONTINUE_EXECUTION (-1)

/* One __try block: the frame is on the driver's stack, linked into the thread's chain
 * while the block runs. An exception (a fault at a user address, a DDI that raises,
 * ExRaiseStatus) long-jumps to the innermost frame's Env with Code set. */
typedef struct _MDLSIM_SEH_FRAME {
    sigjmp_buf Env;
    struct _MDLSIM_SEH_FRAME *Outer;
    NTSTATUS Code;
    int State;
} MDLSIM_SEH_FRAME;

int MdlsimSehEnter(MDLSIM_SEH_FRAME *Frame);
void MdlsimSehCleanup(MDLSIM_SEH_FRAME *Frame);
int MdlsimSehFilter(MDLSIM_SEH_FRAME *Frame, int Disposition);

/* __try { body } __except (filter) { handler }: the for loop runs once (MdlsimSehEnter
 * links the frame the first time and unlinks it the second); sigsetjmp returns 0 on entry
 * and the exception's code after a raise; the cleanup attribute unlinks the frame however
 * the block is left (return, goto). __leave leaves the body (the loop's continue). */
#define __try                                                                          \
    for (MDLSIM_SEH_FRAME _mdlsim_seh __attribute__((cleanup(MdlsimSehCleanup))) = {   \
             .State = 0};                                                              \
         MdlsimSehEnter(&_mdlsim_seh);)                                                \
        if (sigsetjmp(_mdlsim_seh.Env, 0) == 0)
#define __except(Filter) else if (MdlsimSehFilter(&_mdlsim_seh, (Filter)))
#define __leave continue
#define GetExceptionCode() (_mdlsim_seh.Code)

/* ----- the proxy-strategy entry points a driver under `verify` implements ---------- */

typedef enum _MDLSIM_DIRECTION { MdlsimRead = 0, MdlsimWrite = 1 } MDLSIM_DIRECTION;

/* The request as the driver sees it (mdlsim::strategy::Io). */
typedef struct _MDLSIM_IO {
    PEPROCESS Client;
    PEPROCESS Server;
    MDLSIM_DIRECTION Direction;
    ULONG Length;
    PVOID Buffer; /* in the client's address space */
    PMDL Mdl;     /* Irp->MdlAddress: locked; NULL for a zero-length request */
} MDLSIM_IO;

/* What the server sees: Length bytes at Address in the server's space. */
typedef struct _MDLSIM_EXPOSURE {
    PVOID Address;
    ULONG64 Length;
} MDLSIM_EXPOSURE;

/* Why retire runs (mdlsim::strategy::RetireReason). */
typedef enum _MDLSIM_RETIRE_REASON {
    MdlsimReply = 0,
    MdlsimCancel = 1,
    MdlsimClientExit = 2,
    MdlsimServerExit = 3
} MDLSIM_RETIRE_REASON;

typedef struct _IO_STATUS_BLOCK {
    union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG_PTR Information;
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

#include "wdk_io.h"

/* A strategy implements these two (mdlsim::strategy::ProxyStrategy):
 *
 *   NTSTATUS MdlsimExpose(const MDLSIM_IO *Io, PVOID Context, MDLSIM_EXPOSURE *Exposure);
 *     runs in the server's context; STATUS_SUCCESS with *Exposure filled, or a failure
 *     status that refuses the request.
 *
 *   VOID MdlsimRetire(const MDLSIM_IO *Io, PVOID Context, const IO_STATUS_BLOCK *Reply,
 *                     MDLSIM_RETIRE_REASON Why, IO_STATUS_BLOCK *Completion);
 *     runs in an arbitrary context after an exposure that mapped; fills *Completion.
 *
 * Context is the request's own MDLSIM_CONTEXT_SIZE bytes, zeroed before MdlsimExpose and
 * the same for MdlsimRetire: what a driver keeps in its device extension or a context it
 * allocates per request (it is not the model's memory).
 */
#define MDLSIM_CONTEXT_SIZE 1024
NTSTATUS MdlsimExpose(const MDLSIM_IO *Io, PVOID Context, MDLSIM_EXPOSURE *Exposure);
VOID MdlsimRetire(const MDLSIM_IO *Io, PVOID Context, const IO_STATUS_BLOCK *Reply,
                  MDLSIM_RETIRE_REASON Why, IO_STATUS_BLOCK *Completion);

#ifdef __cplusplus
}
#endif

#endif /* MDLSIM_WDK_H */
