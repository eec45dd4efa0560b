//! Host copies of IRPs, for C dispatch routines: every live IRP of the model is written
//! at its host address (the x64 `IRP`, 0xD0 bytes, and its stack locations after it) at
//! each crossing into native code, and what the C code changed is applied when it crosses
//! back.
//!
//! The model owns the IRP: the C code may write `IoStatus` and `MdlAddress` (as drivers
//! do before `IoCompleteRequest`), which are applied as the driver's field writes, and
//! `Tail.Overlay.DriverContext` and `Tail.Overlay.ListEntry`, the driver's own words,
//! which the model keeps (`Irp::driver_words`) from one call to the next, and
//! `CancelIrql` (`IoAcquireCancelSpinLock(&Irp->CancelIrql)`). A write to
//! any other byte is reported as unsupported (the stack locations change through DDIs:
//! `IoMarkIrpPending`, `IoCompleteRequest`, `IoSetCancelRoutine`).

use crate::host::HostMemory;
use crate::layout::{HostAddress, Layout, irp_slot, mdl_slot};
use crate::mirror::{host_error, mdl_from_host};
use mdlsim::addr::{PAGE_BYTES, Va};
use mdlsim::io::{IoStatusBlock, IrpId, Parameters};
use mdlsim::mdl::AccessMode;
use mdlsim::status::NtStatus;
use mdlsim::{Fault, Kernel, Machine, ModelError};
use std::collections::BTreeMap;

/// `sizeof(IRP)` on x64.
pub const IRP_SIZE: usize = 0xD0;
/// `sizeof(IO_STACK_LOCATION)` on x64.
pub const STACK_LOCATION_SIZE: usize = 0x48;
/// Where the model's `Irp::driver_words` live: `Tail.Overlay.DriverContext[4]` (0x78)
/// and `Tail.Overlay.ListEntry` (0xA8), the driver's own words.
const DRIVER_WORDS: [usize; 6] = [0x78, 0x80, 0x88, 0x90, 0xA8, 0xB0];

/// Whether byte `i` of the IRP is one of the driver's own words.
fn driver_owned(i: usize) -> bool {
    DRIVER_WORDS.iter().any(|&w| (w..w + 8).contains(&i))
}

fn unsupported(what: String) -> Fault {
    Fault::Model(ModelError::Unsupported(what))
}

/// The host copy of one IRP.
#[derive(Clone, Debug)]
struct IrpCopy {
    id: IrpId,
    host: u64,
    mapped: u64,
    written: Vec<u8>,
}

/// The host copies of the model's live IRPs.
#[derive(Debug, Default)]
pub struct IrpCopies {
    copies: BTreeMap<u64, IrpCopy>,
}

impl IrpCopies {
    /// Unmaps every copy (a new call).
    ///
    /// # Errors
    /// The host refused.
    pub fn reset(&mut self, mem: &mut HostMemory) -> mdlsim::Result<()> {
        for c in std::mem::take(&mut self.copies).into_values() {
            mem.unmap(c.host, c.mapped).map_err(host_error)?;
        }
        Ok(())
    }

    /// Writes every live IRP at its host address; unmaps the copies of freed ones.
    ///
    /// # Errors
    /// The host refused a mapping; an IRP past the host region is unsupported.
    pub fn show(&mut self, mem: &mut HostMemory, m: &Machine) -> mdlsim::Result<()> {
        let layout = mem.layout();
        let mut live = std::collections::HashSet::new();
        for (id, _) in m.irps() {
            let slot = irp_slot(id);
            live.insert(slot);
            let host = layout
                .irp(slot)
                .ok_or_else(|| unsupported(format!("{id}: too many IRPs for the native window")))?;
            let bytes = encode(layout, m, id, host)?;
            let need = (bytes.len() as u64).div_ceil(PAGE_BYTES as u64) * PAGE_BYTES as u64;
            let old = self
                .copies
                .get(&slot)
                .filter(|c| c.id == id && c.mapped >= need);
            if old.is_none() {
                mem.map_private(host, need).map_err(host_error)?;
            }
            let mapped = old.map_or(need, |c| c.mapped);
            // SAFETY: [host, host + need) is mapped private read-write (above or earlier).
            unsafe { mem.private_bytes(host, bytes.len()) }.copy_from_slice(&bytes);
            self.copies.insert(
                slot,
                IrpCopy {
                    id,
                    host,
                    mapped,
                    written: bytes,
                },
            );
        }
        let gone: Vec<u64> = self
            .copies
            .keys()
            .copied()
            .filter(|s| !live.contains(s))
            .collect();
        for slot in gone {
            if let Some(c) = self.copies.remove(&slot) {
                mem.unmap(c.host, c.mapped).map_err(host_error)?;
            }
        }
        Ok(())
    }

    /// Applies what native code wrote into the copies.
    ///
    /// # Errors
    /// A write to a field the driver does not own (unsupported), or the model's fault.
    pub fn take(&mut self, mem: &mut HostMemory, k: &mut Kernel<'_>) -> mdlsim::Result<()> {
        let layout = mem.layout();
        for c in self.copies.values_mut() {
            // SAFETY: the copy's pages stay mapped while it is in `self.copies`.
            let now = unsafe { mem.private_bytes(c.host, c.written.len()) }.to_vec();
            if now != c.written {
                apply(layout, k, c.id, &c.written, &now)?;
                c.written = now;
            }
        }
        Ok(())
    }
}

