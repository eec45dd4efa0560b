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
use crate::status::NtStatus;
use std::sync::Arc;

/// The filter manager's own (legacy filter) driver.
#[derive(Clone, Copy, Debug, Default)]
pub struct FltMgr;

fn snapshot(m: &Machine, irp: IrpId) -> Result<CallbackData> {
    let i = m.irp(irp)?;
    let loc = i.current_stack_location().copied().unwrap_or_default();
    let parameters = match loc.parameters {
        Parameters::Read { length, .. } => FltParameters::Read {
            length,
            read_buffer: i.user_buffer.or(i.system_buffer),
            mdl_address: i.mdl_address,
        },
        Parameters::Write { length, .. } => FltParameters::Write {
            length,
            write_buffer: i.user_buffer.or(i.system_buffer),
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
    if i.flags.contains(IrpFlags::BUFFERED_IO) && i.system_buffer.is_some() {
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
        post_due: Vec::new(),
    })
}

impl Driver for FltMgr {
    fn dispatch(&self, k: &mut Kernel<'_>, device: DeviceId, irp: IrpId) -> Result<NtStatus> {
        // The filter manager is a system component: it reads its own registrations.
        let m = k.system();
        let mut data = snapshot(m, irp)?;
        let mut order: Vec<usize> = (0..m.filters.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(m.filters[i].altitude));
        for idx in order {
            let code = m.filters[idx].code.clone();
            match code.pre_operation(&mut m.kernel(), &mut data)? {
                PreOpStatus::SuccessWithCallback => data.post_due.push(idx),
                PreOpStatus::SuccessNoCallback => {}
                PreOpStatus::Complete => {
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
        let due: Vec<usize> = data.post_due.iter().rev().copied().collect();
        for idx in due {
            let code = m.filters[idx].code.clone();
            code.post_operation(&mut m.kernel(), &mut data)?;
        }
        m.io.flt.finished.push(data);
        Ok(NtStatus::SUCCESS)
    }
}

impl Machine {
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
        if data.flags & FLTFL_CALLBACK_DATA_NEW_SYSTEM_BUFFER == 0 {
            return Ok(None);
        }
        Ok(data.new_system_buffer)
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
