/*
 * The filter-manager part of mdlsim's WDK-shaped interface (what <fltKernel.h> gives a
 * minifilter): callback data, its parameter block and parameters, the registration
 * structures, in their x64 layouts (each checked below), the callback statuses and
 * flags, and the Flt DDIs the model has. Written from Microsoft's documentation of each
 * structure and routine; the offsets were checked against Wine's fltkernel.h compiled
 * for x64 (and the top-level structures against windows-sys as well).
 */
#ifndef MDLSIM_WDK_FLT_H
#define MDLSIM_WDK_FLT_H

#include "mdlsim/wdk.h"

/* ----- opaque objects ------------------------------------------------------------- */

typedef struct _FLT_FILTER *PFLT_FILTER;
typedef struct _FLT_VOLUME *PFLT_VOLUME;
typedef struct _FLT_INSTANCE *PFLT_INSTANCE;
typedef struct _KTRANSACTION *PKTRANSACTION;
typedef struct _KTHREAD *PETHREAD;

/* ----- FLT_PARAMETERS (x64: natural alignment, 0x30 bytes) ------------------------ */

#define MDLSIM_PTR_ALIGNED __attribute__((aligned(8)))

typedef union _FLT_PARAMETERS {
    struct {
        ULONG Length;
        ULONG MDLSIM_PTR_ALIGNED Key;
        LARGE_INTEGER ByteOffset;
        PVOID ReadBuffer;
        PMDL MdlAddress;
    } Read;
    struct {
        ULONG Length;
        ULONG MDLSIM_PTR_ALIGNED Key;
        LARGE_INTEGER ByteOffset;
        PVOID WriteBuffer;
        PMDL MdlAddress;
    } Write;
    union {
        struct {
            ULONG OutputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED InputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED IoControlCode;
        } Common;
        struct {
            ULONG OutputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED InputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED IoControlCode;
            PVOID InputBuffer;
            PVOID OutputBuffer;
            PMDL OutputMdlAddress;
        } Neither;
        struct {
            ULONG OutputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED InputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED IoControlCode;
            PVOID SystemBuffer;
        } Buffered;
        struct {
            ULONG OutputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED InputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED IoControlCode;
            PVOID InputSystemBuffer;
            PVOID OutputBuffer;
            PMDL OutputMdlAddress;
        } Direct;
        struct {
            ULONG OutputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED InputBufferLength;
            ULONG MDLSIM_PTR_ALIGNED IoControlCode;
            PVOID InputBuffer;
            PVOID OutputBuffer;
        } FastIo;
    } DeviceIoControl;
    union {
        struct {
            ULONG Length;
            PUNICODE_STRING MDLSIM_PTR_ALIGNED FileName;
            ULONG MDLSIM_PTR_ALIGNED FileInformationClass;
            ULONG MDLSIM_PTR_ALIGNED FileIndex;
            PVOID DirectoryBuffer;
            PMDL MdlAddress;
        } QueryDirectory;
        struct {
            ULONG Length;
            ULONG MDLSIM_PTR_ALIGNED CompletionFilter;
            ULONG MDLSIM_PTR_ALIGNED Spare1;
            ULONG MDLSIM_PTR_ALIGNED Spare2;
            PVOID DirectoryBuffer;
            PMDL MdlAddress;
        } NotifyDirectory;
    } DirectoryControl;
    struct {
        PVOID Argument1, Argument2, Argument3, Argument4, Argument5;
        LARGE_INTEGER Argument6;
    } Others;
} FLT_PARAMETERS, *PFLT_PARAMETERS;
_Static_assert(sizeof(FLT_PARAMETERS) == 0x30, "x64 FLT_PARAMETERS");
_Static_assert(offsetof(FLT_PARAMETERS, Read.Key) == 0x08, "Read.Key at 0x08");
_Static_assert(offsetof(FLT_PARAMETERS, Read.ReadBuffer) == 0x18, "ReadBuffer at 0x18");
_Static_assert(offsetof(FLT_PARAMETERS, Read.MdlAddress) == 0x20, "Read.MdlAddress at 0x20");
_Static_assert(offsetof(FLT_PARAMETERS, Read.ByteOffset) == 0x10, "Read.ByteOffset at 0x10");
_Static_assert(offsetof(FLT_PARAMETERS, Write.WriteBuffer) == 0x18, "WriteBuffer at 0x18");
_Static_assert(offsetof(FLT_PARAMETERS, Write.MdlAddress) == 0x20, "Write.MdlAddress at 0x20");
_Static_assert(offsetof(FLT_PARAMETERS, DeviceIoControl.Common.InputBufferLength) == 0x08,
               "InputBufferLength at 0x08");
