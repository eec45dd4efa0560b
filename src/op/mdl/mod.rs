//! MDL routines and MDL field writes: the ops and their interpretation.

use super::*;

#[cfg(feature = "proptest")]
mod arb;
#[cfg(feature = "proptest")]
pub use arb::{arb_alloc_flags, arb_mdl_op};

/// Every MDL routine, and a driver's direct writes to MDL fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
#[serde(deny_unknown_fields)]
pub enum MdlOp {
    /// [`Machine::io_allocate_mdl`], optionally attaching to an IRP.
    IoAllocateMdl {
        /// `VirtualAddress`.
        va: Addr,
        /// `Length`.
        length: u32,
        /// `SecondaryBuffer`.
        secondary_buffer: bool,
        /// `ChargeQuota`.
        charge_quota: bool,
        /// `Irp` (`None`: NULL).
        irp: Option<Ix>,
    },
    /// [`Machine::mm_create_mdl`].
    MmCreateMdl {
        /// Base.
        va: Addr,
        /// Length.
        length: u32,
    },
    /// [`Machine::mm_size_of_mdl`] (pure).
    MmSizeOfMdl {
        /// Base.
        va: Addr,
        /// Length.
        length: u64,
    },
    /// [`Machine::mm_initialize_mdl`].
    MmInitializeMdl {
        /// The MDL (`None`: NULL).
        mdl: Option<Ix>,
        /// Base.
        va: Addr,
        /// Length.
        length: u32,
    },
    /// [`Machine::mm_prepare_mdl_for_reuse`].
    MmPrepareMdlForReuse {
        /// The MDL.
        mdl: Option<Ix>,
    },
    /// [`Machine::io_free_mdl`].
    IoFreeMdl {
        /// The MDL.
        mdl: Option<Ix>,
    },
    /// [`Machine::io_build_partial_mdl`].
    IoBuildPartialMdl {
        /// Source MDL.
        source: Option<Ix>,
        /// Target MDL.
        target: Option<Ix>,
        /// Start of the sub-range.
        va: Addr,
        /// Length (0: the rest of the source).
        length: u32,
    },
    /// [`Machine::mm_build_mdl_for_non_paged_pool`].
    MmBuildMdlForNonPagedPool {
        /// The MDL.
        mdl: Option<Ix>,
    },
    /// [`Machine::mm_probe_and_lock_pages`].
    MmProbeAndLockPages {
        /// The MDL.
        mdl: Option<Ix>,
        /// `AccessMode`.
        mode: AccessMode,
        /// `Operation`.
        operation: LockOperation,
    },
    /// [`Machine::mm_probe_and_lock_process_pages`].
    MmProbeAndLockProcessPages {
        /// The MDL.
        mdl: Option<Ix>,
        /// The process.
        process: Ix,
        /// `AccessMode`.
        mode: AccessMode,
        /// `Operation`.
        operation: LockOperation,
    },
    /// [`Machine::mm_unlock_pages`].
    MmUnlockPages {
        /// The MDL.
        mdl: Option<Ix>,
    },
    /// [`Machine::mm_map_locked_pages_specify_cache`].
    MmMapLockedPagesSpecifyCache {
        /// The MDL.
        mdl: Option<Ix>,
        /// `AccessMode` (kernel: system PTEs; user: the current process).
        mode: AccessMode,
        /// `CacheType`.
        cache: CacheType,
        /// `RequestedAddress` (user mode).
        base: Option<Addr>,
        /// `BugCheckOnFailure`.
        bug_check_on_failure: bool,
        /// `Priority` (with `MdlMapping*` bits).
        priority: u32,
    },
    /// [`Machine::mm_map_locked_pages`].
    MmMapLockedPages {
        /// The MDL.
        mdl: Option<Ix>,
        /// `AccessMode`.
        mode: AccessMode,
    },
    /// [`Machine::mm_get_system_address_for_mdl_safe`].
    MmGetSystemAddressForMdlSafe {
        /// The MDL.
        mdl: Option<Ix>,
        /// `Priority`.
        priority: u32,
    },
    /// [`Machine::mm_unmap_locked_pages`].
    MmUnmapLockedPages {
        /// `BaseAddress`.
        base: Addr,
        /// The MDL.
        mdl: Option<Ix>,
    },
    /// [`Machine::mm_protect_mdl_system_address`].
    MmProtectMdlSystemAddress {
        /// The MDL.
        mdl: Option<Ix>,
        /// `PAGE_*` protection.
        protect: u32,
    },
    /// [`Machine::mm_allocate_pages_for_mdl_ex`].
    MmAllocatePagesForMdlEx {
        /// `LowAddress`.
        low: u64,
        /// `HighAddress`.
        high: u64,
        /// `SkipBytes`.
        skip: u64,
        /// `TotalBytes`.
        total_bytes: u64,
        /// `CacheType`.
        cache: CacheType,
        /// `Flags`.
        flags: u32,
    },
    /// [`Machine::mm_free_pages_from_mdl`].
    MmFreePagesFromMdl {
        /// The MDL.
        mdl: Option<Ix>,
    },
    /// [`Machine::mdl_set_pfn`]: `MmGetMdlPfnArray(mdl)[index] = value`.
    MdlSetPfn {
        /// The MDL.
        mdl: Option<Ix>,
        /// Slot.
        index: u32,
        /// Value written.
        value: u64,
    },
    /// [`Machine::mdl_copy_pfns`].
    MdlCopyPfns {
        /// Source MDL.
        src: Option<Ix>,
        /// First source slot.
        src_index: u32,
        /// Destination MDL.
        dst: Option<Ix>,
        /// First destination slot.
        dst_index: u32,
        /// Slots copied.
        count: u32,
    },
    /// [`Machine::mdl_set_flags`]: `Mdl->MdlFlags = flags` (raw bits).
    MdlSetFlags {
        /// The MDL.
        mdl: Option<Ix>,
        /// The new `MdlFlags` bits.
        flags: u16,
    },
    /// [`Machine::mdl_set_next`]: `Mdl->Next = next`.
    MdlSetNext {
        /// The MDL written.
        mdl: Option<Ix>,
        /// The new `Next` (`None`: NULL).
        next: Option<Ix>,
    },
}

