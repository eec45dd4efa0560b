/* Compiles and loads, but is no strategy: it defines neither MdlsimExpose nor MdlsimRetire. */
#include <wdm.h>

ULONG64 Identity(ULONG64 X) { return X; }
