//! Where the model's address spaces appear in the host's: the translation between a
//! model virtual address and the host address native code dereferences.
//!
//! Windows' user space (`0` to `MM_USER_PROBE_ADDRESS`, 8 TiB as modelled) and its
//! system regions cannot sit at their own addresses in a Linux process, so each thread
//! running native code gets its own **windows**, at fixed host addresses:
//!
//! * a user window of 8 TiB: model user address `v` is host `user_base + v`, so a buffer
//!   contiguous in the model is contiguous for the C code, and the window shows the pages
//!   of the *current* process (after `KeStackAttachProcess`, the attached one);
//! * five system regions of 512 GiB (non-paged pool, paged pool, system PTEs, and the
//!   host copies of MDLs and of IRPs), the first three linear over their model regions.
//!
//! All user windows lie below [`HOST_USER_PROBE_ADDRESS`] and all system regions at or
//! above [`HOST_SYSTEM_RANGE_START`], so the driver's own checks
//! (`p < MmUserProbeAddress`) classify host pointers as Windows would classify the model
//! addresses. The first 64 KiB translate to themselves, so `NULL` and `NULL + offset` stay
//! what they are.
//!
//! Nothing here touches memory: it is arithmetic, tested on its own.

use mdlsim::addr::Va;
use mdlsim::mdl::MdlId;
use mdlsim::pool::{PAGED_POOL_BASE, POOL_BASE};
use mdlsim::syspte::SYSTEM_PTE_BASE;

/// Threads that may run native code at once (each holds a set of windows).
pub const MAX_THREADS: usize = 8;

/// Host address of thread slot 0's user window.
pub const USER_BASE: u64 = 0x1000_0000_0000;
/// Size of a user window: the model's user space, 8 TiB.
pub const USER_SPAN: u64 = 0x800_0000_0000;
/// `MmUserProbeAddress` as native code sees it: the end of the last user window.
pub const HOST_USER_PROBE_ADDRESS: u64 = USER_BASE + MAX_THREADS as u64 * USER_SPAN;
/// `MmSystemRangeStart` as native code sees it: the first system region.
pub const HOST_SYSTEM_RANGE_START: u64 = 0x5800_0000_0000;
/// Size of one system region.
pub const REGION_SPAN: u64 = 0x80_0000_0000;
/// System regions per thread.
pub const REGIONS: u64 = 5;
/// Host address space per thread for its system regions.
pub const SYSTEM_SPAN: u64 = REGIONS * REGION_SPAN;
/// Where the fake process-object pointers (`PEPROCESS`) live: never mapped.
pub const PROCESS_OBJECTS: u64 = 0x5400_0000_0000;
/// Bytes between two process-object pointers (every `u32` process id has one, below
/// [`HOST_SYSTEM_RANGE_START`]).
pub const PROCESS_STRIDE: u64 = 0x10;
/// Host bytes reserved for one MDL's header and PFN array (262,138 PFNs, a 1 GiB span).
pub const MDL_STRIDE: u64 = 2 << 20;
/// Host bytes reserved for one IRP and its stack locations (0xD0 + 255 × 0x48 at most).
pub const IRP_STRIDE: u64 = 0x8000;
/// Addresses below this translate to themselves (the `NULL` page and its neighbours).
pub const IDENTITY_BELOW: u64 = 0x1_0000;

/// The model's first address of each system region, in region order. The fourth, the
/// MDLs, has no model memory: it holds the host copies of MDL headers (see [`Layout::mdl`]).
const MODEL_REGIONS: [u64; 3] = [
    POOL_BASE.raw(),
    PAGED_POOL_BASE.raw(),
    SYSTEM_PTE_BASE.raw(),
];
/// Index of the MDL region.
const MDL_REGION: u64 = 3;
/// Index of the IRP region (host copies of IRPs).
const IRP_REGION: u64 = 4;

/// What a host address is, for native code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostAddress {
    /// A model address (user or system).
    Model(Va),
    /// Inside the host copy of an MDL: its arena slot and the byte offset in its header.
    Mdl(u64, u64),
    /// Inside the host copy of an IRP: its arena slot and the byte offset in it.
    Irp(u64, u64),
    /// A process object (`PEPROCESS`) of this process id.
    Process(u32),
    /// Host memory that is none of the model's (the driver's stack, its globals).
    Host(u64),
}

/// The host ranges that are model memory in some thread's windows, as native code's
/// `memcpy` asks (`runtime/host_abi.h`): the user windows `[low, high)`, then the system
/// regions `[low, high)`, their stride per thread, and the bytes of each stride that are
/// model memory (the rest holds MDL copies, which are host memory).
pub const fn model_ranges() -> [u64; 6] {
    [
        USER_BASE,
        HOST_USER_PROBE_ADDRESS,
        HOST_SYSTEM_RANGE_START,
        HOST_SYSTEM_RANGE_START + MAX_THREADS as u64 * SYSTEM_SPAN,
        SYSTEM_SPAN,
        MDL_REGION * REGION_SPAN,
    ]
}

