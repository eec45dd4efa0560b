//! Set-ups shared by the crate's unit tests (integration tests have `tests/common`).

use crate::Machine;
use crate::addr::Va;
use crate::mdl::{AccessMode, LockOperation, MdlId};
use crate::space::{Pid, Protection};
use crate::vm::{MEM_COMMIT, MEM_RESERVE};

/// `len` bytes of `pid`'s memory, reserved and committed with `protection`.
pub(crate) fn committed(m: &mut Machine, pid: Pid, len: u64, protection: Protection) -> Va {
    m.virtual_alloc(pid, None, len, MEM_COMMIT | MEM_RESERVE, protection)
        .unwrap()
}

/// `len` bytes at `va` of the current process locked for `IoReadAccess` through a new
/// `IoAllocateMdl` MDL, probed in `UserMode`.
pub(crate) fn lock_for_read(m: &mut Machine, va: Va, len: u32) -> MdlId {
    let mdl = m
        .io_allocate_mdl(va, len, false, false, None)
        .unwrap()
        .unwrap();
    m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess)
        .unwrap();
    mdl
}
