//! The I/O manager: IRPs (the part the MDL routines need; the rest of the
//! I/O manager builds on this module).

use crate::arena::Handle;
use crate::fault::{Fault, ModelError, Result};
use crate::machine::{Birth, Machine};
use crate::mdl::MdlId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A handle to an IRP in the machine's arena.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IrpId(pub Handle);

impl IrpId {
    /// The address the model reports for this IRP in bug-check parameters (a fake `PIRP`).
    pub const fn address(self) -> u64 {
        0xFFFF_D000_0000_0000 + (self.0.index as u64) * 0x200
    }
}

impl fmt::Debug for IrpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Irp#{}.{}", self.0.index, self.0.generation)
    }
}

/// An I/O request packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Irp {
    /// `MdlAddress`: the head of the IRP's MDL chain (linked through `Mdl::next`).
    pub mdl_address: Option<MdlId>,
    /// `StackCount`.
    pub stack_count: u8,
    /// Where it was allocated.
    pub birth: Birth,
}

impl Machine {
    /// `IoAllocateIrp`: a zero-filled IRP with `stack_size` stack locations.
    #[doc(alias = "IoAllocateIrp")]
    pub fn io_allocate_irp(&mut self, stack_size: u8) -> Result<IrpId> {
        self.enter("IoAllocateIrp")?;
        let birth = self.birth();
        Ok(IrpId(self.irps.insert(Irp {
            mdl_address: None,
            stack_count: stack_size,
            birth,
        })))
    }

    /// The IRP behind a handle.
    pub fn irp(&self, irp: IrpId) -> Result<&Irp> {
        self.irps
            .get(irp.0)
            .ok_or(Fault::Model(ModelError::StaleHandle(format!("{irp:?}"))))
    }

    pub(crate) fn irp_mut(&mut self, irp: IrpId) -> Result<&mut Irp> {
        self.irps
            .get_mut(irp.0)
            .ok_or(Fault::Model(ModelError::StaleHandle(format!("{irp:?}"))))
    }

    /// `IoFreeIrp`: frees the IRP (its MDLs are the caller's business).
    #[doc(alias = "IoFreeIrp")]
    pub fn io_free_irp(&mut self, irp: IrpId) -> Result<()> {
        self.enter("IoFreeIrp")?;
        self.irps
            .remove(irp.0)
            .map(|_| ())
            .ok_or(Fault::Model(ModelError::StaleHandle(format!("{irp:?}"))))
    }

    /// Number of IRPs allocated and not freed.
    pub fn irps_outstanding(&self) -> usize {
        self.irps.len()
    }
}
