/*
 * Head/tail page substitution for a proxy file system (seed 000), in C as a driver
 * author writes it, done right:
 *
 *   1. the request's MDL is locked by the I/O manager (Irp->MdlAddress);
 *   2. a target MDL over the same range takes the request's PFN array;
 *   3. a zeroed page substitutes for each partial end page (one when the buffer's head
 *      and tail share a page), from MmAllocatePagesForMdlEx;
 *   4. for a WRITE, the client's in-range bytes of those pages are copied in;
 *   5. the substitutes' frames are spliced into the target's PFN array;
 *   6. MDL_PAGES_LOCKED is set on the target: every page it names is held (by the
 *      request's lock, or by the page allocation);
 *   7. the target is mapped into the server, read-only for a WRITE.
 *
 * Retire unmaps the view in the server's context, copies back (a READ) only the
 * transferred bytes that live in substitutes, frees the substitutes after the unmap,
 * and frees the target without unlocking it (it holds no lock of its own).
 *
 * The C twin of mdlsim::strategy::HeadTailSplice. Expected verdict: passes.
 * Broken variants (compiled with a define): WRITABLE_FOR_WRITES (AccessModeMismatch),
 * FREE_BEFORE_UNMAP (FreeWhileMapped), UNZEROED_SUBSTITUTES (UnsanitizedSubstitute).
 */
#include <wdm.h>

typedef struct _SUBSTITUTE {
    PMDL Mdl;
    PUCHAR System;
    PFN_NUMBER Pfn;
} SUBSTITUTE;

typedef struct _SPLICE {
    PMDL Target;
    PVOID View;
    PUCHAR System; /* the client's buffer in system space */
    SUBSTITUTE Head, Tail;
    ULONG Offset, Pages, LastLength;
} SPLICE;

static BOOLEAN AllocateSubstitute(SUBSTITUTE *S) {
    PHYSICAL_ADDRESS Low = {.QuadPart = 0}, High = {.QuadPart = -1}, Skip = {.QuadPart = 0};
    ULONG Flags = 0;
#ifdef UNZEROED_SUBSTITUTES
    Flags = MM_DONT_ZERO_ALLOCATION;
#endif
    S->Mdl = MmAllocatePagesForMdlEx(Low, High, Skip, PAGE_SIZE, MmCached, Flags);
    if (S->Mdl == NULL) {
        return FALSE;
    }
    S->System = MmGetSystemAddressForMdlSafe(S->Mdl, NormalPagePriority);
    if (S->System == NULL) {
        MmFreePagesFromMdl(S->Mdl);
        IoFreeMdl(S->Mdl);
        S->Mdl = NULL;
        return FALSE;
    }
    S->Pfn = MmGetMdlPfnArray(S->Mdl)[0];
    return TRUE;
}

static void ReleaseSubstitute(SUBSTITUTE *S) {
    if (S->Mdl == NULL) {
        return;
    }
    MmUnmapLockedPages(S->System, S->Mdl); /* unmap before freeing the page */
    MmFreePagesFromMdl(S->Mdl);
    IoFreeMdl(S->Mdl);
    S->Mdl = NULL;
}

static void Release(SPLICE *S) {
    ReleaseSubstitute(&S->Head);
    ReleaseSubstitute(&S->Tail);
}

static void FreeTarget(PMDL Target) {
    Target->MdlFlags &= ~MDL_PAGES_LOCKED; /* it never held a lock: never MmUnlockPages it */
    IoFreeMdl(Target);
}

static PVOID MapIntoServer(PEPROCESS Server, PMDL Mdl, BOOLEAN Writable) {
    KAPC_STATE Apc;
    PVOID View = NULL;
    ULONG Priority = NormalPagePriority | MdlMappingNoExecute | (Writable ? 0 : MdlMappingNoWrite);
    KeStackAttachProcess(Server, &Apc);
    __try {
        View = MmMapLockedPagesSpecifyCache(Mdl, UserMode, MmCached, NULL, FALSE, Priority);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        View = NULL;
    }
    KeUnstackDetachProcess(&Apc);
    return View;
}

static void UnmapFromServer(PEPROCESS Server, PVOID View, PMDL Mdl) {
    if (PsGetProcessExitStatus(Server) != STATUS_PENDING) {
        return; /* the process is gone, and its mappings with it */
    }
    KAPC_STATE Apc;
    KeStackAttachProcess(Server, &Apc);
    MmUnmapLockedPages(View, Mdl);
    KeUnstackDetachProcess(&Apc);
}

