/*
 * Compiled into every driver's shared object beside the driver's own code: the DDIs as
 * functions with their WDK signatures, each forwarding its arguments to the host
 * (mdlsim's model) and turning the host's answer into what Windows does (a return value,
 * a raised exception, or a stop); the __try runtime's entry points; the entry thunks.
 */
#include "host_abi.h"

static const MDLSIM_HOST *H;

/* A driver tested routine by routine (Driver::call) need not be a strategy. */
#pragma weak MdlsimExpose
#pragma weak MdlsimRetire
#pragma weak DriverEntry

ULONG_PTR MmUserProbeAddress;
PVOID MmHighestUserAddress;
PVOID MmSystemRangeStart;

int MdlsimInit(const MDLSIM_HOST *Host) {
    if (Host == NULL || Host->Abi != MDLSIM_HOST_ABI) {
        return -1;
    }
    H = Host;
    MmUserProbeAddress = (ULONG_PTR)Host->UserProbeAddress;
    MmHighestUserAddress = (PVOID)(uintptr_t)Host->HighestUserAddress;
    MmSystemRangeStart = (PVOID)(uintptr_t)Host->SystemRangeStart;
    return 0;
}

int MdlsimSehEnter(MDLSIM_SEH_FRAME *Frame) { return H->SehEnter(Frame); }
void MdlsimSehCleanup(MDLSIM_SEH_FRAME *Frame) { H->SehCleanup(Frame); }
int MdlsimSehFilter(MDLSIM_SEH_FRAME *Frame, int Disposition) {
    return H->SehFilter(Frame, Disposition);
}

/* One DDI call: the host's answer becomes a value, an exception or a stop. */
static uint64_t Call(uint32_t Id, uint64_t *Args) {
    uint64_t Result = 0;
    int Outcome = H->Ddi(Id, Args, &Result);
    if (Outcome == MDLSIM_RAISED) {
        H->Raise((int32_t)Result);
    }
    if (Outcome != MDLSIM_OK) {
        H->Stop();
    }
    return Result;
}

#define W(x) ((uint64_t)(uintptr_t)(x))

PMDL IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer,
                   BOOLEAN ChargeQuota, PIRP Irp) {
    uint64_t A[] = {W(VirtualAddress), Length, SecondaryBuffer, ChargeQuota, W(Irp)};
    return (PMDL)(uintptr_t)Call(MDLSIM_DDI_IoAllocateMdl, A);
}

VOID IoFreeMdl(PMDL Mdl) {
    uint64_t A[] = {W(Mdl)};
    Call(MDLSIM_DDI_IoFreeMdl, A);
}

VOID IoBuildPartialMdl(PMDL SourceMdl, PMDL TargetMdl, PVOID VirtualAddress, ULONG Length) {
    uint64_t A[] = {W(SourceMdl), W(TargetMdl), W(VirtualAddress), Length};
    Call(MDLSIM_DDI_IoBuildPartialMdl, A);
}

VOID MmInitializeMdl(PMDL MemoryDescriptorList, PVOID BaseVa, SIZE_T Length) {
    uint64_t A[] = {W(MemoryDescriptorList), W(BaseVa), Length};
    Call(MDLSIM_DDI_MmInitializeMdl, A);
}

VOID MmPrepareMdlForReuse(PMDL Mdl) {
    uint64_t A[] = {W(Mdl)};
    Call(MDLSIM_DDI_MmPrepareMdlForReuse, A);
}

SIZE_T MmSizeOfMdl(PVOID Base, SIZE_T Length) {
    uint64_t A[] = {W(Base), Length};
    return (SIZE_T)Call(MDLSIM_DDI_MmSizeOfMdl, A);
}

VOID MmBuildMdlForNonPagedPool(PMDL MemoryDescriptorList) {
    uint64_t A[] = {W(MemoryDescriptorList)};
    Call(MDLSIM_DDI_MmBuildMdlForNonPagedPool, A);
}

VOID MmProbeAndLockPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                         LOCK_OPERATION Operation) {
    uint64_t A[] = {W(MemoryDescriptorList), (uint64_t)(uint8_t)AccessMode, Operation};
    Call(MDLSIM_DDI_MmProbeAndLockPages, A);
}

