/*
 * The "obvious" zero-copy without the fix: the request's MDL mapped straight into the
 * server (read-only for a WRITE), so the server reaches every byte of the first and last
 * pages, inside the range or not. The C twin of mdlsim::strategy::broken::DirectMap.
 * Expected verdict: PartialPageExposure.
 */
#include <wdm.h>

NTSTATUS MdlsimExpose(const MDLSIM_IO *Io, PVOID Context, MDLSIM_EXPOSURE *Exposure) {
    if (Io->Mdl == NULL) {
        Exposure->Address = NULL;
        Exposure->Length = 0;
        return STATUS_SUCCESS;
    }
    ULONG Priority = NormalPagePriority | MdlMappingNoExecute;
    if (Io->Direction == MdlsimWrite) {
        Priority |= MdlMappingNoWrite;
    }
    KAPC_STATE Apc;
    PVOID View = NULL;
    KeStackAttachProcess(Io->Server, &Apc);
    __try {
        View = MmMapLockedPagesSpecifyCache(Io->Mdl, UserMode, MmCached, NULL, FALSE, Priority);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        View = NULL;
    }
    KeUnstackDetachProcess(&Apc);
    if (View == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    *(PVOID *)Context = View;
    Exposure->Address = View;
    Exposure->Length = Io->Length;
    return STATUS_SUCCESS;
}

VOID MdlsimRetire(const MDLSIM_IO *Io, PVOID Context, const IO_STATUS_BLOCK *Reply,
                  MDLSIM_RETIRE_REASON Why, IO_STATUS_BLOCK *Completion) {
    (void)Why;
    PVOID View = *(PVOID *)Context;
    if (View != NULL && Io->Mdl != NULL &&
        PsGetProcessExitStatus(Io->Server) == STATUS_PENDING) {
        KAPC_STATE Apc;
        KeStackAttachProcess(Io->Server, &Apc);
        MmUnmapLockedPages(View, Io->Mdl);
        KeUnstackDetachProcess(&Apc);
    }
    BOOLEAN Ok = NT_SUCCESS(Reply->Status);
    Completion->Status = Reply->Status;
    Completion->Information = Ok ? (Reply->Information < Io->Length ? Reply->Information : Io->Length) : 0;
}
