/*
 * The filter-manager half of the driver runtime, included at the end of driver_rt.c
 * (it uses its Call and W): the Flt DDIs with their WDK signatures, and the thunks that
 * run a minifilter's pre- and post-operation callbacks.
 */
#include "mdlsim/wdk_flt.h"

/* The most entries an operation table may have before IRP_MJ_OPERATION_END (the IRP
 * major functions and the filter manager's own operation codes, with room). */
#define MDLSIM_MAX_OPERATIONS 64

NTSTATUS FltRegisterFilter(PDRIVER_OBJECT Driver, const FLT_REGISTRATION *Registration,
                           PFLT_FILTER *RetFilter) {
    *RetFilter = NULL;
    if (Registration == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    const FLT_OPERATION_REGISTRATION *Op = Registration->OperationRegistration;
    int Count = 0;
    while (Op != NULL && Op[Count].MajorFunction != IRP_MJ_OPERATION_END) {
        if (++Count > MDLSIM_MAX_OPERATIONS) {
            return STATUS_INVALID_PARAMETER;
        }
    }
    uint64_t A[] = {W(Driver), Registration->Size, Registration->Version, Registration->Flags};
    uint64_t Filter = Call(MDLSIM_DDI_FltRegisterFilter, A);
    if (Filter == 0) {
        return STATUS_INVALID_PARAMETER;
    }
    for (int I = 0; I < Count; I++) {
        uint64_t B[] = {Op[I].MajorFunction, Op[I].Flags, W(Op[I].PreOperation),
                        W(Op[I].PostOperation)};
        Call(MDLSIM_DDI_FltOperation, B);
    }
    *RetFilter = (PFLT_FILTER)(uintptr_t)Filter;
    return STATUS_SUCCESS;
}

NTSTATUS FltStartFiltering(PFLT_FILTER Filter) {
    uint64_t A[] = {W(Filter)};
    return (NTSTATUS)Call(MDLSIM_DDI_FltStartFiltering, A);
}

/* The harness's filter stays registered for the case; unloading is not modelled. */
VOID FltUnregisterFilter(PFLT_FILTER Filter) { (void)Filter; }

VOID FltSetCallbackDataDirty(PFLT_CALLBACK_DATA Data) {
    uint64_t A[] = {W(Data)};
    Call(MDLSIM_DDI_FltSetCallbackDataDirty, A);
}

VOID FltClearCallbackDataDirty(PFLT_CALLBACK_DATA Data) {
    uint64_t A[] = {W(Data)};
    Call(MDLSIM_DDI_FltClearCallbackDataDirty, A);
}

BOOLEAN FltIsCallbackDataDirty(PFLT_CALLBACK_DATA Data) {
    uint64_t A[] = {W(Data)};
    return (BOOLEAN)Call(MDLSIM_DDI_FltIsCallbackDataDirty, A);
}

PVOID FltGetNewSystemBufferAddress(PFLT_CALLBACK_DATA CallbackData) {
    uint64_t A[] = {W(CallbackData)};
    return (PVOID)(uintptr_t)Call(MDLSIM_DDI_FltGetNewSystemBufferAddress, A);
}

NTSTATUS FltLockUserBuffer(PFLT_CALLBACK_DATA CallbackData) {
    uint64_t A[] = {W(CallbackData)};
    return (NTSTATUS)Call(MDLSIM_DDI_FltLockUserBuffer, A);
}

/* Microsoft's FltDecodeParameters page: pointers into the parameters themselves (NULL
 * where the operation has no such field; each out pointer may be NULL), the output side
 * of an IOCTL or FSCTL by its method; the access is what the operation does to the
 * buffer (for an IOCTL this runtime's reading of the method: METHOD_IN_DIRECT's
 * "output" buffer is read, METHOD_OUT_DIRECT's and METHOD_NEITHER's written,
 * METHOD_BUFFERED's system buffer both; the page gives the read's example only).
 * Fields, not the model: no host call. */
NTSTATUS FltDecodeParameters(PFLT_CALLBACK_DATA CallbackData, PMDL **MdlAddressPointer,
                             PVOID **Buffer, PULONG *Length, LOCK_OPERATION *DesiredAccess) {
    PFLT_IO_PARAMETER_BLOCK Iopb = CallbackData->Iopb;
    PFLT_PARAMETERS P = &Iopb->Parameters;
    PMDL *Mdl = NULL;
    PVOID *Buf = NULL;
    PULONG Len = NULL;
    LOCK_OPERATION Access = IoWriteAccess;
    switch (Iopb->MajorFunction) {
    case IRP_MJ_READ:
        Mdl = &P->Read.MdlAddress;
        Buf = &P->Read.ReadBuffer;
        Len = &P->Read.Length;
        break;
    case IRP_MJ_WRITE:
        Mdl = &P->Write.MdlAddress;
        Buf = &P->Write.WriteBuffer;
        Len = &P->Write.Length;
        Access = IoReadAccess;
        break;
    case IRP_MJ_DIRECTORY_CONTROL:
        Mdl = &P->DirectoryControl.QueryDirectory.MdlAddress;
        Buf = &P->DirectoryControl.QueryDirectory.DirectoryBuffer;
        Len = &P->DirectoryControl.QueryDirectory.Length;
        break;
    case IRP_MJ_DEVICE_CONTROL:
    case IRP_MJ_INTERNAL_DEVICE_CONTROL:
    case IRP_MJ_FILE_SYSTEM_CONTROL:
        Len = &P->DeviceIoControl.Common.OutputBufferLength;
        switch (P->DeviceIoControl.Common.IoControlCode & 3) {
        case METHOD_BUFFERED:
            Buf = &P->DeviceIoControl.Buffered.SystemBuffer;
            Access = IoModifyAccess;
            break;
        case METHOD_IN_DIRECT:
            Mdl = &P->DeviceIoControl.Direct.OutputMdlAddress;
            Buf = &P->DeviceIoControl.Direct.OutputBuffer;
            Access = IoReadAccess;
            break;
        case METHOD_OUT_DIRECT:
            Mdl = &P->DeviceIoControl.Direct.OutputMdlAddress;
            Buf = &P->DeviceIoControl.Direct.OutputBuffer;
            break;
        default:
            Mdl = &P->DeviceIoControl.Neither.OutputMdlAddress;
            Buf = &P->DeviceIoControl.Neither.OutputBuffer;
        }
        break;
    default:
        return STATUS_INVALID_PARAMETER;
    }
    if (MdlAddressPointer != NULL) {
        *MdlAddressPointer = Mdl;
    }
    if (Buffer != NULL) {
        *Buffer = Buf;
    }
    if (Length != NULL) {
        *Length = Len;
    }
    if (DesiredAccess != NULL) {
        *DesiredAccess = Access;
    }
    return STATUS_SUCCESS;
}

void MdlsimThunkPreOperation(void *Args) {
    MDLSIM_PRE_ARGS *A = Args;
    PFLT_PRE_OPERATION_CALLBACK F = (PFLT_PRE_OPERATION_CALLBACK)A->Function;
    A->Result = F(A->Data, A->Objects, &A->Context);
}

void MdlsimThunkPostOperation(void *Args) {
    MDLSIM_POST_ARGS *A = Args;
    PFLT_POST_OPERATION_CALLBACK F = (PFLT_POST_OPERATION_CALLBACK)A->Function;
    A->Result = F(A->Data, A->Objects, A->Context, A->Flags);
}
