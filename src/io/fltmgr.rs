//! The filter manager: minifilters with pre- and post-operation callbacks (the [directory change notification][design-notification]).
//!
//! The filter manager is a legacy filter device ([`FltMgr`]) attached above a file
//! system's volume device by [`Machine::flt_attach_volume`]. For each IRP it builds
//! [`CallbackData`] holding a snapshot of the pre-operation parameters (the
//! `COMPLETION_NODE`'s `DataSnapshot`), calls the registered minifilters' pre-operation
//! callbacks from the highest altitude down, sends the IRP down with a completion
//! routine, and on completion calls the post-operation callbacks from the lowest
//! altitude up — with the **same pre-operation parameters**. If the file system put a
//! new `AssociatedIrp.SystemBuffer` into the IRP meanwhile (the FsRtl notify package
//! does: the [directory change notification][design-notification]), the post callback sees `FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER` and
//! [`Machine::flt_get_new_system_buffer_address`] returns that buffer.
//!
//! A pre callback that swaps a read's or write's buffer (a new `ReadBuffer` and
//! `MdlAddress` in the parameters, then [`Machine::flt_set_callback_data_dirty`]) has the
//! IRP sent down with them; its post callback sees the original parameters again, and
//! the filter manager then frees the filter's MDL and restores the IRP's own.
//!
//! Post callbacks run in the completing thread's context, which for a long-pending
//! request is usually some other process: a post callback that dereferences the user
//! `DirectoryBuffer` reads **that** process's memory, and byte provenance shows it.
//!
//! [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification

use super::IoStatusBlock;
use super::device::{DeviceId, Driver};
use super::irp::{IrpFlags, IrpId, Parameters};
use crate::addr::Va;
use crate::fault::Result;
pub use crate::iostate::flt::*;
use crate::machine::driver::FilterEntry;
pub use crate::machine::driver::MiniFilter;
use crate::machine::{Kernel, Machine};
use crate::mdl::MdlId;
use crate::status::NtStatus;
use std::sync::Arc;

/// The filter manager's own (legacy filter) driver.
#[derive(Clone, Copy, Debug, Default)]
pub struct FltMgr;

fn snapshot(m: &Machine, irp: IrpId) -> Result<CallbackData> {
    let i = m.irp(irp)?;
    let loc = i.current_stack_location().copied().unwrap_or_default();
    let system = has_system_buffer(i);
    let buffer = own_buffer(i);
    let parameters = match loc.parameters {
        Parameters::Read { length, .. } => FltParameters::Read {
            length,
            read_buffer: buffer,
            mdl_address: i.mdl_address,
        },
        Parameters::Write { length, .. } => FltParameters::Write {
            length,
            write_buffer: buffer,
            mdl_address: i.mdl_address,
        },
        Parameters::DeviceIoControl {
            output_buffer_length,
            input_buffer_length,
            io_control_code,
            ..
        } => FltParameters::DeviceIoControl {
            io_control_code,
            input_buffer_length,
            output_buffer_length,
        },
        Parameters::NotifyDirectory {
            length,
            completion_filter,
        } => FltParameters::NotifyDirectory {
            length,
            completion_filter,
            directory_buffer: i.user_buffer,
            mdl_address: i.mdl_address,
        },
        Parameters::None => FltParameters::Other,
    };
    let mut flags = FLTFL_CALLBACK_DATA_IRP_OPERATION;
    if system {
        flags |= FLTFL_CALLBACK_DATA_SYSTEM_BUFFER;
    }
    Ok(CallbackData {
        irp,
        flags,
        thread: i.thread,
        requestor_mode: i.requestor_mode,
        major_function: loc.major_function,
        minor_function: loc.minor_function,
        irp_flags: i.flags,
        parameters,
        io_status: i.io_status,
        sent_system_buffer: i.system_buffer,
        new_system_buffer: None,
        completion_context: 0,
        post_due: Vec::new(),
        swap: None,
        locked: Vec::new(),
    })
}

/// Whether the IRP carries an I/O-manager system buffer
/// (`FLTFL_CALLBACK_DATA_SYSTEM_BUFFER`).
fn has_system_buffer(i: &super::irp::Irp) -> bool {
    i.flags.contains(IrpFlags::BUFFERED_IO) && i.system_buffer.is_some()
}