_Static_assert(offsetof(FLT_PARAMETERS, DeviceIoControl.Buffered.SystemBuffer) == 0x18,
               "Buffered.SystemBuffer at 0x18");
_Static_assert(offsetof(FLT_PARAMETERS, DeviceIoControl.Direct.OutputBuffer) == 0x20,
               "Direct.OutputBuffer at 0x20");
_Static_assert(offsetof(FLT_PARAMETERS, DeviceIoControl.Direct.OutputMdlAddress) == 0x28,
               "Direct.OutputMdlAddress at 0x28");
_Static_assert(offsetof(FLT_PARAMETERS, DeviceIoControl.Neither.InputBuffer) == 0x18,
               "Neither.InputBuffer at 0x18");
_Static_assert(offsetof(FLT_PARAMETERS, DirectoryControl.NotifyDirectory.CompletionFilter) ==
                   0x08,
               "CompletionFilter at 0x08");
_Static_assert(offsetof(FLT_PARAMETERS, DirectoryControl.NotifyDirectory.MdlAddress) == 0x28,
               "NotifyDirectory.MdlAddress at 0x28");
_Static_assert(offsetof(FLT_PARAMETERS, DeviceIoControl.Common.IoControlCode) == 0x10,
               "IoControlCode at 0x10");
_Static_assert(offsetof(FLT_PARAMETERS, DeviceIoControl.Neither.OutputMdlAddress) == 0x28,
               "OutputMdlAddress at 0x28");
_Static_assert(offsetof(FLT_PARAMETERS, DirectoryControl.NotifyDirectory.DirectoryBuffer) ==
                   0x20,
               "NotifyDirectory.DirectoryBuffer at 0x20 (as QueryDirectory's)");
_Static_assert(offsetof(FLT_PARAMETERS, DirectoryControl.QueryDirectory.MdlAddress) == 0x28,
               "QueryDirectory.MdlAddress at 0x28");

/* ----- FLT_IO_PARAMETER_BLOCK and FLT_CALLBACK_DATA --------------------------------- */

typedef struct _FLT_IO_PARAMETER_BLOCK {
    ULONG IrpFlags;
    UCHAR MajorFunction;
    UCHAR MinorFunction;
    UCHAR OperationFlags;
    UCHAR Reserved;
    PFILE_OBJECT TargetFileObject;
    PFLT_INSTANCE TargetInstance;
    FLT_PARAMETERS Parameters;
} FLT_IO_PARAMETER_BLOCK, *PFLT_IO_PARAMETER_BLOCK;
_Static_assert(sizeof(FLT_IO_PARAMETER_BLOCK) == 0x48, "x64 FLT_IO_PARAMETER_BLOCK");
_Static_assert(offsetof(FLT_IO_PARAMETER_BLOCK, MajorFunction) == 0x04, "MajorFunction at 0x04");
_Static_assert(offsetof(FLT_IO_PARAMETER_BLOCK, TargetFileObject) == 0x08,
               "TargetFileObject at 0x08");
_Static_assert(offsetof(FLT_IO_PARAMETER_BLOCK, Parameters) == 0x18, "Parameters at 0x18");

