/* Does not compile: the harness reports the compiler's diagnostics. */
#include <wdm.h>

NTSTATUS MdlsimExpose(const MDLSIM_IO *Io, PVOID Context, MDLSIM_EXPOSURE *Exposure) {
    return STATUS_SUCCESS /* missing semicolon */
}
