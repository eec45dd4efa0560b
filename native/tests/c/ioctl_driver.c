/*
 * A device's IOCTL handlers in C, the twins of the guide's MyDevice (chapter 6):
 *   IOCTL_VERSION (METHOD_BUFFERED): 4 bytes into the SystemBuffer, Information 4;
 *   IOCTL_SUM (METHOD_NEITHER): the caller's own pointer, probed and read inside __try;
 *   IOCTL_SET (METHOD_NEITHER): a length-prefixed value read from the caller's memory
 *                               with plain loads, the length captured once.
 * Broken variants (compiled with a define):
 *   INFORMATION_IS_OUTPUT_LENGTH  Information = OutputBufferLength: the I/O manager
 *                                 copies SystemBuffer bytes the driver never wrote
 *   NO_PROBE                      reads the METHOD_NEITHER pointer without ProbeForRead
 *   DOUBLE_FETCH                  IOCTL_SET validates the length, then loads it again
 *   LOOP_OUTSIDE_TRY              IOCTL_SET reads the value after its __try has ended
 *                                 (the page was first touched inside it)
 *   STORE_FIRST                   (with DOUBLE_FETCH) a plain store to pool before the
 *                                 loads, pending until the next DDI: the harness's proof
 *                                 must still land between the two loads
 */
#include <wdm.h>

#define IOCTL_VERSION CTL_CODE(0x8000, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_SUM CTL_CODE(0x8000, 0x903, METHOD_NEITHER, FILE_ANY_ACCESS)
#define IOCTL_SET CTL_CODE(0x8000, 0x904, METHOD_NEITHER, FILE_ANY_ACCESS)
#define SET_MAX 32

static NTSTATUS Version(PIRP Irp, ULONG OutputLength, ULONG_PTR *Information) {
    PVOID Buffer = Irp->AssociatedIrp.SystemBuffer;
    if (Buffer == NULL || OutputLength < 4) {
        return STATUS_BUFFER_TOO_SMALL;
    }
    ULONG Version = 0x00010000;
    RtlCopyMemory(Buffer, &Version, sizeof Version);
#ifdef INFORMATION_IS_OUTPUT_LENGTH
    *Information = OutputLength;
#else
    *Information = sizeof Version;
#endif
    return STATUS_SUCCESS;
}

static NTSTATUS Sum(PIRP Irp, PVOID Source, ULONG Length) {
    if (Source == NULL) {
        return STATUS_INVALID_PARAMETER;
    }
    UCHAR Local[4096];
    ULONG Count = Length < sizeof Local ? Length : sizeof Local;
    __try {
#ifndef NO_PROBE
        if (Irp->RequestorMode == UserMode) {
            ProbeForRead(Source, Length, 1);
        }
#else
        (void)Irp;
#endif
        RtlCopyMemory(Local, Source, Count);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return GetExceptionCode();
    }
    return STATUS_SUCCESS;
}

static NTSTATUS SetValue(PIRP Irp, PVOID Source, ULONG Length, volatile UCHAR *Scratch) {
    if (Source == NULL || Length < sizeof(ULONG)) {
        return STATUS_INVALID_PARAMETER;
    }
    UCHAR Value[SET_MAX];
    const volatile UCHAR *Data = (const volatile UCHAR *)Source + sizeof(ULONG);
    ULONG Len;
    __try {
        if (Irp->RequestorMode == UserMode) {
            ProbeForRead(Source, Length, 1);
        }
        if (Scratch != NULL) {
            Scratch[0] = 1; /* a plain store, pending until the next DDI */
        }
        Len = *(const volatile ULONG *)Source; /* captured once */
        if (Len > SET_MAX || Len > Length - sizeof(ULONG)) {
            return STATUS_INVALID_PARAMETER;
        }
#ifdef DOUBLE_FETCH
        /* The bug: the length is fetched again after it was validated (the clamp only
         * keeps this test process's own stack safe). */
        Len = *(const volatile ULONG *)Source;
        if (Len > SET_MAX) {
            Len = SET_MAX;
        }
#endif
#ifndef LOOP_OUTSIDE_TRY
        for (ULONG I = 0; I < Len; I++) {
            Value[I] = Data[I];
        }
#endif
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return GetExceptionCode();
    }
#ifdef LOOP_OUTSIDE_TRY
    for (ULONG I = 0; I < Len; I++) {
        Value[I] = Data[I];
    }
#endif
    (void)Value;
    return STATUS_SUCCESS;
}

static NTSTATUS Set(PIRP Irp, PVOID Source, ULONG Length) {
#ifdef STORE_FIRST
    volatile UCHAR *Scratch = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, 'rcsS');
    if (Scratch == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    NTSTATUS Status = SetValue(Irp, Source, Length, Scratch);
    ExFreePoolWithTag((PVOID)Scratch, 'rcsS');
    return Status;
#else
    return SetValue(Irp, Source, Length, NULL);
#endif
}

static NTSTATUS DeviceControl(PDEVICE_OBJECT Device, PIRP Irp) {
    (void)Device;
    PIO_STACK_LOCATION Stack = IoGetCurrentIrpStackLocation(Irp);
    ULONG_PTR Information = 0;
    NTSTATUS Status;
    switch (Stack->Parameters.DeviceIoControl.IoControlCode) {
    case IOCTL_VERSION:
        Status = Version(Irp, Stack->Parameters.DeviceIoControl.OutputBufferLength, &Information);
        break;
    case IOCTL_SUM:
        Status = Sum(Irp, Stack->Parameters.DeviceIoControl.Type3InputBuffer,
                     Stack->Parameters.DeviceIoControl.InputBufferLength);
        break;
    case IOCTL_SET:
        Status = Set(Irp, Stack->Parameters.DeviceIoControl.Type3InputBuffer,
                     Stack->Parameters.DeviceIoControl.InputBufferLength);
        break;
    default:
        Status = STATUS_INVALID_DEVICE_REQUEST;
    }
    Irp->IoStatus.Status = Status;
    Irp->IoStatus.Information = Information;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return Status;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT Driver, PUNICODE_STRING RegistryPath) {
    (void)RegistryPath;
    Driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = DeviceControl;
    return STATUS_SUCCESS;
}