/// The buffer a read's or write's parameters show: the system buffer of a buffered
/// request (`FLTFL_CALLBACK_DATA_SYSTEM_BUFFER`), else the caller's.
pub(crate) fn own_buffer(i: &super::irp::Irp) -> Option<Va> {
    if has_system_buffer(i) {
        i.system_buffer
    } else {
        i.user_buffer.or(i.system_buffer)
    }
}

/// The filter manager is done with `data`: the MDLs `FltLockUserBuffer` made that the
/// IRP does not hold are unlocked and freed ("the MDL is unlocked and freed
/// automatically when the callback data is freed": Microsoft, `FltLockUserBuffer`).
fn release_locked(m: &mut Machine, data: &mut CallbackData) -> Result<()> {
    for mdl in std::mem::take(&mut data.locked) {
        m.mm_unlock_pages(mdl)?;
        m.io_free_mdl(mdl)?;
    }
    Ok(())
}

impl Driver for FltMgr {
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        // The filter manager is a system component: it reads its own registrations.
        let m = k.system();
        let mut data = snapshot(m, irp)?;
        let original = data.parameters;
        let mut order: Vec<usize> = (0..m.filters.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(m.filters[i].altitude));
        for idx in order {
            let code = m.filters[idx].code.clone();
            data.completion_context = 0;
            match code.pre_operation(&mut m.kernel(), &mut data)? {
                PreOpStatus::SuccessWithCallback => {
                    data.post_due.push((idx, data.completion_context));
                }
                PreOpStatus::SuccessNoCallback => {}
                PreOpStatus::Complete => {
                    release_locked(m, &mut data)?;
                    let st = data.io_status;
                    m.irp_mut(irp)?.io_status = st;
                    m.io_complete_request(irp)?;
                    return Ok(st.status);
                }
            }
        }
        let Some(lower) = m.device(device)?.lower else {
            m.irp_mut(irp)?.io_status = IoStatusBlock {
                status: NtStatus::INVALID_DEVICE_REQUEST,
                information: 0,
            };
            m.io_complete_request(irp)?;
            return Ok(NtStatus::INVALID_DEVICE_REQUEST);
        };
        apply_swap(m, irp, &mut data, original)?;
        m.io.flt.data.insert(irp, data);
        m.io_copy_current_irp_stack_location_to_next(irp)?;
        m.io_set_completion_routine(irp, device, 0, true, true, true)?;
        m.io_call_driver(lower, irp)
    }

    fn completion(
        &self,
        k: &mut Kernel<'_>,
        _device: DeviceId,
        irp: IrpId,
        _context: u64,
    ) -> Result<NtStatus> {
        let m = k.system();
        let i = m.irp(irp)?.clone();
        if i.pending_returned {
            m.io_mark_irp_pending(irp)?;
        }
        let Some(mut data) = m.io.flt.data.remove(&irp) else {
            return Ok(NtStatus::SUCCESS);
        };
        data.flags |= FLTFL_CALLBACK_DATA_POST_OPERATION;
        data.io_status = i.io_status;
        if i.system_buffer != data.sent_system_buffer {
            data.new_system_buffer = i.system_buffer;
            data.flags |= FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER;
        }
        if let Some(swap) = data.swap {
            data.parameters = swap.original;
        }
        let due: Vec<(usize, u64)> = data.post_due.iter().rev().copied().collect();
        for (idx, context) in due {
            let code = m.filters[idx].code.clone();
            data.completion_context = context;
            code.post_operation(&mut m.kernel(), &mut data)?;
        }
        if let Some(swap) = data.swap {
            undo_swap(m, irp, swap, &data.locked)?;
        }
        release_locked(m, &mut data)?;
        m.io.flt.finished.push(data);
        Ok(NtStatus::SUCCESS)
    }
}