VOID MmProbeAndLockProcessPages(PMDL MemoryDescriptorList, PEPROCESS Process,
                                KPROCESSOR_MODE AccessMode, LOCK_OPERATION Operation) {
    uint64_t A[] = {W(MemoryDescriptorList), W(Process), (uint64_t)(uint8_t)AccessMode,
                    Operation};
    Call(MDLSIM_DDI_MmProbeAndLockProcessPages, A);
}

VOID MmUnlockPages(PMDL MemoryDescriptorList) {
    uint64_t A[] = {W(MemoryDescriptorList)};
    Call(MDLSIM_DDI_MmUnlockPages, A);
}

PVOID MmMapLockedPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode) {
    uint64_t A[] = {W(MemoryDescriptorList), (uint64_t)(uint8_t)AccessMode};
    return (PVOID)(uintptr_t)Call(MDLSIM_DDI_MmMapLockedPages, A);
}

PVOID MmMapLockedPagesSpecifyCache(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                                   MEMORY_CACHING_TYPE CacheType, PVOID RequestedAddress,
                                   ULONG BugCheckOnFailure, ULONG Priority) {
    uint64_t A[] = {W(MemoryDescriptorList), (uint64_t)(uint8_t)AccessMode, CacheType,
                    W(RequestedAddress), BugCheckOnFailure, Priority};
    return (PVOID)(uintptr_t)Call(MDLSIM_DDI_MmMapLockedPagesSpecifyCache, A);
}

VOID MmUnmapLockedPages(PVOID BaseAddress, PMDL MemoryDescriptorList) {
    uint64_t A[] = {W(BaseAddress), W(MemoryDescriptorList)};
    Call(MDLSIM_DDI_MmUnmapLockedPages, A);
}

NTSTATUS MmProtectMdlSystemAddress(PMDL MemoryDescriptorList, ULONG NewProtect) {
    uint64_t A[] = {W(MemoryDescriptorList), NewProtect};
    return (NTSTATUS)Call(MDLSIM_DDI_MmProtectMdlSystemAddress, A);
}

PMDL MmAllocatePagesForMdlEx(PHYSICAL_ADDRESS LowAddress, PHYSICAL_ADDRESS HighAddress,
                             PHYSICAL_ADDRESS SkipBytes, SIZE_T TotalBytes,
                             MEMORY_CACHING_TYPE CacheType, ULONG Flags) {
    uint64_t A[] = {(uint64_t)LowAddress.QuadPart, (uint64_t)HighAddress.QuadPart,
                    (uint64_t)SkipBytes.QuadPart, TotalBytes, CacheType, Flags};
    return (PMDL)(uintptr_t)Call(MDLSIM_DDI_MmAllocatePagesForMdlEx, A);
}

VOID MmFreePagesFromMdl(PMDL MemoryDescriptorList) {
    uint64_t A[] = {W(MemoryDescriptorList)};
    Call(MDLSIM_DDI_MmFreePagesFromMdl, A);
}

PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag) {
    uint64_t A[] = {Flags, NumberOfBytes, Tag};
    return (PVOID)(uintptr_t)Call(MDLSIM_DDI_ExAllocatePool2, A);
}

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag) {
    uint64_t A[] = {(uint64_t)PoolType, NumberOfBytes, Tag};
    return (PVOID)(uintptr_t)Call(MDLSIM_DDI_ExAllocatePoolWithTag, A);
}

VOID ExFreePool(PVOID P) {
    uint64_t A[] = {W(P)};
    Call(MDLSIM_DDI_ExFreePool, A);
}

VOID ExFreePoolWithTag(PVOID P, ULONG Tag) {
    uint64_t A[] = {W(P), Tag};
    Call(MDLSIM_DDI_ExFreePoolWithTag, A);
}

VOID ProbeForRead(const volatile VOID *Address, SIZE_T Length, ULONG Alignment) {
    uint64_t A[] = {W(Address), Length, Alignment};
    Call(MDLSIM_DDI_ProbeForRead, A);
}

VOID ProbeForWrite(volatile VOID *Address, SIZE_T Length, ULONG Alignment) {
    uint64_t A[] = {W(Address), Length, Alignment};
    Call(MDLSIM_DDI_ProbeForWrite, A);
}