impl Interpreter {
    /// Runs an MDL op: each family of routines has its own interpreter below.
    pub(super) fn apply_mdl(&mut self, op: &MdlOp) -> Result<Value> {
        match op {
            MdlOp::IoAllocateMdl { .. }
            | MdlOp::MmCreateMdl { .. }
            | MdlOp::MmSizeOfMdl { .. }
            | MdlOp::MmInitializeMdl { .. }
            | MdlOp::MmPrepareMdlForReuse { .. }
            | MdlOp::IoFreeMdl { .. }
            | MdlOp::IoBuildPartialMdl { .. }
            | MdlOp::MmBuildMdlForNonPagedPool { .. } => self.apply_mdl_descriptor_op(op),
            MdlOp::MmProbeAndLockPages { .. }
            | MdlOp::MmProbeAndLockProcessPages { .. }
            | MdlOp::MmUnlockPages { .. } => self.apply_mdl_lock_op(op),
            MdlOp::MmMapLockedPagesSpecifyCache { .. }
            | MdlOp::MmMapLockedPages { .. }
            | MdlOp::MmGetSystemAddressForMdlSafe { .. }
            | MdlOp::MmUnmapLockedPages { .. }
            | MdlOp::MmProtectMdlSystemAddress { .. } => self.apply_mdl_mapping_op(op),
            MdlOp::MmAllocatePagesForMdlEx { .. } | MdlOp::MmFreePagesFromMdl { .. } => {
                self.apply_mdl_pages_op(op)
            }
            MdlOp::MdlSetPfn { .. }
            | MdlOp::MdlCopyPfns { .. }
            | MdlOp::MdlSetFlags { .. }
            | MdlOp::MdlSetNext { .. } => self.apply_mdl_field_write(op),
        }
    }

