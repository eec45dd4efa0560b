/* mdlsim: <fltKernel.h> for minifilter sources: the WDK-shaped interface and its
 * filter-manager part. */
#include "mdlsim/wdk.h"
#include "mdlsim/wdk_flt.h"
