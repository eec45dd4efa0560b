//! Processes and threads.

use crate::space::{AddressSpace, Pid, Tid};
use serde::{Deserialize, Serialize};

/// A process's life cycle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ProcessState {
    /// Running normally.
    Running,
    /// Exit started (`VmDeleted`): user-mode maps into it raise
    /// `STATUS_PROCESS_IS_TERMINATING`; outstanding I/O is being run down.
    Terminating,
    /// I/O rundown failed (an IRP outlived the five-minute wait): the process
    /// is half torn down for good, its address space and locked pages kept.
    RundownFailed,
    /// Fully deleted.
    Deleted,
}

/// A simulated process (`EPROCESS`).
#[derive(Clone, Debug)]
pub struct Process {
    /// Its id.
    pub pid: Pid,
    /// A name for reports.
    pub name: String,
    /// Life-cycle state.
    pub state: ProcessState,
    /// The user half of its address space.
    pub(crate) space: AddressSpace,
    /// `EPROCESS.NumberOfLockedPages`: pages locked by MDLs probed in this process ([semantics §2]).
    ///
    /// [semantics §2]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s2
    pub number_of_locked_pages: u64,
    /// Its threads, main thread first.
    pub threads: Vec<Tid>,
    /// The machine step that created it.
    pub created_step: u64,
}

impl Process {
    /// The user address space.
    pub fn space(&self) -> &AddressSpace {
        &self.space
    }

    /// True while user code can run in it and it can be mapped into.
    pub fn is_alive(&self) -> bool {
        self.state == ProcessState::Running
    }
}

/// A simulated thread (`ETHREAD`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    /// Its id.
    pub tid: Tid,
    /// Its process.
    pub pid: Pid,
    /// False once it has exited.
    pub alive: bool,
    /// Its exit has begun (`PspExitThread` runs its I/O down before it is gone).
    pub terminating: bool,
}

/// The process `pid` of a process table, live or not (an unknown id is
/// [`ModelError::NoSuchProcess`](crate::fault::ModelError::NoSuchProcess)).
pub(crate) fn lookup(
    processes: &std::collections::BTreeMap<Pid, Process>,
    pid: Pid,
) -> crate::fault::Result<&Process> {
    processes.get(&pid).ok_or(crate::fault::Fault::Model(
        crate::fault::ModelError::NoSuchProcess(pid.0),
    ))
}

/// [`lookup`], for a change.
pub(crate) fn lookup_mut(
    processes: &mut std::collections::BTreeMap<Pid, Process>,
    pid: Pid,
) -> crate::fault::Result<&mut Process> {
    processes.get_mut(&pid).ok_or(crate::fault::Fault::Model(
        crate::fault::ModelError::NoSuchProcess(pid.0),
    ))
}