typedef struct _FLT_CALLBACK_DATA {
    ULONG Flags;
    PETHREAD const Thread;
    PFLT_IO_PARAMETER_BLOCK const Iopb;
    IO_STATUS_BLOCK IoStatus;
    struct _FLT_TAG_DATA_BUFFER *TagData;
    union {
        struct {
            LIST_ENTRY QueueLinks;
            PVOID QueueContext[2];
        };
        PVOID FilterContext[4];
    };
    KPROCESSOR_MODE RequestorMode;
} FLT_CALLBACK_DATA, *PFLT_CALLBACK_DATA;
_Static_assert(sizeof(FLT_CALLBACK_DATA) == 0x58, "x64 FLT_CALLBACK_DATA");
_Static_assert(offsetof(FLT_CALLBACK_DATA, Thread) == 0x08, "Thread at 0x08");
_Static_assert(offsetof(FLT_CALLBACK_DATA, Iopb) == 0x10, "Iopb at 0x10");
_Static_assert(offsetof(FLT_CALLBACK_DATA, TagData) == 0x28, "TagData at 0x28");
_Static_assert(offsetof(FLT_CALLBACK_DATA, IoStatus) == 0x18, "IoStatus at 0x18");
_Static_assert(offsetof(FLT_CALLBACK_DATA, FilterContext) == 0x30, "FilterContext at 0x30");
_Static_assert(offsetof(FLT_CALLBACK_DATA, RequestorMode) == 0x50, "RequestorMode at 0x50");

#define FLTFL_CALLBACK_DATA_REISSUE_MASK 0x0000FFFF
#define FLTFL_CALLBACK_DATA_IRP_OPERATION 0x00000001
#define FLTFL_CALLBACK_DATA_FAST_IO_OPERATION 0x00000002
#define FLTFL_CALLBACK_DATA_FS_FILTER_OPERATION 0x00000004
#define FLTFL_CALLBACK_DATA_SYSTEM_BUFFER 0x00000008
#define FLTFL_CALLBACK_DATA_GENERATED_IO 0x00010000
#define FLTFL_CALLBACK_DATA_REISSUED_IO 0x00020000
#define FLTFL_CALLBACK_DATA_DRAINING_IO 0x00040000
#define FLTFL_CALLBACK_DATA_POST_OPERATION 0x00080000
#define FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER 0x00100000
#define FLTFL_CALLBACK_DATA_DIRTY 0x80000000

#define FLT_IS_IRP_OPERATION(Data) (((Data)->Flags & FLTFL_CALLBACK_DATA_IRP_OPERATION) != 0)
#define FLT_IS_FASTIO_OPERATION(Data) \
    (((Data)->Flags & FLTFL_CALLBACK_DATA_FAST_IO_OPERATION) != 0)
#define FLT_IS_FS_FILTER_OPERATION(Data) \
    (((Data)->Flags & FLTFL_CALLBACK_DATA_FS_FILTER_OPERATION) != 0)
#define FLT_IS_REISSUED_IO(Data) (((Data)->Flags & FLTFL_CALLBACK_DATA_REISSUED_IO) != 0)
#define FLT_IS_SYSTEM_BUFFER(Data) (((Data)->Flags & FLTFL_CALLBACK_DATA_SYSTEM_BUFFER) != 0)