NTSTATUS ZwAllocateVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, ULONG_PTR ZeroBits,
                                 PSIZE_T RegionSize, ULONG AllocationType, ULONG Protect) {
    uint64_t A[] = {W(ProcessHandle), W(*BaseAddress), ZeroBits, *RegionSize, AllocationType,
                    Protect};
    NTSTATUS Status = (NTSTATUS)Call(MDLSIM_DDI_ZwAllocateVirtualMemory, A);
    if (NT_SUCCESS(Status)) {
        *BaseAddress = (PVOID)(uintptr_t)A[1];
        *RegionSize = (SIZE_T)A[3];
    }
    return Status;
}

NTSTATUS ZwFreeVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
                             ULONG FreeType) {
    uint64_t A[] = {W(ProcessHandle), W(*BaseAddress), *RegionSize, FreeType};
    NTSTATUS Status = (NTSTATUS)Call(MDLSIM_DDI_ZwFreeVirtualMemory, A);
    if (NT_SUCCESS(Status)) {
        *BaseAddress = (PVOID)(uintptr_t)A[1];
        *RegionSize = (SIZE_T)A[2];
    }
    return Status;
}

VOID KeStackAttachProcess(PEPROCESS Process, PKAPC_STATE ApcState) {
    uint64_t A[] = {W(Process), W(ApcState)};
    Call(MDLSIM_DDI_KeStackAttachProcess, A);
}

VOID KeUnstackDetachProcess(PKAPC_STATE ApcState) {
    uint64_t A[] = {W(ApcState)};
    Call(MDLSIM_DDI_KeUnstackDetachProcess, A);
}

PEPROCESS PsGetCurrentProcess(VOID) {
    uint64_t A[] = {0};
    return (PEPROCESS)(uintptr_t)Call(MDLSIM_DDI_PsGetCurrentProcess, A);
}

NTSTATUS ZwProtectVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
                                ULONG NewProtect, PULONG OldProtect) {
    uint64_t A[] = {W(ProcessHandle), W(*BaseAddress), *RegionSize, NewProtect, 0};
    NTSTATUS Status = (NTSTATUS)Call(MDLSIM_DDI_ZwProtectVirtualMemory, A);
    if (NT_SUCCESS(Status)) {
        *BaseAddress = (PVOID)(uintptr_t)A[1];
        *RegionSize = (SIZE_T)A[2];
        *OldProtect = (ULONG)A[4];
    }
    return Status;
}

NTSTATUS ZwQueryVirtualMemory(HANDLE ProcessHandle, PVOID BaseAddress,
                              MEMORY_INFORMATION_CLASS MemoryInformationClass,
                              PVOID MemoryInformation, SIZE_T MemoryInformationLength,
                              PSIZE_T ReturnLength) {
    uint64_t A[] = {W(ProcessHandle), W(BaseAddress), (uint64_t)MemoryInformationClass, 0, 0, 0, 0, 0};
    if (MemoryInformationLength < sizeof(MEMORY_BASIC_INFORMATION)) {
        return (NTSTATUS)0xC0000004L; /* STATUS_INFO_LENGTH_MISMATCH */
    }
    NTSTATUS Status = (NTSTATUS)Call(MDLSIM_DDI_ZwQueryVirtualMemory, A);
    if (NT_SUCCESS(Status)) {
        MEMORY_BASIC_INFORMATION M;
        M.BaseAddress = (PVOID)(uintptr_t)A[1];
        M.AllocationBase = (PVOID)(uintptr_t)A[2];
        M.AllocationProtect = (ULONG)A[3];
        M.PartitionId = 0;
        M.RegionSize = (SIZE_T)A[4];
        M.State = (ULONG)A[5];
        M.Protect = (ULONG)A[6];
        M.Type = (ULONG)A[7];
        memcpy(MemoryInformation, &M, sizeof M);
        if (ReturnLength != NULL) {
            *ReturnLength = sizeof M;
        }
    }
    return Status;
}

KIRQL KeGetCurrentIrql(VOID) {
    uint64_t A[] = {0};
    return (KIRQL)Call(MDLSIM_DDI_KeGetCurrentIrql, A);
}

KIRQL KfRaiseIrql(KIRQL NewIrql) {
    uint64_t A[] = {NewIrql};
    return (KIRQL)Call(MDLSIM_DDI_KfRaiseIrql, A);
}

