/*
 * Small routines that exercise the native runtime one rule at a time (tests/runtime.rs):
 * faults inside and outside __try, aliasing, demand-zero pages, direct MDL writes.
 * Each takes and returns a 64-bit word (Driver::call).
 */
#include <wdm.h>

#define TAG 'tRdM'

ULONG64 ReadInTry(ULONG64 Address) {
    __try {
        ProbeForRead((PVOID)Address, 1, 1);
        return *(volatile UCHAR *)Address;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode();
    }
}

ULONG64 ReadBare(ULONG64 Address) { return *(volatile UCHAR *)Address; }

ULONG64 WriteInTry(ULONG64 Address) {
    __try {
        ProbeForWrite((PVOID)Address, 1, 1);
        *(volatile UCHAR *)Address = 0x5A;
        return 0;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode();
    }
}

ULONG64 ReadKernel(ULONG64 Address) {
    __try {
        return *(volatile UCHAR *)Address;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return 0xDEAD; /* a bad kernel address is a bug check, not an exception; only a
                        * non-canonical one (#GP) raises an access violation */
    }
}

/* Stores through a system mapping of the user buffer, reads back through the user
 * address: one frame, two mappings. */
ULONG64 AliasWrite(ULONG64 Address) {
    PMDL Mdl = IoAllocateMdl((PVOID)Address, 16, FALSE, FALSE, NULL);
    if (Mdl == NULL) {
        return 1;
    }
    __try {
        MmProbeAndLockPages(Mdl, UserMode, IoModifyAccess);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        IoFreeMdl(Mdl);
        return 2;
    }
    PUCHAR System = MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority | MdlMappingNoExecute);
    if (System == NULL) {
        MmUnlockPages(Mdl);
        IoFreeMdl(Mdl);
        return 3;
    }
    System[0] = 0xA5;
    UCHAR Seen = *(volatile UCHAR *)Address;
    MmUnlockPages(Mdl);
    IoFreeMdl(Mdl);
    return Seen;
}

static ULONG64 Inner(ULONG64 Address) {
    __try {
        return *(volatile UCHAR *)Address;
    } __except (EXCEPTION_CONTINUE_SEARCH) {
        return 0xBAD;
    }
}

ULONG64 Nested(ULONG64 Address) {
    __try {
        return Inner(Address);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode() + 1;
    }
}

static ULONG64 EarlyReturn(void) {
    __try {
        return 7;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return 9;
    }
}

/* A __try left by return must not catch a later exception. */
ULONG64 ReturnThenFault(ULONG64 Address) {
    EarlyReturn();
    __try {
        return *(volatile UCHAR *)Address;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode();
    }
}

ULONG64 Leave(ULONG64 Unused) {
    (void)Unused;
    volatile ULONG64 R = 1;
    __try {
        R = 2;
        __leave;
        R = 3;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        R = 4;
    }
    return R;
}

ULONG64 RaiseCaught(ULONG64 Status) {
    __try {
        ExRaiseStatus((NTSTATUS)Status);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode();
    }
    return 0;
}

ULONG64 RaiseUncaught(ULONG64 Status) {
    ExRaiseStatus((NTSTATUS)Status);
    return 0;
}

