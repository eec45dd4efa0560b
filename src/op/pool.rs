//! Non-paged pool ops and their interpretation.

use super::*;

/// Non-paged pool.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub enum PoolOp {
    /// [`Machine::ex_allocate_pool_with_tag`].
    ExAllocatePoolWithTag {
        /// Pool type.
        pool_type: PoolType,
        /// Bytes.
        size: u64,
        /// Tag.
        tag: u32,
    },
    /// [`Machine::ex_allocate_pool2`].
    ExAllocatePool2 {
        /// `POOL_FLAG_*`.
        flags: u64,
        /// Bytes.
        size: u64,
        /// Tag.
        tag: u32,
    },
    /// [`Machine::ex_free_pool_with_tag`].
    ExFreePoolWithTag {
        /// The allocation.
        va: Addr,
        /// Tag.
        tag: u32,
    },
    /// [`Machine::ex_free_pool`].
    ExFreePool {
        /// The allocation.
        va: Addr,
    },
}

impl Interpreter {
    pub(super) fn apply_pool(&mut self, op: &PoolOp) -> Result<Value> {
        match *op {
            PoolOp::ExAllocatePoolWithTag {
                pool_type,
                size,
                tag,
            } => {
                let va = self
                    .machine
                    .ex_allocate_pool_with_tag(pool_type, size, tag)?;
                Ok(self.new_va(va))
            }
            PoolOp::ExAllocatePool2 { flags, size, tag } => {
                let va = self.machine.ex_allocate_pool2(flags, size, tag)?;
                Ok(self.new_va(va))
            }
            PoolOp::ExFreePoolWithTag { va, tag } => {
                let va = self.addr(va);
                self.machine.ex_free_pool_with_tag(va, tag)?;
                Ok(Value::Unit)
            }
            PoolOp::ExFreePool { va } => {
                let va = self.addr(va);
                self.machine.ex_free_pool(va)?;
                Ok(Value::Unit)
            }
        }
    }
}

impl PoolOp {
    /// The name of the routine the op calls ([`Op::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            PoolOp::ExAllocatePoolWithTag { .. } => "ExAllocatePoolWithTag",
            PoolOp::ExAllocatePool2 { .. } => "ExAllocatePool2",
            PoolOp::ExFreePoolWithTag { .. } => "ExFreePoolWithTag",
            PoolOp::ExFreePool { .. } => "ExFreePool",
        }
    }
}