typedef struct _FLT_RELATED_OBJECTS {
    const USHORT Size;
    const USHORT TransactionContext;
    const PFLT_FILTER Filter;
    const PFLT_VOLUME Volume;
    const PFLT_INSTANCE Instance;
    const PFILE_OBJECT FileObject;
    const PKTRANSACTION Transaction;
} FLT_RELATED_OBJECTS, *PFLT_RELATED_OBJECTS;
typedef const FLT_RELATED_OBJECTS *PCFLT_RELATED_OBJECTS;
_Static_assert(sizeof(FLT_RELATED_OBJECTS) == 0x30, "x64 FLT_RELATED_OBJECTS");
_Static_assert(offsetof(FLT_RELATED_OBJECTS, Filter) == 0x08, "Filter at 0x08");
_Static_assert(offsetof(FLT_RELATED_OBJECTS, Volume) == 0x10, "Volume at 0x10");
_Static_assert(offsetof(FLT_RELATED_OBJECTS, Instance) == 0x18, "Instance at 0x18");
_Static_assert(offsetof(FLT_RELATED_OBJECTS, FileObject) == 0x20, "FileObject at 0x20");
_Static_assert(offsetof(FLT_RELATED_OBJECTS, Transaction) == 0x28, "Transaction at 0x28");

/* ----- callbacks and registration ------------------------------------------------- */

typedef enum _FLT_PREOP_CALLBACK_STATUS {
    FLT_PREOP_SUCCESS_WITH_CALLBACK,
    FLT_PREOP_SUCCESS_NO_CALLBACK,
    FLT_PREOP_PENDING,
    FLT_PREOP_DISALLOW_FASTIO,
    FLT_PREOP_COMPLETE,
    FLT_PREOP_SYNCHRONIZE,
    FLT_PREOP_DISALLOW_FSFILTER_IO
} FLT_PREOP_CALLBACK_STATUS, *PFLT_PREOP_CALLBACK_STATUS;

typedef enum _FLT_POSTOP_CALLBACK_STATUS {
    FLT_POSTOP_FINISHED_PROCESSING,
    FLT_POSTOP_MORE_PROCESSING_REQUIRED,
    FLT_POSTOP_DISALLOW_FSFILTER_IO
} FLT_POSTOP_CALLBACK_STATUS;

typedef ULONG FLT_POST_OPERATION_FLAGS;
#define FLTFL_POST_OPERATION_DRAINING 0x00000001

typedef FLT_PREOP_CALLBACK_STATUS (*PFLT_PRE_OPERATION_CALLBACK)(
    PFLT_CALLBACK_DATA Data, PCFLT_RELATED_OBJECTS FltObjects, PVOID *CompletionContext);
typedef FLT_POSTOP_CALLBACK_STATUS (*PFLT_POST_OPERATION_CALLBACK)(
    PFLT_CALLBACK_DATA Data, PCFLT_RELATED_OBJECTS FltObjects, PVOID CompletionContext,
    FLT_POST_OPERATION_FLAGS Flags);
typedef NTSTATUS (*PFLT_FILTER_UNLOAD_CALLBACK)(ULONG Flags);

typedef struct _FLT_OPERATION_REGISTRATION {
    UCHAR MajorFunction;
    ULONG Flags;
    PFLT_PRE_OPERATION_CALLBACK PreOperation;
    PFLT_POST_OPERATION_CALLBACK PostOperation;
    PVOID Reserved1;
} FLT_OPERATION_REGISTRATION, *PFLT_OPERATION_REGISTRATION;
_Static_assert(sizeof(FLT_OPERATION_REGISTRATION) == 0x20, "x64 FLT_OPERATION_REGISTRATION");
_Static_assert(offsetof(FLT_OPERATION_REGISTRATION, Flags) == 0x04, "Flags at 0x04");
_Static_assert(offsetof(FLT_OPERATION_REGISTRATION, PreOperation) == 0x08,
               "PreOperation at 0x08");
_Static_assert(offsetof(FLT_OPERATION_REGISTRATION, PostOperation) == 0x10,
               "PostOperation at 0x10");

#define FLTFL_OPERATION_REGISTRATION_SKIP_PAGING_IO 0x00000001
#define FLTFL_OPERATION_REGISTRATION_SKIP_CACHED_IO 0x00000002
#define FLTFL_OPERATION_REGISTRATION_SKIP_NON_DASD_IO 0x00000004
#define IRP_MJ_OPERATION_END ((UCHAR)0x80)