NTSTATUS MdlsimExpose(const MDLSIM_IO *Io, PVOID Context, MDLSIM_EXPOSURE *Exposure) {
    ULONG Length = Io->Length;
    if (Length == 0) {
        Exposure->Address = NULL;
        Exposure->Length = 0;
        return STATUS_SUCCESS;
    }
    if (Io->Mdl == NULL) {
        return STATUS_INVALID_USER_BUFFER;
    }
    SPLICE *S = Context;
    S->Offset = BYTE_OFFSET(Io->Buffer);
    S->Pages = (ULONG)ADDRESS_AND_SIZE_TO_SPAN_PAGES(Io->Buffer, Length);
    ULONG End = (S->Offset + Length) % PAGE_SIZE;
    S->LastLength = End == 0 ? PAGE_SIZE : End;
    BOOLEAN Head = S->Offset != 0 || (S->Pages == 1 && End != 0);
    BOOLEAN Tail = S->Pages > 1 && End != 0;
    ULONG HeadLength = Length < PAGE_SIZE - S->Offset ? Length : PAGE_SIZE - S->Offset;

    /* Steps 3 and 4: substitutes, filled with the client's bytes for a WRITE. */
    if (Head || Tail) {
        S->System = MmGetSystemAddressForMdlSafe(Io->Mdl, NormalPagePriority | MdlMappingNoExecute);
        if (S->System == NULL) {
            goto refuse;
        }
    }
    if (Head) {
        if (!AllocateSubstitute(&S->Head)) {
            goto refuse;
        }
        if (Io->Direction == MdlsimWrite) {
            RtlCopyMemory(S->Head.System + S->Offset, S->System, HeadLength);
        }
    }
    if (Tail) {
        if (!AllocateSubstitute(&S->Tail)) {
            goto refuse;
        }
        if (Io->Direction == MdlsimWrite) {
            RtlCopyMemory(S->Tail.System, S->System + Length - S->LastLength, S->LastLength);
        }
    }
    /* Step 2: a target MDL with the request's PFN array. */
    S->Target = IoAllocateMdl(Io->Buffer, Length, FALSE, FALSE, NULL);
    if (S->Target == NULL) {
        goto refuse;
    }
    RtlCopyMemory(MmGetMdlPfnArray(S->Target), MmGetMdlPfnArray(Io->Mdl),
                  S->Pages * sizeof(PFN_NUMBER));
    /* Step 5: splice the substitutes in. */
    if (Head) {
        MmGetMdlPfnArray(S->Target)[0] = S->Head.Pfn;
    }
    if (Tail) {
        MmGetMdlPfnArray(S->Target)[S->Pages - 1] = S->Tail.Pfn;
    }
    /* Step 6. */
    S->Target->MdlFlags |= MDL_PAGES_LOCKED;
    /* Step 7. */
    BOOLEAN Writable = Io->Direction == MdlsimRead;
#ifdef WRITABLE_FOR_WRITES
    Writable = TRUE;
#endif
    S->View = MapIntoServer(Io->Server, S->Target, Writable);
    if (S->View == NULL) {
        FreeTarget(S->Target);
        goto refuse;
    }
    Exposure->Address = S->View;
    Exposure->Length = Length;
    return STATUS_SUCCESS;

refuse:
    Release(S);
    S->Target = NULL;
    return STATUS_INSUFFICIENT_RESOURCES;
}

VOID MdlsimRetire(const MDLSIM_IO *Io, PVOID Context, const IO_STATUS_BLOCK *Reply,
                  MDLSIM_RETIRE_REASON Why, IO_STATUS_BLOCK *Completion) {
    (void)Why;
    ULONG Length = Io->Length;
    BOOLEAN Ok = NT_SUCCESS(Reply->Status);
    ULONG_PTR Count = Reply->Information < Length ? Reply->Information : Length;
    SPLICE *S = Context;
    if (S->Target != NULL) {
#ifdef FREE_BEFORE_UNMAP
        Release(S);
#endif
        UnmapFromServer(Io->Server, S->View, S->Target);
        if (Io->Direction == MdlsimRead && Ok && S->System != NULL) {
            if (S->Head.Mdl != NULL) {
                ULONG HeadLength = Length < PAGE_SIZE - S->Offset ? Length : PAGE_SIZE - S->Offset;
                RtlCopyMemory(S->System, S->Head.System + S->Offset,
                              Count < HeadLength ? Count : HeadLength);
            }
            ULONG TailStart = Length - S->LastLength;
            if (S->Tail.Mdl != NULL && Count > TailStart) {
                RtlCopyMemory(S->System + TailStart, S->Tail.System, Count - TailStart);
            }
        }
        Release(S);
        FreeTarget(S->Target);
    }
    Completion->Status = Reply->Status;
    Completion->Information = Ok ? Count : 0;
}
