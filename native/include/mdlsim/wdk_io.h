/*
 * The I/O part of mdlsim's WDK-shaped interface: IRPs, stack locations, device and
 * driver objects in their x64 layouts, and the I/O DDIs. Included by <mdlsim/wdk.h>,
 * after the basic types; not meant to be included on its own.
 */
#ifndef MDLSIM_WDK_IO_H
#define MDLSIM_WDK_IO_H

/* ----- IRPs, stack locations, device and driver objects (x64 layouts) --------------- */

typedef struct _IO_STACK_LOCATION {
    UCHAR MajorFunction;
    UCHAR MinorFunction;
    UCHAR Flags;
    UCHAR Control;
    union {
        struct {
            ULONG Length;
            ULONG __attribute__((aligned(8))) Key;
            ULONG Flags;
            LARGE_INTEGER ByteOffset;
        } Read, Write;
        struct {
            ULONG OutputBufferLength;
            ULONG __attribute__((aligned(8))) InputBufferLength;
            ULONG __attribute__((aligned(8))) IoControlCode;
            PVOID Type3InputBuffer;
        } DeviceIoControl;
        struct {
            PVOID Argument1, Argument2, Argument3, Argument4;
        } Others;
    } Parameters;
    struct _DEVICE_OBJECT *DeviceObject;
    PVOID FileObject;
    PVOID CompletionRoutine;
    PVOID Context;
} IO_STACK_LOCATION, *PIO_STACK_LOCATION;
_Static_assert(sizeof(IO_STACK_LOCATION) == 0x48, "x64 IO_STACK_LOCATION");
_Static_assert(offsetof(IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode) == 0x18,
               "IoControlCode at 0x18");
_Static_assert(offsetof(IO_STACK_LOCATION, Parameters.DeviceIoControl.Type3InputBuffer) == 0x20,
               "Type3InputBuffer at 0x20");
_Static_assert(offsetof(IO_STACK_LOCATION, DeviceObject) == 0x28, "DeviceObject at 0x28");

struct _IRP {
    CSHORT Type;
    USHORT Size;
    USHORT AllocationProcessorNumber;
    USHORT Reserved;
    PMDL MdlAddress;
    ULONG Flags;
    union {
        struct _IRP *MasterIrp;
        LONG IrpCount;
        PVOID SystemBuffer;
    } AssociatedIrp;
    LIST_ENTRY ThreadListEntry;
    IO_STATUS_BLOCK IoStatus;
    KPROCESSOR_MODE RequestorMode;
    BOOLEAN PendingReturned;
    CHAR StackCount;
    CHAR CurrentLocation;
    BOOLEAN Cancel;
    KIRQL CancelIrql;
    CCHAR ApcEnvironment;
    UCHAR AllocationFlags;
    PIO_STATUS_BLOCK UserIosb;
    PVOID UserEvent;
    union {
        struct {
            PVOID UserApcRoutine;
            PVOID UserApcContext;
        } AsynchronousParameters;
        LARGE_INTEGER AllocationSize;
    } Overlay;
    PVOID CancelRoutine;
    PVOID UserBuffer;
    union {
        struct {
            union {
                UCHAR DeviceQueueEntry[0x18];
                PVOID DriverContext[4];
            };
            PVOID Thread;
            PCHAR AuxiliaryBuffer;
            LIST_ENTRY ListEntry;
            union {
                PIO_STACK_LOCATION CurrentStackLocation;
                ULONG PacketType;
            };
            PVOID OriginalFileObject;
            PVOID IrpExtension;
        } Overlay;
        UCHAR Apc[0x58];
        PVOID CompletionKey;
    } Tail;
};
_Static_assert(sizeof(IRP) == 0xD0, "the x64 IRP is 0xD0 bytes");
_Static_assert(offsetof(IRP, IoStatus) == 0x30, "IoStatus at 0x30");
_Static_assert(offsetof(IRP, UserBuffer) == 0x70, "UserBuffer at 0x70");
_Static_assert(offsetof(IRP, CancelIrql) == 0x45, "CancelIrql at 0x45");
_Static_assert(offsetof(IRP, CancelRoutine) == 0x68, "CancelRoutine at 0x68");
_Static_assert(offsetof(IRP, Tail.Overlay.ListEntry) == 0xA8, "ListEntry at 0xA8");
_Static_assert(offsetof(IRP, Tail.Overlay.CurrentStackLocation) == 0xB8,
               "CurrentStackLocation at 0xB8");

typedef struct _DRIVER_OBJECT DRIVER_OBJECT, *PDRIVER_OBJECT;

typedef struct _DEVICE_OBJECT {
    CSHORT Type;
    USHORT Size;
    LONG ReferenceCount;
    PDRIVER_OBJECT DriverObject;
    struct _DEVICE_OBJECT *NextDevice;
    struct _DEVICE_OBJECT *AttachedDevice;
    PIRP CurrentIrp;
    PVOID Timer;
    ULONG Flags;
    ULONG Characteristics;
    PVOID Vpb;
    PVOID DeviceExtension;
    ULONG DeviceType;
    CCHAR StackSize;
    UCHAR Rest[0x150 - 0x4D];
} DEVICE_OBJECT, *PDEVICE_OBJECT;
_Static_assert(offsetof(DEVICE_OBJECT, Flags) == 0x30, "Flags at 0x30");
_Static_assert(offsetof(DEVICE_OBJECT, DeviceExtension) == 0x40, "DeviceExtension at 0x40");
_Static_assert(offsetof(DEVICE_OBJECT, StackSize) == 0x4C, "StackSize at 0x4C");

