/*
 * The interface between a compiled driver (its code plus driver_rt.c, in a shared
 * object) and the host that runs it (host.c and the Rust crate). Internal to
 * mdlsim-native: a driver includes only <mdlsim/wdk.h>.
 */
#ifndef MDLSIM_HOST_ABI_H
#define MDLSIM_HOST_ABI_H

#include <stdint.h>
#include "mdlsim/wdk.h"

/* Bumped whenever the table below changes shape. */
#define MDLSIM_HOST_ABI 1

/* What a host call returns. */
#define MDLSIM_OK 0      /* done; the result is valid */
#define MDLSIM_RAISED 1  /* the DDI raised an exception: the result is its status */
#define MDLSIM_STOPPED 2 /* the machine stopped (a bug check, a model error) */
#define MDLSIM_STEP 3    /* a fault resolved for one access: run the instruction alone,
                          * then tell the host (a traced page is closed again) */

/* DDI numbers: the Rust side (src/ddi.rs, `Ddi`) uses the same values; a test reads
 * this list and compares. */
#define MDLSIM_DDI_IoAllocateMdl 1
#define MDLSIM_DDI_IoFreeMdl 2
#define MDLSIM_DDI_IoBuildPartialMdl 3
#define MDLSIM_DDI_MmInitializeMdl 4
#define MDLSIM_DDI_MmPrepareMdlForReuse 5
#define MDLSIM_DDI_MmSizeOfMdl 6
#define MDLSIM_DDI_MmBuildMdlForNonPagedPool 7
#define MDLSIM_DDI_MmProbeAndLockPages 8
#define MDLSIM_DDI_MmProbeAndLockProcessPages 9
#define MDLSIM_DDI_MmUnlockPages 10
#define MDLSIM_DDI_MmMapLockedPages 11
#define MDLSIM_DDI_MmMapLockedPagesSpecifyCache 12
#define MDLSIM_DDI_MmUnmapLockedPages 13
#define MDLSIM_DDI_MmProtectMdlSystemAddress 14
#define MDLSIM_DDI_MmAllocatePagesForMdlEx 15
#define MDLSIM_DDI_MmFreePagesFromMdl 16
#define MDLSIM_DDI_ExAllocatePool2 17
#define MDLSIM_DDI_ExAllocatePoolWithTag 18
#define MDLSIM_DDI_ExFreePool 19
#define MDLSIM_DDI_ExFreePoolWithTag 20
#define MDLSIM_DDI_ProbeForRead 21
#define MDLSIM_DDI_ProbeForWrite 22
#define MDLSIM_DDI_ZwAllocateVirtualMemory 23
#define MDLSIM_DDI_ZwFreeVirtualMemory 24
#define MDLSIM_DDI_KeStackAttachProcess 25
#define MDLSIM_DDI_KeUnstackDetachProcess 26
#define MDLSIM_DDI_PsGetCurrentProcess 27
#define MDLSIM_DDI_ExRaiseStatus 28
#define MDLSIM_DDI_PsGetProcessExitStatus 29
/* Bulk memory operations (memcpy, memmove, memset: RtlCopyMemory and friends) where
 * model memory is involved: the model makes them, judged and logged as RtlCopyMemory /
 * RtlZeroMemory, with provenance travelling with the bytes. */
#define MDLSIM_DDI_Copy 30    /* model to model */
#define MDLSIM_DDI_Read 31    /* model to the scratch buffer (result: its address) */
#define MDLSIM_DDI_Scratch 32 /* the scratch buffer for n bytes (result: its address) */
#define MDLSIM_DDI_Write 33   /* the scratch buffer to model */
#define MDLSIM_DDI_Fill 34    /* n copies of a byte into model memory */
#define MDLSIM_DDI_ZwProtectVirtualMemory 35
#define MDLSIM_DDI_ZwQueryVirtualMemory 36 /* results in words 1..7 */
#define MDLSIM_DDI_KeGetCurrentIrql 37
#define MDLSIM_DDI_KfRaiseIrql 38
#define MDLSIM_DDI_KeLowerIrql 39
#define MDLSIM_DDI_KeAcquireSpinLockRaiseToDpc 40
#define MDLSIM_DDI_KeReleaseSpinLock 41
#define MDLSIM_DDI_KeQueryInterruptTime 42
#define MDLSIM_DDI_MmCreateMdl 43
#define MDLSIM_DDI_IofCompleteRequest 44
#define MDLSIM_DDI_IoMarkIrpPending 45
#define MDLSIM_DDI_IoCreateDevice 46 /* the device object in word 6 */
#define MDLSIM_DDI_IoDeleteDevice 47
#define MDLSIM_DDI_IoSetCancelRoutine 48
/* The filter manager (driver_flt.c). FltRegisterFilter passes the registration's
 * header; each entry of its operation table follows as one FltOperation call. */