    /// Allocating, initialising, building and freeing MDLs.
    fn apply_mdl_descriptor_op(&mut self, op: &MdlOp) -> Result<Value> {
        match *op {
            MdlOp::IoAllocateMdl {
                va,
                length,
                secondary_buffer,
                charge_quota,
                irp,
            } => {
                let (va, irp) = (self.addr(va), irp.map(|i| self.irp(i)));
                let id = self.machine.io_allocate_mdl(
                    va,
                    length,
                    secondary_buffer,
                    charge_quota,
                    irp,
                )?;
                Ok(self.new_mdl(id))
            }
            MdlOp::MmCreateMdl { va, length } => {
                let va = self.addr(va);
                let id = self.machine.mm_create_mdl(va, length)?;
                Ok(self.new_mdl(id))
            }
            MdlOp::MmSizeOfMdl { va, length } => {
                // A pure function, but a crashed machine runs nothing.
                self.machine.alive()?;
                Ok(Value::Size(Machine::mm_size_of_mdl(self.addr(va), length)))
            }
            MdlOp::MmInitializeMdl { mdl, va, length } => {
                let (mdl, va) = (self.mdl(mdl), self.addr(va));
                self.machine.mm_initialize_mdl(mdl, va, length)?;
                Ok(Value::Unit)
            }
            MdlOp::MmPrepareMdlForReuse { mdl } => {
                let mdl = self.mdl(mdl);
                self.machine.mm_prepare_mdl_for_reuse(mdl)?;
                Ok(Value::Unit)
            }
            MdlOp::IoFreeMdl { mdl } => {
                let mdl = self.mdl(mdl);
                self.machine.io_free_mdl(mdl)?;
                Ok(Value::Unit)
            }
            MdlOp::IoBuildPartialMdl {
                source,
                target,
                va,
                length,
            } => {
                let (s, t, va) = (self.mdl(source), self.mdl(target), self.addr(va));
                self.machine.io_build_partial_mdl(s, t, va, length)?;
                Ok(Value::Unit)
            }
            MdlOp::MmBuildMdlForNonPagedPool { mdl } => {
                let mdl = self.mdl(mdl);
                self.machine.mm_build_mdl_for_non_paged_pool(mdl)?;
                Ok(Value::Unit)
            }
            _ => unreachable!(
                "{} is not an MDL's allocation, initialisation, building or freeing",
                op.name()
            ),
        }
    }

    /// Probing, locking and unlocking.
    fn apply_mdl_lock_op(&mut self, op: &MdlOp) -> Result<Value> {
        match *op {
            MdlOp::MmProbeAndLockPages {
                mdl,
                mode,
                operation,
            } => {
                let mdl = self.mdl(mdl);
                self.machine.mm_probe_and_lock_pages(mdl, mode, operation)?;
                Ok(Value::Unit)
            }
            MdlOp::MmProbeAndLockProcessPages {
                mdl,
                process,
                mode,
                operation,
            } => {
                let (mdl, pid) = (self.mdl(mdl), self.process(process));
                self.machine
                    .mm_probe_and_lock_process_pages(mdl, pid, mode, operation)?;
                Ok(Value::Unit)
            }
            MdlOp::MmUnlockPages { mdl } => {
                let mdl = self.mdl(mdl);
                self.machine.mm_unlock_pages(mdl)?;
                Ok(Value::Unit)
            }
            _ => unreachable!("{} is not a probe, lock or unlock", op.name()),
        }
    }

    /// Mapping and unmapping, and the mappings' protection.
    fn apply_mdl_mapping_op(&mut self, op: &MdlOp) -> Result<Value> {
        match *op {
            MdlOp::MmMapLockedPagesSpecifyCache {
                mdl,
                mode,
                cache,
                base,
                bug_check_on_failure,
                priority,
            } => {
                let (mdl, base) = (self.mdl(mdl), base.map(|b| self.addr(b)));
                let va = self.machine.mm_map_locked_pages_specify_cache(
                    mdl,
                    mode,
                    cache,
                    base,
                    bug_check_on_failure,
                    priority,
                )?;
                Ok(self.new_va(va))
            }
            MdlOp::MmMapLockedPages { mdl, mode } => {
                let mdl = self.mdl(mdl);
                let va = self.machine.mm_map_locked_pages(mdl, mode)?;
                Ok(self.new_va(va))
            }
            MdlOp::MmGetSystemAddressForMdlSafe { mdl, priority } => {
                let mdl = self.mdl(mdl);
                let va = self
                    .machine
                    .mm_get_system_address_for_mdl_safe(mdl, priority)?;
                Ok(self.new_va(va))
            }
            MdlOp::MmUnmapLockedPages { base, mdl } => {
                let (base, mdl) = (self.addr(base), self.mdl(mdl));
                self.machine.mm_unmap_locked_pages(base, mdl)?;
                Ok(Value::Unit)
            }
            MdlOp::MmProtectMdlSystemAddress { mdl, protect } => {
                let mdl = self.mdl(mdl);
                self.machine.mm_protect_mdl_system_address(mdl, protect)?;
                Ok(Value::Unit)
            }
            _ => unreachable!("{} is not a mapping routine", op.name()),
        }
    }

