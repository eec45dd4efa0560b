/* mdlsim: <ntddk.h> for driver sources that include it; everything is in mdlsim/wdk.h. */
#include "mdlsim/wdk.h"
