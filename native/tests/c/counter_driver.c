/*
 * A device whose state lives in its device extension, set up in DriverEntry:
 *   DriverEntry: IoCreateDevice with a COUNTER_EXTENSION, Magic set, the request count
 *                zeroed, DO_BUFFERED_IO set and DO_DEVICE_INITIALIZING cleared;
 *   IOCTL_COUNT (METHOD_BUFFERED): the number of requests so far, this one included,
 *                into the SystemBuffer (4 bytes), or STATUS_DEVICE_NOT_READY when the
 *                extension is not the one DriverEntry initialised.
 *   IOCTL_WAIT (METHOD_BUFFERED): pended in a queue in the extension (linked through
 *                Irp->Tail.Overlay.ListEntry) with a cancel routine, which takes it off
 *                the queue and completes it STATUS_CANCELLED when the app exits.
 * Broken variants (compiled with a define):
 *   NO_CANCEL_ROUTINE         IOCTL_WAIT pends without a cancel routine: nothing ever
 *                             completes it
 *   CANCEL_DOES_NOT_COMPLETE  the cancel routine dequeues the IRP and returns
 *   REPLACE_STATE  every request replaces the extension's pool buffer (allocated in
 *                  DriverEntry) with a fresh one and never frees the old: pool leaked
 *                  per request.
 */
#include <wdm.h>

#define IOCTL_COUNT CTL_CODE(0x8000, 0x910, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_WAIT CTL_CODE(0x8000, 0x911, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define MAGIC 0x21747845 /* 'Ext!' */
#define STATUS_DEVICE_NOT_READY ((NTSTATUS)0xC00000A3L)

typedef struct _COUNTER_EXTENSION {
    ULONG Magic;
    ULONG Requests;
    KSPIN_LOCK Lock;
    PVOID State;
    LIST_ENTRY Waiters;
} COUNTER_EXTENSION;

static NTSTATUS Count(PDEVICE_OBJECT Device, PIRP Irp, ULONG OutputLength,
                      ULONG_PTR *Information) {
    COUNTER_EXTENSION *Ext = Device->DeviceExtension;
    if (Ext == NULL || Ext->Magic != MAGIC) {
        return STATUS_DEVICE_NOT_READY;
    }
    PVOID Buffer = Irp->AssociatedIrp.SystemBuffer;
    if (Buffer == NULL || OutputLength < sizeof(ULONG)) {
        return STATUS_BUFFER_TOO_SMALL;
    }
    KIRQL Old;
    KeAcquireSpinLock(&Ext->Lock, &Old);
    ULONG Requests = ++Ext->Requests;
    KeReleaseSpinLock(&Ext->Lock, Old);
#ifdef REPLACE_STATE
    PVOID Fresh = ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, 'tatS');
    if (Fresh != NULL) {
        Ext->State = Fresh;
    }
#endif
    RtlCopyMemory(Buffer, &Requests, sizeof Requests);
    *Information = sizeof Requests;
    return STATUS_SUCCESS;
}

static VOID CancelWait(PDEVICE_OBJECT Device, PIRP Irp) {
    (void)Device;
    RemoveEntryList(&Irp->Tail.Overlay.ListEntry);
    IoReleaseCancelSpinLock(Irp->CancelIrql);
#ifndef CANCEL_DOES_NOT_COMPLETE
    Irp->IoStatus.Status = STATUS_CANCELLED;
    Irp->IoStatus.Information = 0;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
#endif
}

static NTSTATUS Wait(PDEVICE_OBJECT Device, PIRP Irp) {
    COUNTER_EXTENSION *Ext = Device->DeviceExtension;
    KIRQL Old;
    IoAcquireCancelSpinLock(&Old);
    IoMarkIrpPending(Irp);
#ifndef NO_CANCEL_ROUTINE
    IoSetCancelRoutine(Irp, CancelWait);
#endif
    InsertTailList(&Ext->Waiters, &Irp->Tail.Overlay.ListEntry);
    IoReleaseCancelSpinLock(Old);
    return STATUS_PENDING;
}

static NTSTATUS DeviceControl(PDEVICE_OBJECT Device, PIRP Irp) {
    PIO_STACK_LOCATION Stack = IoGetCurrentIrpStackLocation(Irp);
    if (Stack->Parameters.DeviceIoControl.IoControlCode == IOCTL_WAIT) {
        return Wait(Device, Irp);
    }
    ULONG_PTR Information = 0;
    NTSTATUS Status = STATUS_INVALID_DEVICE_REQUEST;
    if (Stack->Parameters.DeviceIoControl.IoControlCode == IOCTL_COUNT) {
        Status = Count(Device, Irp, Stack->Parameters.DeviceIoControl.OutputBufferLength,
                       &Information);
    }
    Irp->IoStatus.Status = Status;
    Irp->IoStatus.Information = Information;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return Status;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT Driver, PUNICODE_STRING RegistryPath) {
    (void)RegistryPath;
    PDEVICE_OBJECT Device;
    NTSTATUS Status = IoCreateDevice(Driver, sizeof(COUNTER_EXTENSION), NULL,
                                     FILE_DEVICE_UNKNOWN, FILE_DEVICE_SECURE_OPEN, FALSE,
                                     &Device);
    if (!NT_SUCCESS(Status)) {
        return Status;
    }
    COUNTER_EXTENSION *Ext = Device->DeviceExtension;
    Ext->Magic = MAGIC;
    Ext->Requests = 0;
    KeInitializeSpinLock(&Ext->Lock);
    InitializeListHead(&Ext->Waiters);
    Ext->State = ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, 'tatS');
    if (Ext->State == NULL) {
        IoDeleteDevice(Device);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    Device->Flags |= DO_BUFFERED_IO;
    Device->Flags &= ~DO_DEVICE_INITIALIZING;
    Driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = DeviceControl;
    return STATUS_SUCCESS;
}
