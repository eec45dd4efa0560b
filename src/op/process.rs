//! Process, thread and context ops and their interpretation.

#[cfg(feature = "proptest")]
use super::arb::{arb_process, weighted};
use super::*;
#[cfg(feature = "proptest")]
use proptest::prelude::*;

/// Process, thread and context operations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub enum ProcessOp {
    /// [`Machine::create_process`] (named `p<n>`).
    CreateProcess,
    /// [`Machine::terminate_process`].
    TerminateProcess {
        /// Which process.
        process: Ix,
    },
    /// [`Machine::create_thread`].
    CreateThread {
        /// Which process.
        process: Ix,
    },
    /// [`Machine::switch_to`]; `None` runs a system thread.
    SwitchTo {
        /// Which process, or a system thread.
        process: Option<Ix>,
    },
    /// [`Machine::attach`] (`KeStackAttachProcess`).
    Attach {
        /// Which process.
        process: Ix,
    },
    /// [`Machine::detach`] (`KeUnstackDetachProcess`).
    Detach,
}

impl Interpreter {
    pub(super) fn apply_process(&mut self, op: &ProcessOp) -> Result<Value> {
        match *op {
            ProcessOp::CreateProcess => {
                let name = format!("p{}", self.processes.len());
                let pid = self.machine.create_process(&name)?;
                self.processes.push(pid);
                if let Some(t) = self.machine.process(pid)?.threads.first() {
                    self.threads.push(*t);
                }
                Ok(Value::Process {
                    ix: (self.processes.len() - 1) as u32,
                    pid,
                })
            }
            ProcessOp::TerminateProcess { process } => {
                let pid = self.process(process);
                self.machine.terminate_process(pid).map(|()| Value::Unit)
            }
            ProcessOp::CreateThread { process } => {
                let pid = self.process(process);
                let tid = self.machine.create_thread(pid)?;
                self.threads.push(tid);
                Ok(Value::Thread(tid.0))
            }
            ProcessOp::SwitchTo { process } => {
                let pid = process.map(|p| self.process(p));
                self.machine.switch_to(pid).map(|()| Value::Unit)
            }
            ProcessOp::Attach { process } => {
                let pid = self.process(process);
                self.machine.attach(pid).map(|()| Value::Unit)
            }
            ProcessOp::Detach => self.machine.detach().map(|()| Value::Unit),
        }
    }
}

impl ProcessOp {
    /// The name of the routine the op calls ([`Op::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            ProcessOp::CreateProcess => "PspCreateProcess",
            ProcessOp::TerminateProcess { .. } => "NtTerminateProcess",
            ProcessOp::CreateThread { .. } => "PspCreateThread",
            ProcessOp::SwitchTo { .. } => "KiSwapContext",
            ProcessOp::Attach { .. } => "KeStackAttachProcess",
            ProcessOp::Detach => "KeUnstackDetachProcess",
        }
    }

    /// One op of every variant ([`super::examples`]).
    pub fn examples() -> Vec<ProcessOp> {
        let process = Ix::Recent(0);
        vec![
            ProcessOp::CreateProcess,
            ProcessOp::CreateThread { process },
            ProcessOp::SwitchTo {
                process: Some(process),
            },
            ProcessOp::Attach { process },
            ProcessOp::Detach,
            ProcessOp::TerminateProcess { process },
        ]
    }
}

/// Any process, thread or context op (feature `proptest`).
#[cfg(feature = "proptest")]
pub fn arb_process_op() -> BoxedStrategy<ProcessOp> {
    weighted(vec![
        (2, Just(ProcessOp::CreateProcess).boxed()),
        (
            1,
            arb_process()
                .prop_map(|process| ProcessOp::TerminateProcess { process })
                .boxed(),
        ),
        (
            2,
            arb_process()
                .prop_map(|process| ProcessOp::CreateThread { process })
                .boxed(),
        ),
        (
            4,
            proptest::option::weighted(0.8, arb_process())
                .prop_map(|process| ProcessOp::SwitchTo { process })
                .boxed(),
        ),
        (
            1,
            arb_process()
                .prop_map(|process| ProcessOp::Attach { process })
                .boxed(),
        ),
        (3, Just(ProcessOp::Detach).boxed()),
    ])
}