VOID KeLowerIrql(KIRQL NewIrql) {
    uint64_t A[] = {NewIrql};
    Call(MDLSIM_DDI_KeLowerIrql, A);
}

KIRQL KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock) {
    uint64_t A[] = {W(SpinLock)};
    return (KIRQL)Call(MDLSIM_DDI_KeAcquireSpinLockRaiseToDpc, A);
}

VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql) {
    uint64_t A[] = {W(SpinLock), NewIrql};
    Call(MDLSIM_DDI_KeReleaseSpinLock, A);
}

ULONGLONG KeQueryInterruptTime(VOID) {
    uint64_t A[] = {0};
    return Call(MDLSIM_DDI_KeQueryInterruptTime, A);
}

PMDL MmCreateMdl(PMDL MemoryDescriptorList, PVOID Base, SIZE_T Length) {
    uint64_t A[] = {W(MemoryDescriptorList), W(Base), Length};
    return (PMDL)(uintptr_t)Call(MDLSIM_DDI_MmCreateMdl, A);
}

VOID IofCompleteRequest(PIRP Irp, CCHAR PriorityBoost) {
    uint64_t A[] = {W(Irp), (uint64_t)(uint8_t)PriorityBoost};
    Call(MDLSIM_DDI_IofCompleteRequest, A);
}

VOID IoMarkIrpPending(PIRP Irp) {
    uint64_t A[] = {W(Irp)};
    Call(MDLSIM_DDI_IoMarkIrpPending, A);
}

PDRIVER_CANCEL IoSetCancelRoutine(PIRP Irp, PDRIVER_CANCEL CancelRoutine) {
    uint64_t A[] = {W(Irp), W(CancelRoutine)};
    return (PDRIVER_CANCEL)(uintptr_t)Call(MDLSIM_DDI_IoSetCancelRoutine, A);
}

/* The model is single-stepped: the cancel spin lock excludes nobody, and taking it is
 * raising to DISPATCH_LEVEL, as on Windows. */
VOID IoAcquireCancelSpinLock(PKIRQL Irql) { *Irql = KfRaiseIrql(DISPATCH_LEVEL); }

VOID IoReleaseCancelSpinLock(KIRQL Irql) { KeLowerIrql(Irql); }

/* ----- the cancel-safe queue, written from its documented behaviour ----------------- */

/* What an IRP queued by IoCsqInsertIrp keeps in DriverContext[3]: its context when the
 * driver gave one (Type IO_TYPE_CSQ_IRP_CONTEXT), else the queue (Type IO_TYPE_CSQ). */
#define CSQ_SLOT(Irp) ((Irp)->Tail.Overlay.DriverContext[3])

static PIO_CSQ CsqOf(PVOID Slot) {
    if (Slot != NULL && *(ULONG *)Slot == IO_TYPE_CSQ_IRP_CONTEXT) {
        PIO_CSQ_IRP_CONTEXT Context = Slot;
        Context->Irp = NULL;
        return Context->Csq;
    }
    return Slot;
}

/* The cancel routine of a queued IRP: the cancel spin lock released first, then the IRP
 * taken off the driver's queue under its lock and handed back to complete. */
static VOID CsqCancel(PDEVICE_OBJECT Device, PIRP Irp) {
    (void)Device;
    IoReleaseCancelSpinLock(Irp->CancelIrql);
    PIO_CSQ Csq = CsqOf(CSQ_SLOT(Irp));
    CSQ_SLOT(Irp) = NULL;
    KIRQL Irql;
    Csq->CsqAcquireLock(Csq, &Irql);
    Csq->CsqRemoveIrp(Csq, Irp);
    Csq->CsqReleaseLock(Csq, Irql);
    Csq->CsqCompleteCanceledIrp(Csq, Irp);
}

NTSTATUS IoCsqInitialize(PIO_CSQ Csq, PIO_CSQ_INSERT_IRP CsqInsertIrp,
                         PIO_CSQ_REMOVE_IRP CsqRemoveIrp, PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp,
                         PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
                         PIO_CSQ_RELEASE_LOCK CsqReleaseLock,
                         PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp) {
    Csq->Type = IO_TYPE_CSQ;
    Csq->CsqInsertIrp = CsqInsertIrp;
    Csq->CsqRemoveIrp = CsqRemoveIrp;
    Csq->CsqPeekNextIrp = CsqPeekNextIrp;
    Csq->CsqAcquireLock = CsqAcquireLock;
    Csq->CsqReleaseLock = CsqReleaseLock;
    Csq->CsqCompleteCanceledIrp = CsqCompleteCanceledIrp;
    Csq->ReservePointer = NULL;
    return STATUS_SUCCESS;
}

