//! The `Machine`'s side of the blame trail ([`crate::trail`]): the DDI-level notes that
//! need the current step and routine.

use super::Machine;

use crate::fault::Result;

pub use crate::trail::{
    Blame, KernelFault, NULL_MDL_ADDRESS, NULLS_KEPT, NullReturn, RELEASES_KEPT, Released,
};

impl Machine {
    /// The record of causes the oracle names crashes by (module docs).
    pub fn blame(&self) -> &Blame {
        &self.blame
    }

    /// Records a NULL return of the routine being run, and passes `r` through.
    pub(crate) fn note_null<T>(&mut self, r: Result<Option<T>>) -> Result<Option<T>> {
        if let Ok(None) = r {
            self.blame.record_null(NullReturn {
                step: self.step,
                ddi: self.routine,
            });
        }
        r
    }

    /// Records that the routine about to run is handed a NULL `Irp->MdlAddress` (a
    /// zero-length request), so the oracle names a use of it ([`NULL_MDL_ADDRESS`]).
    pub(crate) fn note_null_mdl_address(&mut self) {
        self.blame.record_null(NullReturn {
            step: self.step,
            ddi: NULL_MDL_ADDRESS,
        });
    }
}