/* A fresh committed region: the first touch of each page is a demand-zero fault. */
ULONG64 AllocateAndTouch(ULONG64 Unused) {
    (void)Unused;
    PVOID Base = NULL;
    SIZE_T Size = 2 * PAGE_SIZE;
    NTSTATUS S = ZwAllocateVirtualMemory(NtCurrentProcess(), &Base, 0, &Size,
                                         MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    if (!NT_SUCCESS(S)) {
        return 0;
    }
    __try {
        ((volatile UCHAR *)Base)[PAGE_SIZE + 1] = 0x77;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return 0;
    }
    return (ULONG64)Base;
}

/* Direct writes to an MDL the driver holds: MdlFlags and a PFN entry. */
ULONG64 WriteMdlFields(ULONG64 Address) {
    PMDL Mdl = IoAllocateMdl((PVOID)Address, PAGE_SIZE, FALSE, FALSE, NULL);
    if (Mdl == NULL) {
        return 0;
    }
    Mdl->MdlFlags |= MDL_MAPPING_CAN_FAIL;
    MmGetMdlPfnArray(Mdl)[0] = 0x1234;
    return (ULONG64)Mdl;
}

/* Copies four user bytes into a local (the capture pattern) through RtlCopyMemory. */
ULONG64 CaptureUser(ULONG64 Address) {
    ULONG Local = 0;
    __try {
        ProbeForRead((PVOID)Address, sizeof Local, 1);
        RtlCopyMemory(&Local, (PVOID)Address, sizeof Local);
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode();
    }
    return Local;
}

/* Frees a pool block, then reads it. */
ULONG64 UseAfterFree(ULONG64 Unused) {
    (void)Unused;
    PUCHAR P = ExAllocatePool2(POOL_FLAG_NON_PAGED, PAGE_SIZE, TAG);
    if (P == NULL) {
        return 0;
    }
    ExFreePoolWithTag(P, TAG);
    return ReadKernel((ULONG64)P);
}

/* The process the code runs in, and the user probe limit it sees. */
ULONG64 Probe(ULONG64 Address) { return Address < MmUserProbeAddress; }

/* KeRaiseIrql to DISPATCH_LEVEL and back: (old << 8) | level while raised. */
ULONG64 IrqlRoundTrip(ULONG64 Unused) {
    (void)Unused;
    KIRQL Old;
    KeRaiseIrql(DISPATCH_LEVEL, &Old);
    KIRQL Now = KeGetCurrentIrql();
    KeLowerIrql(Old);
    return ((ULONG64)Old << 8) | Now;
}

/* Paged pool at DISPATCH_LEVEL: a bug check. */
ULONG64 PagedPoolAtDispatch(ULONG64 Unused) {
    (void)Unused;
    KIRQL Old;
    KeRaiseIrql(DISPATCH_LEVEL, &Old);
    PVOID P = ExAllocatePool2(POOL_FLAG_PAGED, 64, TAG);
    KeLowerIrql(Old);
    return (ULONG64)P;
}

/* A paged-pool byte read at PASSIVE_LEVEL, then again at DISPATCH_LEVEL (the page is
 * mapped by then): the second read is the driver's IRQL bug. */
ULONG64 ReadPagedTwice(ULONG64 Address) {
    volatile UCHAR *P = (volatile UCHAR *)Address;
    UCHAR First = *P;
    KIRQL Old;
    KeRaiseIrql(DISPATCH_LEVEL, &Old);
    UCHAR Second = *P;
    KeLowerIrql(Old);
    return (ULONG64)First + Second;
}

/* ZwQueryVirtualMemory of a user address: its region's size when the base is its page. */
ULONG64 QueryRegion(ULONG64 Address) {
    MEMORY_BASIC_INFORMATION M;
    SIZE_T Returned = 0;
    NTSTATUS S = ZwQueryVirtualMemory(NtCurrentProcess(), (PVOID)Address, MemoryBasicInformation,
                                      &M, sizeof M, &Returned);
    if (!NT_SUCCESS(S) || Returned != sizeof M || M.State != MEM_COMMIT ||
        M.BaseAddress != PAGE_ALIGN(Address)) {
        return 0;
    }
    return M.RegionSize;
}

/* Reads a user byte inside __try without probing it first. */
ULONG64 ReadUnprobed(ULONG64 Address) {
    __try {
        return *(volatile UCHAR *)Address;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode();
    }
}

/* Never returns. */
ULONG64 Spin(ULONG64 Unused) {
    (void)Unused;
    for (volatile ULONG64 I = 0;; I++) {
    }
    return 0;
}

/* Never returns, entering and leaving __try all the time (the model's bookkeeping runs
 * on every turn). */
ULONG64 SpinInTry(ULONG64 Unused) {
    (void)Unused;
    for (;;) {
        __try {
            Unused++;
        } __except (EXCEPTION_EXECUTE_HANDLER) {
        }
    }
    return 0;
}

/* A jump into model memory (a hostile callback pointer): data is never executable. */
ULONG64 JumpTo(ULONG64 Address) {
    ((void (*)(void))Address)();
    return 0;
}

/* An int3 (DbgBreakPoint): STATUS_BREAKPOINT, which __try catches. */
ULONG64 BreakInTry(ULONG64 Unused) {
    (void)Unused;
    __try {
        __asm__ volatile("int3");
        return 0;
    } __except (EXCEPTION_EXECUTE_HANDLER) {
        return (ULONG)GetExceptionCode();
    }
}
