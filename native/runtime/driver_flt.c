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
    uint64_t A[] = {W(Driver), Registration->Size, Registration->Version, Registration->Flags};
    uint64_t Filter = Call(MDLSIM_DDI_FltRegisterFilter, A);
    if (Filter == 0) {
        return STATUS_INVALID_PARAMETER;
    }
    const FLT_OPERATION_REGISTRATION *Op = Registration->OperationRegistration;
    for (int I = 0; Op != NULL && Op[I].MajorFunction != IRP_MJ_OPERATION_END; I++) {
        if (I == MDLSIM_MAX_OPERATIONS) {
            return STATUS_INVALID_PARAMETER;
        }
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

/* Microsoft's FltDecodeParameters page: pointers into the parameters themselves, the
 * output side of an IOCTL or FSCTL; the access is what the operation does to the
 * buffer. Fields, not the model: no host call. */
NTSTATUS FltDecodeParameters(PFLT_CALLBACK_DATA CallbackData, PMDL **MdlAddressPointer,
                             PVOID **Buffer, PULONG *Length, LOCK_OPERATION *DesiredAccess) {
    PFLT_IO_PARAMETER_BLOCK Iopb = CallbackData->Iopb;
    PFLT_PARAMETERS P = &Iopb->Parameters;
    LOCK_OPERATION Access = IoWriteAccess;
    switch (Iopb->MajorFunction) {
    case IRP_MJ_READ:
        *MdlAddressPointer = &P->Read.MdlAddress;
        *Buffer = &P->Read.ReadBuffer;
        *Length = &P->Read.Length;
        break;
    case IRP_MJ_WRITE:
        *MdlAddressPointer = &P->Write.MdlAddress;
        *Buffer = &P->Write.WriteBuffer;
        *Length = &P->Write.Length;
        Access = IoReadAccess;
        break;
    case IRP_MJ_DIRECTORY_CONTROL:
        *MdlAddressPointer = &P->DirectoryControl.QueryDirectory.MdlAddress;
        *Buffer = &P->DirectoryControl.QueryDirectory.DirectoryBuffer;
        *Length = &P->DirectoryControl.QueryDirectory.Length;
        break;
    case IRP_MJ_DEVICE_CONTROL:
    case IRP_MJ_INTERNAL_DEVICE_CONTROL:
    case IRP_MJ_FILE_SYSTEM_CONTROL:
        *MdlAddressPointer = &P->DeviceIoControl.Neither.OutputMdlAddress;
        *Buffer = &P->DeviceIoControl.Neither.OutputBuffer;
        *Length = &P->DeviceIoControl.Common.OutputBufferLength;
        break;
    default:
        return STATUS_INVALID_PARAMETER;
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