/* Queues Irp, marked pending, with the queue's cancel routine. An IRP already cancelled
 * is taken back off and handed to CsqCompleteCanceledIrp at once. */
VOID IoCsqInsertIrp(PIO_CSQ Csq, PIRP Irp, PIO_CSQ_IRP_CONTEXT Context) {
    KIRQL Irql;
    Csq->CsqAcquireLock(Csq, &Irql);
    IoMarkIrpPending(Irp);
    if (Context != NULL) {
        Context->Type = IO_TYPE_CSQ_IRP_CONTEXT;
        Context->Irp = Irp;
        Context->Csq = Csq;
        CSQ_SLOT(Irp) = Context;
    } else {
        CSQ_SLOT(Irp) = Csq;
    }
    Csq->CsqInsertIrp(Csq, Irp);
    IoSetCancelRoutine(Irp, CsqCancel);
    BOOLEAN Cancelled = FALSE;
    if (Irp->Cancel && IoSetCancelRoutine(Irp, NULL) != NULL) {
        CSQ_SLOT(Irp) = NULL;
        if (Context != NULL) {
            Context->Irp = NULL;
        }
        Csq->CsqRemoveIrp(Csq, Irp);
        Cancelled = TRUE;
    }
    Csq->CsqReleaseLock(Csq, Irql);
    if (Cancelled) {
        Csq->CsqCompleteCanceledIrp(Csq, Irp);
    }
}

/* Takes Irp off the queue for the driver: NULL when its cancel routine has it. */
static PIRP CsqClaim(PIO_CSQ Csq, PIRP Irp) {
    if (IoSetCancelRoutine(Irp, NULL) == NULL) {
        return NULL;
    }
    Csq->CsqRemoveIrp(Csq, Irp);
    PVOID Slot = CSQ_SLOT(Irp);
    CSQ_SLOT(Irp) = NULL;
    if (Slot != NULL && *(ULONG *)Slot == IO_TYPE_CSQ_IRP_CONTEXT) {
        ((PIO_CSQ_IRP_CONTEXT)Slot)->Irp = NULL;
    }
    return Irp;
}

PIRP IoCsqRemoveNextIrp(PIO_CSQ Csq, PVOID PeekContext) {
    KIRQL Irql;
    Csq->CsqAcquireLock(Csq, &Irql);
    PIRP Found = NULL;
    for (PIRP Irp = Csq->CsqPeekNextIrp(Csq, NULL, PeekContext); Irp != NULL;
         Irp = Csq->CsqPeekNextIrp(Csq, Irp, PeekContext)) {
        Found = CsqClaim(Csq, Irp);
        if (Found != NULL) {
            break;
        }
    }
    Csq->CsqReleaseLock(Csq, Irql);
    return Found;
}

PIRP IoCsqRemoveIrp(PIO_CSQ Csq, PIO_CSQ_IRP_CONTEXT Context) {
    KIRQL Irql;
    Csq->CsqAcquireLock(Csq, &Irql);
    PIRP Irp = Context->Irp;
    PIRP Found = Irp == NULL ? NULL : CsqClaim(Csq, Irp);
    Csq->CsqReleaseLock(Csq, Irql);
    return Found;
}

NTSTATUS IoCreateDevice(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize,
                        PUNICODE_STRING DeviceName, ULONG DeviceType,
                        ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                        PDEVICE_OBJECT *DeviceObject) {
    uint64_t A[] = {W(DriverObject), DeviceExtensionSize, W(DeviceName), DeviceType,
                    DeviceCharacteristics, Exclusive, 0};
    NTSTATUS Status = (NTSTATUS)Call(MDLSIM_DDI_IoCreateDevice, A);
    *DeviceObject = NT_SUCCESS(Status) ? (PDEVICE_OBJECT)(uintptr_t)A[6] : NULL;
    return Status;
}