typedef struct _FLT_CONTEXT_REGISTRATION FLT_CONTEXT_REGISTRATION;

/* The Windows 8 layout (version 0x0203). The callbacks past the operation table are
 * kept, not called: the model has no instances, names or transactions. */
typedef struct _FLT_REGISTRATION {
    USHORT Size;
    USHORT Version;
    ULONG Flags;
    const FLT_CONTEXT_REGISTRATION *ContextRegistration;
    const FLT_OPERATION_REGISTRATION *OperationRegistration;
    PFLT_FILTER_UNLOAD_CALLBACK FilterUnloadCallback;
    PVOID InstanceSetupCallback;
    PVOID InstanceQueryTeardownCallback;
    PVOID InstanceTeardownStartCallback;
    PVOID InstanceTeardownCompleteCallback;
    PVOID GenerateFileNameCallback;
    PVOID NormalizeNameComponentCallback;
    PVOID NormalizeContextCleanupCallback;
    PVOID TransactionNotificationCallback;
    PVOID NormalizeNameComponentExCallback;
    PVOID SectionNotificationCallback;
} FLT_REGISTRATION, *PFLT_REGISTRATION;
_Static_assert(sizeof(FLT_REGISTRATION) == 0x70, "x64 FLT_REGISTRATION (version 0x0203)");
_Static_assert(offsetof(FLT_REGISTRATION, OperationRegistration) == 0x10,
               "OperationRegistration at 0x10");
_Static_assert(offsetof(FLT_REGISTRATION, SectionNotificationCallback) == 0x68,
               "SectionNotificationCallback at 0x68");

#define FLT_REGISTRATION_VERSION_0200 0x0200
#define FLT_REGISTRATION_VERSION_0201 0x0201
#define FLT_REGISTRATION_VERSION_0202 0x0202
#define FLT_REGISTRATION_VERSION_0203 0x0203
#define FLT_REGISTRATION_VERSION FLT_REGISTRATION_VERSION_0203

/* ----- the Flt DDIs --------------------------------------------------------------- */

/* Registers the filter (only inside NativeFilter::new's DriverEntry: the harness
 * attaches it above its file system). STATUS_INVALID_PARAMETER for a Size that is not
 * sizeof(FLT_REGISTRATION) or a Version whose major number is not 2. */
NTSTATUS FltRegisterFilter(PDRIVER_OBJECT Driver, const FLT_REGISTRATION *Registration,
                           PFLT_FILTER *RetFilter);
NTSTATUS FltStartFiltering(PFLT_FILTER Filter);
VOID FltUnregisterFilter(PFLT_FILTER Filter);

VOID FltSetCallbackDataDirty(PFLT_CALLBACK_DATA Data);
VOID FltClearCallbackDataDirty(PFLT_CALLBACK_DATA Data);
BOOLEAN FltIsCallbackDataDirty(PFLT_CALLBACK_DATA Data);
PVOID FltGetNewSystemBufferAddress(PFLT_CALLBACK_DATA CallbackData);
NTSTATUS FltLockUserBuffer(PFLT_CALLBACK_DATA CallbackData);
/* Pointers to the buffer fields of Data's parameters, for reading or changing them: an
 * IOCTL's output buffer; NULL where the operation has no such field. */
NTSTATUS FltDecodeParameters(PFLT_CALLBACK_DATA CallbackData, PMDL **MdlAddressPointer,
                             PVOID **Buffer, PULONG *Length, LOCK_OPERATION *DesiredAccess);

#define FLT_SET_CALLBACK_DATA_DIRTY(Data) FltSetCallbackDataDirty(Data)
#define FLT_CLEAR_CALLBACK_DATA_DIRTY(Data) FltClearCallbackDataDirty(Data)
#define FLT_IS_CALLBACK_DATA_DIRTY(Data) FltIsCallbackDataDirty(Data)

#endif /* MDLSIM_WDK_FLT_H */