#define MDLSIM_DDI_FltRegisterFilter 49
#define MDLSIM_DDI_FltOperation 50
#define MDLSIM_DDI_FltStartFiltering 51
#define MDLSIM_DDI_FltSetCallbackDataDirty 52
#define MDLSIM_DDI_FltClearCallbackDataDirty 53
#define MDLSIM_DDI_FltIsCallbackDataDirty 54
#define MDLSIM_DDI_FltGetNewSystemBufferAddress 55
#define MDLSIM_DDI_FltLockUserBuffer 56
#define MDLSIM_DDI_COUNT 57 /* one past the highest number */

/* Bulk operations go through the model this many bytes at a time. */
#define MDLSIM_CHUNK 0x10000

/* Arguments travel as 64-bit words; a DDI may write results back into them (an OUT
 * parameter such as ZwAllocateVirtualMemory's *BaseAddress). */
#define MDLSIM_MAX_ARGS 8

typedef struct MDLSIM_HOST {
    uint32_t Abi;
    int (*SehEnter)(MDLSIM_SEH_FRAME *Frame);
    void (*SehCleanup)(MDLSIM_SEH_FRAME *Frame);
    int (*SehFilter)(MDLSIM_SEH_FRAME *Frame, int Disposition);
    __attribute__((noreturn)) void (*Raise)(int32_t Status);
    __attribute__((noreturn)) void (*Stop)(void);
    /* A DDI: MDLSIM_OK, MDLSIM_RAISED (*Result is the status) or MDLSIM_STOPPED. */
    int (*Ddi)(uint32_t Id, uint64_t *Args, uint64_t *Result);
    /* libc's, for host-only copies (the driver's own memcpy is the wrapper). */
    void *(*Memcpy)(void *, const void *, size_t);
    void *(*Memmove)(void *, const void *, size_t);
    void *(*Memset)(void *, int, size_t);
    /* Host ranges that are model memory: the user windows [UserLow, UserHigh), and in
     * [SystemLow, SystemHigh) the first SystemModelBytes of every SystemStride bytes (a
     * thread's pool and system-PTE regions; the rest holds MDL copies). */
    uint64_t UserLow, UserHigh, SystemLow, SystemHigh, SystemStride, SystemModelBytes;
    uint64_t UserProbeAddress;
    uint64_t HighestUserAddress;
    uint64_t SystemRangeStart;
} MDLSIM_HOST;

/* Exported by driver_rt.c: called once after loading; 0 when the ABI matches. */
int MdlsimInit(const MDLSIM_HOST *Host);

/* The entry thunks host.c runs under its outermost frame. */
typedef struct MDLSIM_EXPOSE_ARGS {
    const MDLSIM_IO *Io;
    PVOID Context;
    MDLSIM_EXPOSURE *Exposure;
    NTSTATUS Result;
} MDLSIM_EXPOSE_ARGS;

typedef struct MDLSIM_RETIRE_ARGS {
    const MDLSIM_IO *Io;
    PVOID Context;
    const IO_STATUS_BLOCK *Reply;
    MDLSIM_RETIRE_REASON Why;
    IO_STATUS_BLOCK *Completion;
} MDLSIM_RETIRE_ARGS;

/* Any function of the driver taking and returning a 64-bit word (Driver::call). */
typedef struct MDLSIM_CALL_ARGS {
    ULONG64 (*Function)(ULONG64);
    ULONG64 Argument;
    ULONG64 Result;
} MDLSIM_CALL_ARGS;

/* A dispatch routine, and DriverEntry. */
typedef struct MDLSIM_DISPATCH_ARGS {
    PDRIVER_DISPATCH Function;
    PDEVICE_OBJECT Device;
    PIRP Irp;
    NTSTATUS Result;
} MDLSIM_DISPATCH_ARGS;

/* A cancel routine. */
typedef struct MDLSIM_CANCEL_ARGS {
    PDRIVER_CANCEL Function;
    PDEVICE_OBJECT Device;
    PIRP Irp;
} MDLSIM_CANCEL_ARGS;

typedef struct MDLSIM_ENTRY_ARGS {
    PDRIVER_OBJECT Driver;
    NTSTATUS Result;
} MDLSIM_ENTRY_ARGS;

/* A minifilter's pre- and post-operation callbacks. */
typedef struct MDLSIM_PRE_ARGS {
    PVOID Function;
    PVOID Data;
    const void *Objects;
    PVOID Context;
    int32_t Result;
} MDLSIM_PRE_ARGS;

typedef struct MDLSIM_POST_ARGS {
    PVOID Function;
    PVOID Data;
    const void *Objects;
    PVOID Context;
    ULONG Flags;
    int32_t Result;
} MDLSIM_POST_ARGS;

void MdlsimThunkExpose(void *Args);
void MdlsimThunkCall(void *Args);
void MdlsimThunkDispatch(void *Args);
void MdlsimThunkDriverEntry(void *Args);
void MdlsimThunkRetire(void *Args);
void MdlsimThunkCancel(void *Args);
void MdlsimThunkPreOperation(void *Args);
void MdlsimThunkPostOperation(void *Args);

#endif /* MDLSIM_HOST_ABI_H */