typedef struct _UNICODE_STRING {
    USHORT Length;
    USHORT MaximumLength;
    uint16_t *Buffer;
} UNICODE_STRING, *PUNICODE_STRING;

typedef NTSTATUS (*PDRIVER_DISPATCH)(PDEVICE_OBJECT DeviceObject, PIRP Irp);
typedef VOID (*PDRIVER_UNLOAD)(PDRIVER_OBJECT DriverObject);

#define IRP_MJ_CREATE 0x00
#define IRP_MJ_CLOSE 0x02
#define IRP_MJ_READ 0x03
#define IRP_MJ_WRITE 0x04
#define IRP_MJ_DIRECTORY_CONTROL 0x0c
#define IRP_MJ_FILE_SYSTEM_CONTROL 0x0d
#define IRP_MJ_DEVICE_CONTROL 0x0e
#define IRP_MJ_INTERNAL_DEVICE_CONTROL 0x0f
#define IRP_MJ_CLEANUP 0x12
#define IRP_MJ_MAXIMUM_FUNCTION 0x1b

#define IRP_MN_QUERY_DIRECTORY 0x01
#define IRP_MN_NOTIFY_CHANGE_DIRECTORY 0x02

/* Irp->Flags bits a buffer algorithm tests. */
#define IRP_NOCACHE 0x00000001
#define IRP_PAGING_IO 0x00000002
#define IRP_BUFFERED_IO 0x00000010

typedef struct _FILE_OBJECT FILE_OBJECT, *PFILE_OBJECT;

struct _DRIVER_OBJECT {
    CSHORT Type;
    CSHORT Size;
    PDEVICE_OBJECT DeviceObject;
    ULONG Flags;
    PVOID DriverStart;
    ULONG DriverSize;
    PVOID DriverSection;
    PVOID DriverExtension;
    UNICODE_STRING DriverName;
    PUNICODE_STRING HardwareDatabase;
    PVOID FastIoDispatch;
    PVOID DriverInit;
    PVOID DriverStartIo;
    PDRIVER_UNLOAD DriverUnload;
    PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];
};
_Static_assert(offsetof(DRIVER_OBJECT, MajorFunction) == 0x70, "MajorFunction at 0x70");
_Static_assert(sizeof(DRIVER_OBJECT) == 0x150, "the x64 DRIVER_OBJECT is 0x150 bytes");

#define DO_BUFFERED_IO 0x00000004
#define DO_DIRECT_IO 0x00000010
#define METHOD_BUFFERED 0
#define METHOD_IN_DIRECT 1
#define METHOD_OUT_DIRECT 2
#define METHOD_NEITHER 3
#define FILE_ANY_ACCESS 0
#define FILE_READ_ACCESS 0x0001
#define FILE_WRITE_ACCESS 0x0002
#define CTL_CODE(DeviceType, Function, Method, Access) \
    (((DeviceType) << 16) | ((Access) << 14) | ((Function) << 2) | (Method))
#define IO_NO_INCREMENT 0
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)

#define IoGetCurrentIrpStackLocation(Irp) ((Irp)->Tail.Overlay.CurrentStackLocation)
VOID IofCompleteRequest(PIRP Irp, CCHAR PriorityBoost);
#define IoCompleteRequest(Irp, PriorityBoost) IofCompleteRequest((Irp), (PriorityBoost))
/* A macro in the WDK (SL_PENDING_RETURNED in the current location's Control); a DDI
 * here, with the same effect. */
VOID IoMarkIrpPending(PIRP Irp);

/* Cancellation. IoSetCancelRoutine is a macro over InterlockedExchangePointer in the
 * WDK, a DDI here (the model keeps the routine). A cancel routine runs at the IRQL of
 * IoCancelIrp's caller, the model's convention, and IoCancelIrp stores that IRQL in
 * Irp->CancelIrql, so the routine's IoReleaseCancelSpinLock(Irp->CancelIrql) leaves the
 * IRQL as Windows' would. A driver may keep its own old IRQL there too. */
typedef VOID (*PDRIVER_CANCEL)(PDEVICE_OBJECT DeviceObject, PIRP Irp);
PDRIVER_CANCEL IoSetCancelRoutine(PIRP Irp, PDRIVER_CANCEL CancelRoutine);
VOID IoAcquireCancelSpinLock(PKIRQL Irql);
VOID IoReleaseCancelSpinLock(KIRQL Irql);
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)

/* The cancel-safe queue (IoCsq*): library routines over IoSetCancelRoutine, in the C
 * runtime. They keep their state in Irp->Tail.Overlay.DriverContext[3], which a driver
 * using them leaves alone. */