VOID IoDeleteDevice(PDEVICE_OBJECT DeviceObject) {
    uint64_t A[] = {W(DeviceObject)};
    Call(MDLSIM_DDI_IoDeleteDevice, A);
}

NTSTATUS PsGetProcessExitStatus(PEPROCESS Process) {
    uint64_t A[] = {W(Process)};
    return (NTSTATUS)Call(MDLSIM_DDI_PsGetProcessExitStatus, A);
}

VOID ExRaiseStatus(NTSTATUS Status) {
    uint64_t A[] = {(uint64_t)(uint32_t)Status};
    Call(MDLSIM_DDI_ExRaiseStatus, A);
    H->Raise(Status); /* the host always answers MDLSIM_RAISED */
}

/* ----- memcpy, memmove, memset --------------------------------------------------- */
/* The driver's calls bind to these (the object is linked -Bsymbolic-functions and
 * compiled -fno-builtin-mem*): where model memory is involved the model does the work. */

static int IsModel(const void *P) {
    uint64_t A = (uint64_t)(uintptr_t)P;
    return A < 0x10000 || (A >= H->UserLow && A < H->UserHigh) ||
           (A >= H->SystemLow && A < H->SystemHigh &&
            (A - H->SystemLow) % H->SystemStride < H->SystemModelBytes);
}

static void Transfer(void *D, const void *S, size_t N) {
    int DModel = IsModel(D), SModel = IsModel(S);
    if (!DModel && !SModel) {
        H->Memmove(D, S, N);
        return;
    }
    if (DModel && SModel) {
        uint64_t A[] = {W(D), W(S), N};
        Call(MDLSIM_DDI_Copy, A);
        return;
    }
    for (size_t Done = 0; Done < N;) {
        size_t Part = N - Done < MDLSIM_CHUNK ? N - Done : MDLSIM_CHUNK;
        if (SModel) {
            uint64_t A[] = {W((const char *)S + Done), Part};
            void *Buffer = (void *)(uintptr_t)Call(MDLSIM_DDI_Read, A);
            H->Memcpy((char *)D + Done, Buffer, Part);
        } else {
            uint64_t A[] = {Part};
            void *Buffer = (void *)(uintptr_t)Call(MDLSIM_DDI_Scratch, A);
            H->Memcpy(Buffer, (const char *)S + Done, Part);
            uint64_t B[] = {W((char *)D + Done), Part};
            Call(MDLSIM_DDI_Write, B);
        }
        Done += Part;
    }
}

void *memcpy(void *restrict D, const void *restrict S, size_t N) {
    Transfer(D, S, N);
    return D;
}

void *memmove(void *D, const void *S, size_t N) {
    Transfer(D, S, N);
    return D;
}

void *memset(void *D, int C, size_t N) {
    if (!IsModel(D)) {
        return H->Memset(D, C, N);
    }
    uint64_t A[] = {W(D), N, (uint64_t)(uint8_t)C};
    Call(MDLSIM_DDI_Fill, A);
    return D;
}

void MdlsimThunkExpose(void *Args) {
    MDLSIM_EXPOSE_ARGS *A = Args;
    if (MdlsimExpose == NULL) {
        H->Stop();
    }
    A->Result = MdlsimExpose(A->Io, A->Context, A->Exposure);
}

void MdlsimThunkRetire(void *Args) {
    MDLSIM_RETIRE_ARGS *A = Args;
    if (MdlsimRetire == NULL) {
        H->Stop();
    }
    MdlsimRetire(A->Io, A->Context, A->Reply, A->Why, A->Completion);
}

void MdlsimThunkCall(void *Args) {
    MDLSIM_CALL_ARGS *A = Args;
    A->Result = A->Function(A->Argument);
}

void MdlsimThunkDispatch(void *Args) {
    MDLSIM_DISPATCH_ARGS *A = Args;
    A->Result = A->Function(A->Device, A->Irp);
}

void MdlsimThunkCancel(void *Args) {
    MDLSIM_CANCEL_ARGS *A = Args;
    A->Function(A->Device, A->Irp);
}

void MdlsimThunkDriverEntry(void *Args) {
    MDLSIM_ENTRY_ARGS *A = Args;
    if (DriverEntry == NULL) {
        H->Stop();
    }
    A->Result = DriverEntry(A->Driver, NULL);
}

#include "driver_flt.c"