    /// MDLs of physical pages: allocating and freeing them.
    fn apply_mdl_pages_op(&mut self, op: &MdlOp) -> Result<Value> {
        match *op {
            MdlOp::MmAllocatePagesForMdlEx {
                low,
                high,
                skip,
                total_bytes,
                cache,
                flags,
            } => {
                let id = self.machine.mm_allocate_pages_for_mdl_ex(
                    low,
                    high,
                    skip,
                    total_bytes,
                    cache,
                    flags,
                )?;
                Ok(self.new_mdl(id))
            }
            MdlOp::MmFreePagesFromMdl { mdl } => {
                let mdl = self.mdl(mdl);
                self.machine.mm_free_pages_from_mdl(mdl)?;
                Ok(Value::Unit)
            }
            _ => unreachable!("{} is not an MDL-of-pages routine", op.name()),
        }
    }

    /// A driver's direct writes to MDL fields.
    fn apply_mdl_field_write(&mut self, op: &MdlOp) -> Result<Value> {
        match *op {
            MdlOp::MdlSetPfn { mdl, index, value } => {
                let mdl = self.mdl(mdl);
                self.machine.mdl_set_pfn(mdl, index, value)?;
                Ok(Value::Unit)
            }
            MdlOp::MdlCopyPfns {
                src,
                src_index,
                dst,
                dst_index,
                count,
            } => {
                let (s, d) = (self.mdl(src), self.mdl(dst));
                self.machine
                    .mdl_copy_pfns(s, src_index, d, dst_index, count)?;
                Ok(Value::Unit)
            }
            MdlOp::MdlSetFlags { mdl, flags } => {
                let mdl = self.mdl(mdl);
                self.machine
                    .mdl_set_flags(mdl, MdlFlags::from_bits_retain(flags))?;
                Ok(Value::Unit)
            }
            MdlOp::MdlSetNext { mdl, next } => {
                let (mdl, next) = (self.mdl(mdl), self.mdl(next));
                self.machine.mdl_set_next(mdl, next)?;
                Ok(Value::Unit)
            }
            _ => unreachable!("{} is not an MDL field write", op.name()),
        }
    }
}