/// A pre callback changed the buffer of a read or write and called
/// `FltSetCallbackDataDirty`: the IRP goes down with the new `UserBuffer` and
/// `MdlAddress` (the filter manager remembers the old ones).
fn apply_swap(
    m: &mut Machine,
    irp: IrpId,
    data: &mut CallbackData,
    original: FltParameters,
) -> Result<()> {
    if data.flags & FLTFL_CALLBACK_DATA_DIRTY == 0 {
        return Ok(());
    }
    data.flags &= !FLTFL_CALLBACK_DATA_DIRTY;
    let i = m.irp(irp)?;
    let own = (own_buffer(i), i.mdl_address);
    let (buffer, mdl) = match (data.parameters, original) {
        (
            FltParameters::Read {
                length,
                read_buffer: b,
                mdl_address: d,
            }
            | FltParameters::Write {
                length,
                write_buffer: b,
                mdl_address: d,
            },
            FltParameters::Read { length: was, .. } | FltParameters::Write { length: was, .. },
        ) if length == was => (b, d),
        (
            FltParameters::NotifyDirectory {
                directory_buffer: b,
                mdl_address: d,
                ..
            },
            _,
        ) if (b, d) == (i.user_buffer, i.mdl_address) => {
            return Ok(());
        }
        (now, was) if now == was => return Ok(()),
        (now, _) => return Err(unmodelled_change(now)),
    };
    if (buffer, mdl) == own {
        // Nothing to swap: the buffer is the IRP's own (`FltLockUserBuffer` put its MDL
        // in the IRP), so the post callbacks see the parameters as they are, MDL included.
        return Ok(());
    }
    let i = m.irp_entry_mut(irp)?;
    let swap = Swap {
        original,
        user_buffer: i.user_buffer,
        mdl_address: i.mdl_address,
        swapped_mdl: mdl.filter(|d| Some(*d) != i.mdl_address),
    };
    i.user_buffer = buffer;
    i.mdl_address = mdl;
    data.swap = Some(swap);
    Ok(())
}

/// A pre callback changed parameters the model does not apply (a read's or write's
/// length, a directory buffer, an IOCTL's codes) and marked them dirty: a model error,
/// not a silent drop.
fn unmodelled_change(now: FltParameters) -> crate::fault::Fault {
    crate::fault::Fault::Model(crate::fault::ModelError::Unsupported(format!(
        "a pre-operation callback changed these parameters and called \
         FltSetCallbackDataDirty: {now:?} (the model applies a read's or write's buffer \
         and MDL only)"
    )))
}

/// After the post callbacks of a swapped operation: "Filter Manager will free the MDL
/// stored in MdlAddress and restore MdlAddress to its previous value" (Microsoft,
/// `FLT_PARAMETERS for IRP_MJ_READ`), and `UserBuffer` with it.
fn undo_swap(m: &mut Machine, irp: IrpId, swap: Swap, locked: &[MdlId]) -> Result<()> {
    let i = m.irp_entry_mut(irp)?;
    i.user_buffer = swap.user_buffer;
    i.mdl_address = swap.mdl_address;
    match swap.swapped_mdl.filter(|d| !locked.contains(d)) {
        Some(d) => m.io_free_mdl(d),
        None => Ok(()),
    }
}

impl Machine {
    /// [`FltSetCallbackDataDirty`]: a pre-operation callback changed `data`'s parameters.
    /// For a read or write whose `ReadBuffer`/`WriteBuffer` and `MdlAddress` it replaced
    /// (a buffer swap), the filter manager sends the IRP down with the new buffer and
    /// MDL; the post-operation callbacks see the original parameters; after them the
    /// filter manager frees the filter's MDL and restores the IRP's own
    /// ([`FLT_PARAMETERS for IRP_MJ_READ`]: "Filter Manager will free the MDL stored in
    /// MdlAddress and restore MdlAddress to its previous value").
    ///
    /// # Errors
    /// A crashed machine.
    ///
    /// [`FltSetCallbackDataDirty`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltsetcallbackdatadirty
    /// [`FLT_PARAMETERS for IRP_MJ_READ`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ifs/flt-parameters-for-irp-mj-read
    #[doc(alias = "FltSetCallbackDataDirty")]
    pub fn flt_set_callback_data_dirty(&mut self, data: &mut CallbackData) -> Result<()> {
        self.enter("FltSetCallbackDataDirty")?;
        data.flags |= FLTFL_CALLBACK_DATA_DIRTY;
        Ok(())
    }