/// One thread's windows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    slot: u64,
}

impl Layout {
    /// The windows of thread slot `slot`; `None` past [`MAX_THREADS`].
    pub const fn new(slot: usize) -> Option<Layout> {
        if slot >= MAX_THREADS {
            return None;
        }
        Some(Layout { slot: slot as u64 })
    }

    /// The first host address of the user window.
    pub const fn user_base(&self) -> u64 {
        USER_BASE + self.slot * USER_SPAN
    }

    /// The first host address of system region `region`.
    pub const fn region_base(&self, region: u64) -> u64 {
        HOST_SYSTEM_RANGE_START + self.slot * SYSTEM_SPAN + region * REGION_SPAN
    }

    /// The host address of model address `va`; `None` where the model has no window
    /// (a system address outside the modelled regions, a user address past the window).
    pub fn host(&self, va: Va) -> Option<u64> {
        let v = va.raw();
        if v < IDENTITY_BELOW {
            return Some(v);
        }
        if v < USER_SPAN {
            return Some(self.user_base() + v);
        }
        for (i, &start) in MODEL_REGIONS.iter().enumerate() {
            if let Some(off) = v.checked_sub(start) {
                if off < REGION_SPAN {
                    return Some(self.region_base(i as u64) + off);
                }
            }
        }
        None
    }

    /// The host address of the header of the MDL in arena slot `slot` (see
    /// [`mdl_slot`]); `None` past the region.
    pub fn mdl(&self, slot: u64) -> Option<u64> {
        let off = slot.checked_mul(MDL_STRIDE)?;
        (off < REGION_SPAN).then(|| self.region_base(MDL_REGION) + off)
    }

    /// The host address of the IRP in arena slot `slot` (its `PIRP` for native code).
    pub fn irp(&self, slot: u64) -> Option<u64> {
        let off = slot.checked_mul(IRP_STRIDE)?;
        (off < REGION_SPAN).then(|| self.region_base(IRP_REGION) + off)
    }

    /// The host pointer native code sees for process `pid` (`PEPROCESS`).
    pub const fn process(&self, pid: u32) -> u64 {
        PROCESS_OBJECTS + (pid as u64) * PROCESS_STRIDE
    }

    /// What host address `h` is.
    pub fn classify(&self, h: u64) -> HostAddress {
        if h < IDENTITY_BELOW {
            return HostAddress::Model(Va::new(h));
        }
        if let Some(off) = h.checked_sub(self.user_base()) {
            if off < USER_SPAN {
                return HostAddress::Model(Va::new(off));
            }
        }
        if let Some(off) = h.checked_sub(PROCESS_OBJECTS) {
            if off <= u64::from(u32::MAX) * PROCESS_STRIDE && off % PROCESS_STRIDE == 0 {
                return HostAddress::Process((off / PROCESS_STRIDE) as u32);
            }
        }
        for (i, &start) in MODEL_REGIONS.iter().enumerate() {
            if let Some(off) = h.checked_sub(self.region_base(i as u64)) {
                if off < REGION_SPAN {
                    return HostAddress::Model(Va::new(start + off));
                }
            }
        }
        if let Some(off) = h.checked_sub(self.region_base(MDL_REGION)) {
            if off < REGION_SPAN {
                return HostAddress::Mdl(off / MDL_STRIDE, off % MDL_STRIDE);
            }
        }
        if let Some(off) = h.checked_sub(self.region_base(IRP_REGION)) {
            if off < REGION_SPAN {
                return HostAddress::Irp(off / IRP_STRIDE, off % IRP_STRIDE);
            }
        }
        HostAddress::Host(h)
    }
}

/// Where the model's MDL addresses start: the fake `PMDL` of arena slot 0.
pub const MODEL_MDL_BASE: u64 = 0xFFFF_C000_0000_0000;
/// Bytes between two fake MDL addresses.
pub const MODEL_MDL_STRIDE: u64 = 0x100;

/// The arena slot of an MDL: where its host copy lives.
pub fn mdl_slot(mdl: MdlId) -> u64 {
    (mdl.address() - MODEL_MDL_BASE) / MODEL_MDL_STRIDE
}

/// The model address (`PMDL`) of arena slot `slot`, for [`mdlsim::Machine::mdl_at`].
pub fn mdl_slot_address(slot: u64) -> Option<Va> {
    Some(Va::new(
        MODEL_MDL_BASE.checked_add(slot.checked_mul(MODEL_MDL_STRIDE)?)?,
    ))
}

/// The arena slot of an IRP: where its host copy lives.
pub fn irp_slot(irp: mdlsim::io::IrpId) -> u64 {
    (irp.address() - mdlsim::io::IrpId::BASE) / mdlsim::io::IrpId::STRIDE
}