struct _IO_CSQ;
typedef struct _IO_CSQ_IRP_CONTEXT {
    ULONG Type;
    PIRP Irp;
    struct _IO_CSQ *Csq;
} IO_CSQ_IRP_CONTEXT, *PIO_CSQ_IRP_CONTEXT;
typedef VOID (*PIO_CSQ_INSERT_IRP)(struct _IO_CSQ *Csq, PIRP Irp);
typedef VOID (*PIO_CSQ_REMOVE_IRP)(struct _IO_CSQ *Csq, PIRP Irp);
typedef PIRP (*PIO_CSQ_PEEK_NEXT_IRP)(struct _IO_CSQ *Csq, PIRP Irp, PVOID PeekContext);
typedef VOID (*PIO_CSQ_ACQUIRE_LOCK)(struct _IO_CSQ *Csq, PKIRQL Irql);
typedef VOID (*PIO_CSQ_RELEASE_LOCK)(struct _IO_CSQ *Csq, KIRQL Irql);
typedef VOID (*PIO_CSQ_COMPLETE_CANCELED_IRP)(struct _IO_CSQ *Csq, PIRP Irp);
typedef struct _IO_CSQ {
    ULONG Type;
    PIO_CSQ_INSERT_IRP CsqInsertIrp;
    PIO_CSQ_REMOVE_IRP CsqRemoveIrp;
    PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp;
    PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock;
    PIO_CSQ_RELEASE_LOCK CsqReleaseLock;
    PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp;
    PVOID ReservePointer;
} IO_CSQ, *PIO_CSQ;
_Static_assert(sizeof(IO_CSQ) == 0x40, "the x64 IO_CSQ is 0x40 bytes");
_Static_assert(sizeof(IO_CSQ_IRP_CONTEXT) == 0x18, "the x64 IO_CSQ_IRP_CONTEXT is 0x18 bytes");
#define IO_TYPE_CSQ_IRP_CONTEXT 1
#define IO_TYPE_CSQ 2
NTSTATUS IoCsqInitialize(PIO_CSQ Csq, PIO_CSQ_INSERT_IRP CsqInsertIrp,
                         PIO_CSQ_REMOVE_IRP CsqRemoveIrp, PIO_CSQ_PEEK_NEXT_IRP CsqPeekNextIrp,
                         PIO_CSQ_ACQUIRE_LOCK CsqAcquireLock,
                         PIO_CSQ_RELEASE_LOCK CsqReleaseLock,
                         PIO_CSQ_COMPLETE_CANCELED_IRP CsqCompleteCanceledIrp);
VOID IoCsqInsertIrp(PIO_CSQ Csq, PIRP Irp, PIO_CSQ_IRP_CONTEXT Context);
PIRP IoCsqRemoveNextIrp(PIO_CSQ Csq, PVOID PeekContext);
PIRP IoCsqRemoveIrp(PIO_CSQ Csq, PIO_CSQ_IRP_CONTEXT Context);

/* Doubly linked lists (inline functions in the WDK). */
#define CONTAINING_RECORD(Address, Type, Field) \
    ((Type *)((PUCHAR)(Address) - offsetof(Type, Field)))
static inline VOID InitializeListHead(PLIST_ENTRY Head) { Head->Flink = Head->Blink = Head; }
static inline BOOLEAN IsListEmpty(const LIST_ENTRY *Head) { return Head->Flink == Head; }
static inline VOID InsertTailList(PLIST_ENTRY Head, PLIST_ENTRY Entry) {
    PLIST_ENTRY Last = Head->Blink;
    Entry->Flink = Head;
    Entry->Blink = Last;
    Last->Flink = Entry;
    Head->Blink = Entry;
}
static inline BOOLEAN RemoveEntryList(PLIST_ENTRY Entry) {
    PLIST_ENTRY Next = Entry->Flink, Prev = Entry->Blink;
    Prev->Flink = Next;
    Next->Blink = Prev;
    return Next == Prev;
}
static inline PLIST_ENTRY RemoveHeadList(PLIST_ENTRY Head) {
    PLIST_ENTRY Entry = Head->Flink;
    RemoveEntryList(Entry);
    return Entry;
}

#define DO_DEVICE_INITIALIZING 0x00000080
#define FILE_DEVICE_UNKNOWN 0x00000022
#define FILE_DEVICE_SECURE_OPEN 0x00000100
/* The device object and its zeroed extension are one non-paged pool allocation. In
 * DriverEntry under the harness, the first IoCreateDevice is the device under test. */
NTSTATUS IoCreateDevice(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize,
                        PUNICODE_STRING DeviceName, ULONG DeviceType,
                        ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                        PDEVICE_OBJECT *DeviceObject);
VOID IoDeleteDevice(PDEVICE_OBJECT DeviceObject);

/* A dispatch driver (mdlsim_native::NativeDriver) defines DriverEntry, which fills
 * DriverObject->MajorFunction. It runs once on a machine of its own for the table, and
 * again in each case's machine when the harness creates the device: there its first
 * IoCreateDevice is the device the cases dispatch to, and what it allocates belongs to
 * the device. */
NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath);

#endif /* MDLSIM_WDK_IO_H */