/// The PIRP a host pointer names.
pub fn irp_from_host(layout: Layout, m: &Machine, h: u64) -> mdlsim::Result<IrpId> {
    match layout.classify(h) {
        HostAddress::Irp(slot, 0) => Va::new(IrpId::BASE)
            .checked_add(slot * IrpId::STRIDE)
            .and_then(|va| m.irp_at(va))
            .ok_or_else(|| unsupported(format!("{h:#x} was never an IRP"))),
        _ => Err(unsupported(format!(
            "{h:#x} is not an IRP the I/O manager sent"
        ))),
    }
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

/// The IRP `id` as native code sees it at `host` (x64 layout, host addresses).
fn encode(layout: Layout, m: &Machine, id: IrpId, host: u64) -> mdlsim::Result<Vec<u8>> {
    let irp = m.irp(id)?;
    let count = irp.stack.len();
    let mut b = vec![0u8; IRP_SIZE + count * STACK_LOCATION_SIZE];
    let host_of = |va: Option<Va>| va.map_or(0, |v| layout.host(v).unwrap_or(v.raw()));
    let mdl = irp
        .mdl_address
        .and_then(|m| layout.mdl(mdl_slot(m)))
        .unwrap_or(0);
    put(&mut b, 0x00, &6i16.to_le_bytes());
    let size = b.len().min(0xFFFF) as u16;
    put(&mut b, 0x02, &size.to_le_bytes());
    put(&mut b, 0x08, &mdl.to_le_bytes());
    put(&mut b, 0x10, &irp.flags.bits().to_le_bytes());
    put(&mut b, 0x18, &host_of(irp.system_buffer).to_le_bytes());
    put(&mut b, 0x30, &irp.io_status.status.0.to_le_bytes());
    put(&mut b, 0x38, &irp.io_status.information.to_le_bytes());
    b[0x40] = u8::from(irp.requestor_mode == AccessMode::UserMode);
    b[0x41] = u8::from(irp.pending_returned);
    b[0x42] = irp.stack_count;
    b[0x43] = irp.current_location;
    b[0x44] = u8::from(irp.cancel);
    b[0x45] = irp.cancel_irql;
    b[0x47] = irp.allocation_flags;
    put(&mut b, 0x48, &host_of(irp.user_iosb).to_le_bytes());
    let cancel = crate::device::cancel_routine(m, id).unwrap_or(0);
    put(&mut b, 0x68, &cancel.to_le_bytes());
    put(&mut b, 0x70, &host_of(irp.user_buffer).to_le_bytes());
    for (w, v) in DRIVER_WORDS.iter().zip(irp.driver_words) {
        put(&mut b, *w, &v.to_le_bytes());
    }
    let current = u64::from(irp.current_location).saturating_sub(1) * STACK_LOCATION_SIZE as u64;
    put(
        &mut b,
        0xB8,
        &(host + IRP_SIZE as u64 + current).to_le_bytes(),
    );
    for (i, loc) in irp.stack.iter().enumerate() {
        let at = IRP_SIZE + i * STACK_LOCATION_SIZE;
        b[at] = loc.major_function;
        b[at + 1] = loc.minor_function;
        b[at + 3] = loc.control;
        match loc.parameters {
            Parameters::Read {
                length,
                byte_offset,
            }
            | Parameters::Write {
                length,
                byte_offset,
            } => {
                put(&mut b, at + 0x08, &length.to_le_bytes());
                put(&mut b, at + 0x18, &byte_offset.to_le_bytes());
            }
            Parameters::DeviceIoControl {
                output_buffer_length,
                input_buffer_length,
                io_control_code,
                type3_input_buffer,
            } => {
                put(&mut b, at + 0x08, &output_buffer_length.to_le_bytes());
                put(&mut b, at + 0x10, &input_buffer_length.to_le_bytes());
                put(&mut b, at + 0x18, &io_control_code.to_le_bytes());
                put(
                    &mut b,
                    at + 0x20,
                    &host_of(type3_input_buffer).to_le_bytes(),
                );
            }
            _ => {}
        }
    }
    Ok(b)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

/// Applies native code's writes to the IRP `id` (module docs).
fn apply(
    layout: Layout,
    k: &mut Kernel<'_>,
    id: IrpId,
    was: &[u8],
    now: &[u8],
) -> mdlsim::Result<()> {
    let owned = |i: usize| {
        (0x30..0x40).contains(&i) || (0x08..0x10).contains(&i) || i == 0x45 || driver_owned(i)
    };
    if let Some(i) = (0..was.len()).find(|&i| was[i] != now[i] && !owned(i)) {
        return Err(unsupported(format!(
            "native code wrote byte {i:#x} of {id} directly (only IoStatus, MdlAddress, \
             CancelIrql, Tail.Overlay.DriverContext and Tail.Overlay.ListEntry are the \
             driver's to write)"
        )));
    }
    if was[0x45] != now[0x45] {
        k.irp_mut(id)?.cancel_irql = now[0x45];
    }
    if DRIVER_WORDS.iter().any(|&w| was[w..w + 8] != now[w..w + 8]) {
        k.irp_mut(id)?.driver_words = DRIVER_WORDS.map(|w| u64_at(now, w));
    }
    if was[0x30..0x40] != now[0x30..0x40] {
        let status = NtStatus(u32::from_le_bytes([
            now[0x30], now[0x31], now[0x32], now[0x33],
        ]));
        let information = u64_at(now, 0x38);
        k.irp_mut(id)?.io_status = IoStatusBlock {
            status,
            information,
        };
    }
    if was[0x08..0x10] != now[0x08..0x10] {
        let mdl = k.interleave(|m| mdl_from_host(layout, m, u64_at(now, 0x08)))?;
        k.irp_mut(id)?.mdl_address = mdl;
    }
    Ok(())
}
