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
 *   IOCTL_WAIT_CSQ (METHOD_BUFFERED): pended in a cancel-safe queue (IoCsq*) in the
 *                extension, completed STATUS_CANCELLED by its CsqCompleteCanceledIrp;
 *   IOCTL_RELEASE (METHOD_BUFFERED): completes the oldest IRP of the cancel-safe queue
 *                with STATUS_SUCCESS, if there is one.
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
#define IOCTL_WAIT_CSQ CTL_CODE(0x8000, 0x912, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_RELEASE CTL_CODE(0x8000, 0x913, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define MAGIC 0x21747845 /* 'Ext!' */
#define STATUS_DEVICE_NOT_READY ((NTSTATUS)0xC00000A3L)

typedef struct _COUNTER_EXTENSION {
    ULONG Magic;
    ULONG Requests;
    KSPIN_LOCK Lock;
    PVOID State;
    LIST_ENTRY Waiters;
    IO_CSQ Csq;
    LIST_ENTRY CsqQueue;
} COUNTER_EXTENSION;

#define EXT_OF(Csq) CONTAINING_RECORD(Csq, COUNTER_EXTENSION, Csq)

static VOID CsqInsert(PIO_CSQ Csq, PIRP Irp) {
    InsertTailList(&EXT_OF(Csq)->CsqQueue, &Irp->Tail.Overlay.ListEntry);
}

static VOID CsqRemove(PIO_CSQ Csq, PIRP Irp) {
    (void)Csq;
    RemoveEntryList(&Irp->Tail.Overlay.ListEntry);
}

static PIRP CsqPeekNext(PIO_CSQ Csq, PIRP Irp, PVOID PeekContext) {
    (void)PeekContext;
    PLIST_ENTRY Head = &EXT_OF(Csq)->CsqQueue;
    PLIST_ENTRY Next = Irp == NULL ? Head->Flink : Irp->Tail.Overlay.ListEntry.Flink;
    return Next == Head ? NULL : CONTAINING_RECORD(Next, IRP, Tail.Overlay.ListEntry);
}

static VOID CsqAcquire(PIO_CSQ Csq, PKIRQL Irql) { KeAcquireSpinLock(&EXT_OF(Csq)->Lock, Irql); }

static VOID CsqRelease(PIO_CSQ Csq, KIRQL Irql) { KeReleaseSpinLock(&EXT_OF(Csq)->Lock, Irql); }

static VOID CsqCompleteCanceled(PIO_CSQ Csq, PIRP Irp) {
    (void)Csq;
    Irp->IoStatus.Status = STATUS_CANCELLED;
    Irp->IoStatus.Information = 0;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
}

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
    /* The old IRQL kept in the IRP, as some drivers do. */
    IoAcquireCancelSpinLock(&Irp->CancelIrql);
    IoMarkIrpPending(Irp);
#ifndef NO_CANCEL_ROUTINE
    IoSetCancelRoutine(Irp, CancelWait);
#endif
    InsertTailList(&Ext->Waiters, &Irp->Tail.Overlay.ListEntry);
    IoReleaseCancelSpinLock(Irp->CancelIrql);
    return STATUS_PENDING;
}

static NTSTATUS DeviceControl(PDEVICE_OBJECT Device, PIRP Irp) {
    PIO_STACK_LOCATION Stack = IoGetCurrentIrpStackLocation(Irp);
    ULONG Code = Stack->Parameters.DeviceIoControl.IoControlCode;
    COUNTER_EXTENSION *Ext = Device->DeviceExtension;
    if (Code == IOCTL_WAIT) {
        return Wait(Device, Irp);
    }
    if (Code == IOCTL_WAIT_CSQ) {
        IoCsqInsertIrp(&Ext->Csq, Irp, NULL);
        return STATUS_PENDING;
    }
    if (Code == IOCTL_RELEASE) {
        PIRP Oldest = IoCsqRemoveNextIrp(&Ext->Csq, NULL);
        if (Oldest != NULL) {
            Oldest->IoStatus.Status = STATUS_SUCCESS;
            Oldest->IoStatus.Information = 0;
            IoCompleteRequest(Oldest, IO_NO_INCREMENT);
        }
    }
    ULONG_PTR Information = 0;
    NTSTATUS Status = Code == IOCTL_RELEASE ? STATUS_SUCCESS : STATUS_INVALID_DEVICE_REQUEST;
    if (Code == IOCTL_COUNT) {
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
    InitializeListHead(&Ext->CsqQueue);
    IoCsqInitialize(&Ext->Csq, CsqInsert, CsqRemove, CsqPeekNext, CsqAcquire, CsqRelease,
                    CsqCompleteCanceled);
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
