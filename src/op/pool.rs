//! Non-paged pool ops and their interpretation.

#[cfg(feature = "proptest")]
use super::arb::{arb_addr, arb_length, weighted};
use super::*;
#[cfg(feature = "proptest")]
use crate::pool::{POOL_FLAG_NON_PAGED, POOL_FLAG_UNINITIALIZED, tag};
#[cfg(feature = "proptest")]
use proptest::prelude::*;

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
        /// `POOL_FLAG_*` (by name in JSON).
        #[serde(with = "super::flags::pool")]
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

    /// One op of every variant ([`super::examples`]).
    pub fn examples() -> Vec<PoolOp> {
        let (tag, va) = (crate::pool::tag(b"Test"), Addr::at(Ix::Recent(0), 0));
        vec![
            PoolOp::ExAllocatePoolWithTag {
                pool_type: PoolType::NonPaged,
                size: 0x100,
                tag,
            },
            PoolOp::ExAllocatePool2 {
                flags: crate::pool::POOL_FLAG_NON_PAGED,
                size: 0x100,
                tag,
            },
            PoolOp::ExFreePoolWithTag { va, tag },
            PoolOp::ExFreePool { va },
        ]
    }
}

#[cfg(feature = "proptest")]
fn arb_tag() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        8 => Just(tag(b"Test")),
        1 => Just(tag(b"Oops")),
    ]
}

/// A request size of at least one byte: a zero-byte request is Driver Verifier's 0xC4/0x00
/// on the default machine and would end the sequence at once (tests/conformance covers
/// it).
#[cfg(feature = "proptest")]
fn arb_block_size() -> impl Strategy<Value = u64> {
    arb_length().prop_map(|l| l.max(1))
}

/// Any pool op (feature `proptest`).
#[cfg(feature = "proptest")]
pub fn arb_pool_op() -> BoxedStrategy<PoolOp> {
    weighted(vec![
        (
            2,
            (
                prop_oneof![
                    Just(PoolType::NonPaged),
                    Just(PoolType::Paged),
                    Just(PoolType::NonPagedNx)
                ],
                arb_block_size(),
                arb_tag(),
            )
                .prop_map(|(pool_type, size, tag)| PoolOp::ExAllocatePoolWithTag {
                    pool_type,
                    size,
                    tag,
                })
                .boxed(),
        ),
        (
            2,
            (
                prop_oneof![
                    Just(POOL_FLAG_NON_PAGED),
                    Just(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED)
                ],
                arb_block_size(),
                arb_tag(),
            )
                .prop_map(|(flags, size, tag)| PoolOp::ExAllocatePool2 { flags, size, tag })
                .boxed(),
        ),
        (
            2,
            (arb_addr(), arb_tag())
                .prop_map(|(va, tag)| PoolOp::ExFreePoolWithTag { va, tag })
                .boxed(),
        ),
        (
            1,
            arb_addr().prop_map(|va| PoolOp::ExFreePool { va }).boxed(),
        ),
    ])
}
