/* Calls a DDI the interface does not have: a compile error naming it, not a crash. */
#include <wdm.h>

ULONG64 Create(ULONG64 Unused) {
    (void)Unused;
    return (ULONG64)IoCreateDeviceSecure(0);
}