impl MdlOp {
    /// The name of the routine the op calls ([`Op::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            MdlOp::IoAllocateMdl { .. } => "IoAllocateMdl",
            MdlOp::MmCreateMdl { .. } => "MmCreateMdl",
            MdlOp::MmSizeOfMdl { .. } => "MmSizeOfMdl",
            MdlOp::MmInitializeMdl { .. } => "MmInitializeMdl",
            MdlOp::MmPrepareMdlForReuse { .. } => "MmPrepareMdlForReuse",
            MdlOp::IoFreeMdl { .. } => "IoFreeMdl",
            MdlOp::IoBuildPartialMdl { .. } => "IoBuildPartialMdl",
            MdlOp::MmBuildMdlForNonPagedPool { .. } => "MmBuildMdlForNonPagedPool",
            MdlOp::MmProbeAndLockPages { .. } => "MmProbeAndLockPages",
            MdlOp::MmProbeAndLockProcessPages { .. } => "MmProbeAndLockProcessPages",
            MdlOp::MmUnlockPages { .. } => "MmUnlockPages",
            MdlOp::MmMapLockedPagesSpecifyCache { .. } => "MmMapLockedPagesSpecifyCache",
            MdlOp::MmMapLockedPages { .. } => "MmMapLockedPages",
            MdlOp::MmGetSystemAddressForMdlSafe { .. } => "MmGetSystemAddressForMdlSafe",
            MdlOp::MmUnmapLockedPages { .. } => "MmUnmapLockedPages",
            MdlOp::MmProtectMdlSystemAddress { .. } => "MmProtectMdlSystemAddress",
            MdlOp::MmAllocatePagesForMdlEx { .. } => "MmAllocatePagesForMdlEx",
            MdlOp::MmFreePagesFromMdl { .. } => "MmFreePagesFromMdl",
            MdlOp::MdlSetPfn { .. } => "MdlSetPfn",
            MdlOp::MdlCopyPfns { .. } => "MdlCopyPfns",
            MdlOp::MdlSetFlags { .. } => "MdlSetFlags",
            MdlOp::MdlSetNext { .. } => "MdlSetNext",
        }
    }

    /// One op of every variant ([`super::examples`]), in an order a driver could call
    /// them on a buffer at the most recent VA.
    pub fn examples() -> Vec<MdlOp> {
        let mut ops = Self::build_lock_and_map_examples();
        ops.extend(Self::rebuild_write_and_free_examples());
        ops
    }

    /// The first half of [`MdlOp::examples`]: describe a buffer, lock it, map it and unmap it.
    fn build_lock_and_map_examples() -> Vec<MdlOp> {
        let (mdl, va) = (Some(Ix::Recent(0)), Addr::at(Ix::Recent(0), 0));
        let (mode, operation) = (AccessMode::KernelMode, LockOperation::IoReadAccess);
        vec![
            MdlOp::MmSizeOfMdl { va, length: 0x1000 },
            MdlOp::IoAllocateMdl {
                va,
                length: 0x1000,
                secondary_buffer: false,
                charge_quota: false,
                irp: None,
            },
            MdlOp::MmCreateMdl { va, length: 0x1000 },
            MdlOp::MmInitializeMdl {
                mdl,
                va,
                length: 0x1000,
            },
            MdlOp::MmProbeAndLockPages {
                mdl,
                mode,
                operation,
            },
            MdlOp::MmProbeAndLockProcessPages {
                mdl,
                process: Ix::Recent(0),
                mode,
                operation,
            },
            MdlOp::MmGetSystemAddressForMdlSafe {
                mdl,
                priority: crate::mdl::priority::NORMAL,
            },
            MdlOp::MmMapLockedPages { mdl, mode },
            MdlOp::MmMapLockedPagesSpecifyCache {
                mdl,
                mode,
                cache: CacheType::Cached,
                base: None,
                bug_check_on_failure: false,
                priority: crate::mdl::priority::NORMAL,
            },
            MdlOp::MmProtectMdlSystemAddress { mdl, protect: 0x02 },
            MdlOp::MmUnmapLockedPages { base: va, mdl },
        ]
    }

    /// The second half of [`MdlOp::examples`]: build a partial MDL, reuse, write the fields a
    /// driver can write, unlock, rebuild for non-paged pool, free; then an MDL of pages.
    fn rebuild_write_and_free_examples() -> Vec<MdlOp> {
        let mdl = Some(Ix::Recent(0));
        vec![
            MdlOp::IoBuildPartialMdl {
                source: Some(Ix::Recent(1)),
                target: mdl,
                va: Addr::OfMdl {
                    mdl: Ix::Recent(1),
                    offset: 0,
                },
                length: 0,
            },
            MdlOp::MmPrepareMdlForReuse { mdl },
            MdlOp::MdlSetPfn {
                mdl,
                index: 0,
                value: crate::addr::LIST_HEAD,
            },
            MdlOp::MdlCopyPfns {
                src: Some(Ix::Recent(1)),
                src_index: 0,
                dst: mdl,
                dst_index: 0,
                count: 1,
            },
            MdlOp::MdlSetFlags { mdl, flags: 0 },
            MdlOp::MdlSetNext { mdl, next: None },
            MdlOp::MmUnlockPages { mdl },
            MdlOp::MmBuildMdlForNonPagedPool { mdl },
            MdlOp::IoFreeMdl { mdl },
            MdlOp::MmAllocatePagesForMdlEx {
                low: 0,
                high: u64::MAX,
                skip: 0,
                total_bytes: 0x2000,
                cache: CacheType::Cached,
                flags: 0,
            },
            MdlOp::MmFreePagesFromMdl { mdl },
        ]
    }
}
