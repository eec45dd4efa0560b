/*
 * A buffer-swapping minifilter in C (Microsoft's SwapBuffers pattern), the twin of the
 * Rust SwapFilter of the driver harness (mdlsim::verify_driver::filter):
 *   reads and writes: a non-paged swap buffer with its own MDL goes down in place of the
 *     caller's (a write's bytes copied in first); the post callback copies Information
 *     bytes of a read back to the caller's MDL or buffer and frees the swap buffer (the
 *     filter manager frees the swap MDL);
 *   directory notifications: the post callback reads what arrived through
 *     FltGetNewSystemBufferAddress (the file system's new SystemBuffer).
 * Broken variants (compiled with a define), each the twin of a FilterBug:
 *   COPIES_WHOLE_LENGTH        a read copied back by Length, not Information
 *   LEAKS_SWAP_BUFFER          the swap buffer never freed
 *   READS_DIRECTORY_BUFFER     the notification's user DirectoryBuffer read in the post
 *                              callback, in whatever context completes it
 *   ASSUMES_NEW_SYSTEM_BUFFER  FltGetNewSystemBufferAddress's result used unchecked
 *   SWAPS_WRITE_UNCOPIED       a write's swap buffer sent down without the caller's bytes
 * Registration mistakes the harness refuses:
 *   NO_START                   DriverEntry never calls FltStartFiltering
 *   WRONG_SIZE                 a registration whose Size is not sizeof(FLT_REGISTRATION)
 *   CLEARS_DIRTY               the swap made dirty, then FltClearCallbackDataDirty: the
 *                              filter manager ignores it, the file system reads into the
 *                              caller's buffer, and the post callback copies the unread
 *                              swap buffer over it (stale pool to user mode)
 * And correct alternatives:
 *   LOCK_IN_PRE                notifications: FltLockUserBuffer in the pre callback, the
 *                              post callback reads through the MDL (the pre-Windows 7 way)
 *   LOCK_READ_IN_PRE           reads are not swapped: FltLockUserBuffer in the pre
 *                              callback, and the file system reads through that MDL
 *   LOCK_READ_IN_POST          a swapped read's post callback locks the caller's buffer
 *                              (FltLockUserBuffer) and copies through the MDL, as
 *                              SwapBuffers' "when safe" path does
 *   USE_DECODE                 the swap made through FltDecodeParameters' pointers
 * The correct builds assert (ExRaiseStatus, which the harness reports) what they rely on.
 */
#include <fltKernel.h>

#define SWAP_TAG 'pawS'

static PFLT_FILTER Filter;

/* Copies a write's bytes from the caller (its MDL, else its buffer, probed, in __try)
 * into the swap buffer; FALSE if that faulted. */
static BOOLEAN CopyIn(PFLT_CALLBACK_DATA Data, PVOID Swap, ULONG Length) {
    PFLT_PARAMETERS P = &Data->Iopb->Parameters;
    PVOID Source = P->Write.WriteBuffer;
    if (P->Write.MdlAddress != NULL) {
        Source = MmGetSystemAddressForMdlSafe(P->Write.MdlAddress, NormalPagePriority);
    }
    if (Source == NULL) {
        return FALSE;
    }
    BOOLEAN User = P->Write.MdlAddress == NULL && Data->RequestorMode == UserMode;
    __try {
        if (User) {
            ProbeForRead(Source, Length, 1);
        }
        RtlCopyMemory(Swap, Source, Length);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return FALSE;
    }
    return TRUE;
}

/* Puts the swap buffer and its MDL in the parameters, and makes them dirty. */
static VOID InstallSwap(PFLT_CALLBACK_DATA Data, PVOID Buffer, PMDL Mdl) {
#ifdef USE_DECODE
    PMDL *MdlField;
    PVOID *BufferField;
    if (!NT_SUCCESS(FltDecodeParameters(Data, &MdlField, &BufferField, NULL, NULL))) {
        ExRaiseStatus(STATUS_UNSUCCESSFUL);
    }
    *BufferField = Buffer;
    *MdlField = Mdl;
#else
    PFLT_PARAMETERS P = &Data->Iopb->Parameters;
    if (Data->Iopb->MajorFunction == IRP_MJ_WRITE) {
        P->Write.WriteBuffer = Buffer;
        P->Write.MdlAddress = Mdl;
    } else {
        P->Read.ReadBuffer = Buffer;
        P->Read.MdlAddress = Mdl;
    }
#endif
    FltSetCallbackDataDirty(Data);
    if (!FltIsCallbackDataDirty(Data)) {
        ExRaiseStatus(STATUS_UNSUCCESSFUL);
    }
#ifdef CLEARS_DIRTY
    FltClearCallbackDataDirty(Data);
#endif
}