    /// [`FltClearCallbackDataDirty`]: clears `FLTFL_CALLBACK_DATA_DIRTY`, so the filter
    /// manager ignores the changes made to `data`'s parameters.
    ///
    /// # Errors
    /// A crashed machine.
    ///
    /// [`FltClearCallbackDataDirty`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltclearcallbackdatadirty
    #[doc(alias = "FltClearCallbackDataDirty")]
    pub fn flt_clear_callback_data_dirty(&mut self, data: &mut CallbackData) -> Result<()> {
        self.enter("FltClearCallbackDataDirty")?;
        data.flags &= !FLTFL_CALLBACK_DATA_DIRTY;
        Ok(())
    }

    /// [`FltIsCallbackDataDirty`]: whether `FLTFL_CALLBACK_DATA_DIRTY` is set.
    ///
    /// # Errors
    /// A crashed machine.
    ///
    /// [`FltIsCallbackDataDirty`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltiscallbackdatadirty
    #[doc(alias = "FltIsCallbackDataDirty")]
    pub fn flt_is_callback_data_dirty(&mut self, data: &CallbackData) -> Result<bool> {
        self.enter("FltIsCallbackDataDirty")?;
        Ok(data.flags & FLTFL_CALLBACK_DATA_DIRTY != 0)
    }

    /// [`FltRegisterFilter`] + `FltStartFiltering`: registers a minifilter at `altitude`
    /// (higher altitudes see pre-operations first and post-operations last).
    ///
    /// # Errors
    /// A crashed machine.
    ///
    /// [`FltRegisterFilter`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltregisterfilter
    #[doc(alias = "FltRegisterFilter")]
    pub fn flt_register_filter(
        &mut self,
        name: &str,
        altitude: u32,
        code: Arc<dyn MiniFilter>,
    ) -> Result<()> {
        self.enter("FltRegisterFilter")?;
        self.filters.push(FilterEntry {
            name: name.to_string(),
            altitude,
            code,
        });
        Ok(())
    }

    /// Attaches the filter manager's device above the stack of `volume` (a file system's
    /// volume device); returns the filter manager's device.
    ///
    /// # Errors
    /// As [`Machine::io_attach_device_to_device_stack`].
    pub fn flt_attach_volume(&mut self, volume: DeviceId) -> Result<DeviceId> {
        self.alive()?;
        let drv = match self.io.flt.driver {
            Some(d) => d,
            None => {
                let d = self.io_register_driver("FltMgr", Arc::new(FltMgr))?;
                self.io.flt.driver = Some(d);
                d
            }
        };
        let dev = self.io_create_device(drv, "\\FileSystem\\FltMgr", 0)?;
        self.io_attach_device_to_device_stack(dev, volume)?;
        Ok(dev)
    }

    /// [`FltGetNewSystemBufferAddress`]: the `AssociatedIrp.SystemBuffer` the file system
    /// allocated, when `FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER` is set; else `None` (NULL).
    ///
    /// # Errors
    /// A crashed machine.
    ///
    /// [`FltGetNewSystemBufferAddress`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/fltkernel/nf-fltkernel-fltgetnewsystembufferaddress
    #[doc(alias = "FltGetNewSystemBufferAddress")]
    pub fn flt_get_new_system_buffer_address(&mut self, data: &CallbackData) -> Result<Option<Va>> {
        self.enter("FltGetNewSystemBufferAddress")?;
        let r = if data.flags & FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER == 0 {
            None
        } else {
            data.new_system_buffer
        };
        self.note_null(Ok(r))
    }

    /// Callback data as each operation's post-callback round left it, in order.
    pub fn flt_finished_operations(&self) -> &[CallbackData] {
        &self.io.flt.finished
    }

    /// Names of the registered minifilters, in registration order.
    pub fn flt_filters(&self) -> Vec<(String, u32)> {
        self.filters
            .iter()
            .map(|f| (f.name.clone(), f.altitude))
            .collect()
    }
}
