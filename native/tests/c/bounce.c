/*
 * A bounce buffer, as a proxy file system driver writes it in C: the client's bytes go
 * through a zeroed pool buffer of whole pages, mapped into the server (read-only for a
 * WRITE); retire unmaps it, copies a READ back (at most Information bytes), frees it.
 * The C twin of mdlsim::strategy::BounceCopy. Expected verdict: passes.
 *
 * Broken variants (compiled with a define), the twins of mdlsim::strategy::broken's:
 *   UNZEROED         ExAllocatePoolWithTag, never zeroed          UnsanitizedSubstitute
 *   COPY_BACK_ALL    copies back the whole length                 CopyBackError
 *   SKIP_NULL_CHECK  uses Irp->MdlAddress without checking NULL   ZeroLengthOrNullMdl
 *   OWN_LOCK_LEAK    locks the buffer again, frees it locked      LockLeak
 *   WHOLE_PAGES      copies the client's whole pages in for a WRITE, the bytes around
 *                    the range included                           (an exposure)
 * and LOOP_COPY, which changes no verdict: every copy is a byte loop instead of
 * RtlCopyMemory, so the model sees only changed bytes and traces them by content.
 */
#include <wdm.h>

#define TAG 'ByxP'

typedef struct _BOUNCE {
    PVOID Pool;
    PMDL PoolMdl;
    PVOID View;
    PVOID System;
    PMDL Own;
    ULONG Offset; /* of the request's data in the pool buffer */
} BOUNCE;

static void Copy(PVOID Destination, const VOID *Source, SIZE_T Length) {
#ifdef LOOP_COPY
    volatile UCHAR *D = Destination;
    const volatile UCHAR *S = Source;
    for (SIZE_T I = 0; I < Length; I++) {
        D[I] = S[I];
    }
#else
    RtlCopyMemory(Destination, Source, Length);
#endif
}

static PVOID MapIntoServer(const MDLSIM_IO *Io, PMDL Mdl, BOOLEAN Writable) {
    KAPC_STATE Apc;
    PVOID View = NULL;
    ULONG Priority = NormalPagePriority | MdlMappingNoExecute;
    if (!Writable) {
        Priority |= MdlMappingNoWrite;
    }
    KeStackAttachProcess(Io->Server, &Apc);
    __try {
        View = MmMapLockedPagesSpecifyCache(Mdl, UserMode, MmCached, NULL, FALSE, Priority);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        View = NULL;
    }
    KeUnstackDetachProcess(&Apc);
    return View;
}

NTSTATUS MdlsimExpose(const MDLSIM_IO *Io, PVOID Context, MDLSIM_EXPOSURE *Exposure) {
    BOUNCE *B = Context;
#ifndef SKIP_NULL_CHECK
    if (Io->Length == 0) {
        Exposure->Address = NULL;
        Exposure->Length = 0;
        return STATUS_SUCCESS;
    }
#endif
    PMDL Source = Io->Mdl;
#ifdef OWN_LOCK_LEAK
    B->Own = IoAllocateMdl(Io->Buffer, Io->Length, FALSE, FALSE, NULL);
    if (B->Own == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    MmProbeAndLockProcessPages(B->Own, Io->Client, UserMode,
                               Io->Direction == MdlsimRead ? IoWriteAccess : IoReadAccess);
    Source = B->Own;
#endif
    PVOID System = MmGetSystemAddressForMdlSafe(Source, NormalPagePriority | MdlMappingNoExecute);
    if (System == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    ULONG Offset = 0;
#ifdef WHOLE_PAGES
    Offset = BYTE_OFFSET(Io->Buffer);
#endif
    SIZE_T Size = ROUND_TO_PAGES(Offset + Io->Length);
    if (Size == 0) {
        Size = PAGE_SIZE;
    }
    B->System = System;
#ifdef UNZEROED
    B->Pool = ExAllocatePoolWithTag(NonPagedPool, Size, TAG);
#else
    B->Pool = ExAllocatePool2(POOL_FLAG_NON_PAGED, Size, TAG);
#endif
    if (B->Pool == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    if (Io->Direction == MdlsimWrite) {
#ifdef WHOLE_PAGES
        /* From the start of the first page to the end of the last: the bug. */
        Copy(B->Pool, (PUCHAR)System - Offset, Size);
#else
        Copy(B->Pool, System, Io->Length);
#endif
    }
    B->PoolMdl = IoAllocateMdl(B->Pool, (ULONG)Size, FALSE, FALSE, NULL);
    if (B->PoolMdl == NULL) {
        ExFreePoolWithTag(B->Pool, TAG);
        B->Pool = NULL;
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    MmBuildMdlForNonPagedPool(B->PoolMdl);
    B->View = MapIntoServer(Io, B->PoolMdl, Io->Direction == MdlsimRead);
    if (B->View == NULL) {
        IoFreeMdl(B->PoolMdl);
        ExFreePoolWithTag(B->Pool, TAG);
        B->Pool = NULL;
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    B->Offset = Offset;
    Exposure->Address = (PUCHAR)B->View + Offset;
    Exposure->Length = Io->Length;
    return STATUS_SUCCESS;
}

VOID MdlsimRetire(const MDLSIM_IO *Io, PVOID Context, const IO_STATUS_BLOCK *Reply,
                  MDLSIM_RETIRE_REASON Why, IO_STATUS_BLOCK *Completion) {
    (void)Why;
    BOOLEAN Ok = NT_SUCCESS(Reply->Status);
    ULONG_PTR Count = Reply->Information < Io->Length ? Reply->Information : Io->Length;
    BOUNCE *B = Context;
    if (B->Pool != NULL) {
        if (PsGetProcessExitStatus(Io->Server) == STATUS_PENDING) {
            KAPC_STATE Apc;
            KeStackAttachProcess(Io->Server, &Apc);
            MmUnmapLockedPages(B->View, B->PoolMdl);
            KeUnstackDetachProcess(&Apc);
        }
        if (Io->Direction == MdlsimRead && Ok) {
#ifdef COPY_BACK_ALL
            Copy(B->System, (PUCHAR)B->Pool + B->Offset, Io->Length);
#else
            Copy(B->System, (PUCHAR)B->Pool + B->Offset, Count);
#endif
        }
        IoFreeMdl(B->PoolMdl);
        ExFreePoolWithTag(B->Pool, TAG);
        if (B->Own != NULL) {
            /* The leak: unmapped and freed, never unlocked. */
            MmUnmapLockedPages(B->System, B->Own);
            IoFreeMdl(B->Own);
        }
    }
    Completion->Status = Reply->Status;
    Completion->Information = Ok ? Count : 0;
}