static FLT_PREOP_CALLBACK_STATUS PreReadWrite(PFLT_CALLBACK_DATA Data,
                                              PCFLT_RELATED_OBJECTS FltObjects,
                                              PVOID *CompletionContext) {
    (void)FltObjects;
    PFLT_PARAMETERS P = &Data->Iopb->Parameters;
    BOOLEAN Write = Data->Iopb->MajorFunction == IRP_MJ_WRITE;
    ULONG Length = P->Read.Length; /* Read and Write share the layout */
    if (Length == 0) {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
#ifdef LOCK_READ_IN_PRE
    if (!Write) {
        NTSTATUS Status = FltLockUserBuffer(Data);
        return NT_SUCCESS(Status) ? FLT_PREOP_SUCCESS_WITH_CALLBACK
                                  : FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
#endif
    PVOID Buffer = ExAllocatePoolWithTag(NonPagedPool, Length, SWAP_TAG);
    if (Buffer == NULL) {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
#ifndef SWAPS_WRITE_UNCOPIED
    if (Write && !CopyIn(Data, Buffer, Length)) {
        ExFreePoolWithTag(Buffer, SWAP_TAG);
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
#endif
    PMDL Mdl = IoAllocateMdl(Buffer, Length, FALSE, FALSE, NULL);
    if (Mdl == NULL) {
        ExFreePoolWithTag(Buffer, SWAP_TAG);
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
    MmBuildMdlForNonPagedPool(Mdl);
    InstallSwap(Data, Buffer, Mdl);
    *CompletionContext = Buffer;
    return FLT_PREOP_SUCCESS_WITH_CALLBACK;
}

/* The post callback of a swapped read: Information bytes to the caller (the parameters
 * are the original ones again: its MDL, else its buffer inside __try). */
static VOID PostRead(PFLT_CALLBACK_DATA Data, PVOID Swap) {
    PFLT_PARAMETERS P = &Data->Iopb->Parameters;
#ifdef COPIES_WHOLE_LENGTH
    ULONG_PTR N = P->Read.Length;
#else
    ULONG_PTR N = Data->IoStatus.Information;
    if (N > P->Read.Length) {
        N = P->Read.Length;
    }
#endif
    if (NT_SUCCESS(Data->IoStatus.Status) && N > 0) {
#ifdef LOCK_READ_IN_POST
        if (P->Read.MdlAddress == NULL && !NT_SUCCESS(FltLockUserBuffer(Data))) {
            ExFreePoolWithTag(Swap, SWAP_TAG);
            return;
        }
#endif
        PVOID Target = P->Read.ReadBuffer;
        BOOLEAN User = Data->RequestorMode == UserMode;
        if (P->Read.MdlAddress != NULL) {
            Target = MmGetSystemAddressForMdlSafe(P->Read.MdlAddress, NormalPagePriority);
            User = FALSE;
        }
        if (Target != NULL) {
            __try {
                if (User) {
                    ProbeForWrite(Target, N, 1);
                }
                RtlCopyMemory(Target, Swap, N);
            } __except (EXCEPTION_EXECUTE_HANDLER) {
            }
        }
    }
#ifndef LEAKS_SWAP_BUFFER
    ExFreePoolWithTag(Swap, SWAP_TAG);
#endif
}

/* Reads N bytes at P: what a filter looking at a notification does with them. */
static ULONG Digest(const volatile UCHAR *P, ULONG_PTR N) {
    ULONG Sum = 0;
    for (ULONG_PTR I = 0; I < N; I++) {
        Sum = Sum * 31 + P[I];
    }
    return Sum;
}

static FLT_PREOP_CALLBACK_STATUS PreDirectory(PFLT_CALLBACK_DATA Data,
                                             PCFLT_RELATED_OBJECTS FltObjects,
                                             PVOID *CompletionContext) {
    (void)FltObjects;
    /* The post callback checks that it gets the same callback data. */
    *CompletionContext = Data;
#ifdef LOCK_IN_PRE
    if (Data->Iopb->MinorFunction == IRP_MN_NOTIFY_CHANGE_DIRECTORY &&
        !NT_SUCCESS(FltLockUserBuffer(Data))) {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
#else
    (void)Data;
#endif
    return FLT_PREOP_SUCCESS_WITH_CALLBACK;
}

static volatile ULONG Seen;

static VOID PostNotify(PFLT_CALLBACK_DATA Data) {
    ULONG_PTR N = Data->IoStatus.Information;
#ifdef ASSUMES_NEW_SYSTEM_BUFFER
    if (NT_SUCCESS(Data->IoStatus.Status)) {
        Seen = Digest(FltGetNewSystemBufferAddress(Data), 4);
    }
    return;
#endif
    if (!NT_SUCCESS(Data->IoStatus.Status) || N == 0) {
        return;
    }
#if defined(READS_DIRECTORY_BUFFER)
    PVOID User = Data->Iopb->Parameters.DirectoryControl.NotifyDirectory.DirectoryBuffer;
    if (User != NULL) {
        __try {
            Seen = Digest(User, N);
        } __except (EXCEPTION_EXECUTE_HANDLER) {
        }
    }
#elif defined(LOCK_IN_PRE)
    /* The test's assertions: the MDL locked in pre is in the parameters, and the change
     * record arrived through it (a record is never all zeros). */
    PMDL Mdl = Data->Iopb->Parameters.DirectoryControl.NotifyDirectory.MdlAddress;
    if (Mdl == NULL) {
        if (Data->Iopb->Parameters.DirectoryControl.NotifyDirectory.DirectoryBuffer != NULL) {
            ExRaiseStatus(STATUS_UNSUCCESSFUL);
        }
        return; /* no buffer: nothing was locked */
    }
    PVOID Mapped = MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority);
    if (Mapped != NULL) {
        Seen = Digest(Mapped, N);
        if (Seen == 0) {
            ExRaiseStatus(STATUS_UNSUCCESSFUL);
        }
    }
#else
    PVOID Buffer = FltGetNewSystemBufferAddress(Data);
    if (Buffer != NULL) {
        Seen = Digest(Buffer, N);
    }
#endif
}

static FLT_POSTOP_CALLBACK_STATUS Post(PFLT_CALLBACK_DATA Data,
                                      PCFLT_RELATED_OBJECTS FltObjects, PVOID CompletionContext,
                                      FLT_POST_OPERATION_FLAGS Flags) {
    (void)FltObjects;
    (void)Flags;
    switch (Data->Iopb->MajorFunction) {
    case IRP_MJ_READ:
#ifdef LOCK_READ_IN_PRE
        if (Data->Iopb->Parameters.Read.MdlAddress == NULL &&
            Data->Iopb->Parameters.Read.ReadBuffer != NULL) {
            ExRaiseStatus(STATUS_UNSUCCESSFUL); /* the MDL locked in pre is shown */
        }
#endif
        if (CompletionContext != NULL) {
            PostRead(Data, CompletionContext);
        }
        break;
    case IRP_MJ_WRITE:
        if (CompletionContext != NULL) {
            ExFreePoolWithTag(CompletionContext, SWAP_TAG);
        }
        break;
    case IRP_MJ_DIRECTORY_CONTROL:
        if (CompletionContext != Data) {
            ExRaiseStatus(STATUS_UNSUCCESSFUL); /* pre and post share the callback data */
        }
        if (Data->Iopb->MinorFunction == IRP_MN_NOTIFY_CHANGE_DIRECTORY) {
            PostNotify(Data);
        }
        break;
    }
    return FLT_POSTOP_FINISHED_PROCESSING;
}

static const FLT_OPERATION_REGISTRATION Callbacks[] = {
    {IRP_MJ_READ, 0, PreReadWrite, Post, NULL},
    {IRP_MJ_WRITE, 0, PreReadWrite, Post, NULL},
    {IRP_MJ_DIRECTORY_CONTROL, 0, PreDirectory, Post, NULL},
    {IRP_MJ_OPERATION_END, 0, NULL, NULL, NULL},
};

static const FLT_REGISTRATION Registration = {
#ifdef WRONG_SIZE
    .Size = 0x68, /* the size before Windows 8's SectionNotificationCallback */
#else
    .Size = sizeof(FLT_REGISTRATION),
#endif
    .Version = FLT_REGISTRATION_VERSION,
    .OperationRegistration = Callbacks,
};

NTSTATUS DriverEntry(PDRIVER_OBJECT Driver, PUNICODE_STRING RegistryPath) {
    (void)RegistryPath;
    NTSTATUS Status = FltRegisterFilter(Driver, &Registration, &Filter);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
#ifdef NO_START
    return STATUS_SUCCESS;
#endif
    Status = FltStartFiltering(Filter);
    if (!NT_SUCCESS(Status)) {
        FltUnregisterFilter(Filter);
    }
    return Status;
}
