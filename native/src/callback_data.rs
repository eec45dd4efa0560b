//! `FLT_CALLBACK_DATA` for C minifilters: each callback gets a host copy of the model's
//! [`CallbackData`] — the callback data (0x58 bytes), its `FLT_IO_PARAMETER_BLOCK`
//! (0x48) and the `FLT_RELATED_OBJECTS` (0x30), x64 layouts — with buffers and MDLs as
//! their host addresses, so the C code reads `Data->Iopb->Parameters.Read.ReadBuffer`
//! as it would on Windows. After the callback, `IoStatus` is taken back, and the
//! parameters too when the callback data is dirty (`FltSetCallbackDataDirty`: the filter
//! manager ignores changed parameters otherwise).
//!
//! The DDIs that take a `PFLT_CALLBACK_DATA` run on the model's callback data of the
//! callback running on this thread ([`with_current`]).

use crate::layout::{Layout, mdl_slot};
use crate::mirror::mdl_from_host;
use mdlsim::addr::Va;
use mdlsim::io::fltmgr::{CallbackData, FLTFL_CALLBACK_DATA_DIRTY, FltParameters};
use mdlsim::io::{IoStatusBlock, Parameters};
use mdlsim::mdl::{AccessMode, MdlId};
use mdlsim::status::NtStatus;
use mdlsim::{Fault, Kernel, ModelError};
use std::cell::RefCell;

/// `FLT_CALLBACK_DATA`, then the parameter block, the related objects, and opaque
/// zeroed objects the pointers name (thread, file object, instance, volume).
const DATA: usize = 0;
const IOPB: usize = 0x58;
const OBJECTS: usize = IOPB + 0x48;
const OPAQUE: usize = OBJECTS + 0x30;
/// Each opaque object's size.
const OPAQUE_SIZE: usize = 0x40;
/// The block's size in bytes (a multiple of 8).
const SIZE: usize = OPAQUE + 4 * OPAQUE_SIZE;
/// `Iopb->Parameters`, from the block's start.
const PARAMS: usize = IOPB + 0x18;

/// The filter object native code gets from `FltRegisterFilter` (opaque: never written).
static FILTER_OBJECT: [u64; 8] = [0; 8];

/// The `PFLT_FILTER` of every native filter.
pub fn filter_handle() -> u64 {
    FILTER_OBJECT.as_ptr() as u64
}

/// The host copy one callback gets (boxed: its address is what the C code holds).
#[derive(Debug)]
pub struct Block {
    words: Box<[u64; SIZE / 8]>,
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

fn unsupported(what: String) -> Fault {
    Fault::Model(ModelError::Unsupported(what))
}

impl Block {
    /// The host copy of `data`, as its callback sees it.
    ///
    /// # Errors
    /// An IRP the model no longer has.
    pub fn new(k: &Kernel<'_>, layout: Layout, data: &CallbackData) -> mdlsim::Result<Block> {
        let mut block = Block {
            words: Box::new([0u64; SIZE / 8]),
        };
        let base = block.words.as_ptr() as u64;
        let mut b = [0u8; SIZE];
        let opaque = |i: usize| base + (OPAQUE + i * OPAQUE_SIZE) as u64;
        put(&mut b, DATA, &data.flags.to_le_bytes());
        if data.thread.is_some() {
            put(&mut b, DATA + 0x08, &opaque(0).to_le_bytes());
        }
        put(&mut b, DATA + 0x10, &(base + IOPB as u64).to_le_bytes());
        put(&mut b, DATA + 0x18, &data.io_status.status.0.to_le_bytes());
        put(
            &mut b,
            DATA + 0x20,
            &data.io_status.information.to_le_bytes(),
        );
        b[DATA + 0x50] = u8::from(data.requestor_mode == AccessMode::UserMode);
        put(&mut b, IOPB, &data.irp_flags.bits().to_le_bytes());
        b[IOPB + 4] = data.major_function;
        b[IOPB + 5] = data.minor_function;
        put(&mut b, IOPB + 0x08, &opaque(1).to_le_bytes()); // TargetFileObject
        put(&mut b, IOPB + 0x10, &opaque(2).to_le_bytes()); // TargetInstance
        encode_parameters(&mut b, k, layout, data)?;
        put(&mut b, OBJECTS, &0x30u16.to_le_bytes()); // Size
        put(&mut b, OBJECTS + 0x08, &filter_handle().to_le_bytes());
        put(&mut b, OBJECTS + 0x10, &opaque(3).to_le_bytes()); // Volume
        put(&mut b, OBJECTS + 0x18, &opaque(2).to_le_bytes()); // Instance
        put(&mut b, OBJECTS + 0x20, &opaque(1).to_le_bytes()); // FileObject
        block.store(&b);
        Ok(block)
    }

    fn store(&mut self, b: &[u8; SIZE]) {
        for (w, c) in self.words.iter_mut().zip(b.chunks_exact(8)) {
            *w = u64_at(c, 0);
        }
    }

    fn load(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        for (w, c) in self.words.iter().zip(b.chunks_exact_mut(8)) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// The `PFLT_CALLBACK_DATA` native code gets.
    pub fn data_ptr(&mut self) -> *mut u64 {
        self.words.as_mut_ptr()
    }

    /// The `PCFLT_RELATED_OBJECTS` native code gets.
    pub fn objects_ptr(&mut self) -> *mut u64 {
        self.words[OBJECTS / 8..].as_mut_ptr()
    }

    /// Takes back what the callback changed: `IoStatus`, and the parameters when the
    /// model's callback data is dirty.
    ///
    /// # Errors
    /// An `MdlAddress` that is not an MDL the model has.
    pub fn take_back(
        &self,
        k: &mut Kernel<'_>,
        layout: Layout,
        data: &mut CallbackData,
    ) -> mdlsim::Result<()> {
        let b = self.load();
        data.io_status = IoStatusBlock {
            status: NtStatus(u32_at(&b, DATA + 0x18)),
            information: u64_at(&b, DATA + 0x20),
        };
        if data.flags & FLTFL_CALLBACK_DATA_DIRTY != 0 {
            data.parameters = decode_parameters(&b, k, layout, data.parameters)?;
        }
        Ok(())
    }

    /// Writes the model's `Flags` into the copy, and with `mdl` the parameters'
    /// `MdlAddress` (a DDI changed them while the callback runs; the other parameters
    /// are the callback's own, not yet taken back).
    fn refresh(&mut self, layout: Layout, data: &CallbackData, mdl: bool) {
        let mut b = self.load();
        put(&mut b, DATA, &data.flags.to_le_bytes());
        if let Some((off, id)) = mdl_field(data.parameters).filter(|_| mdl) {
            put(&mut b, PARAMS + off, &host_mdl(layout, id).to_le_bytes());
        }
        self.store(&b);
    }
}

fn host_va(layout: Layout, va: Option<Va>) -> u64 {
    va.map_or(0, |v| layout.host(v).unwrap_or(v.raw()))
}

fn host_mdl(layout: Layout, mdl: Option<MdlId>) -> u64 {
    mdl.and_then(|id| layout.mdl(mdl_slot(id))).unwrap_or(0)
}

/// Where the parameters keep their `MdlAddress` (from `Parameters`), and its value.
fn mdl_field(p: FltParameters) -> Option<(usize, Option<MdlId>)> {
    match p {
        FltParameters::Read { mdl_address, .. } | FltParameters::Write { mdl_address, .. } => {
            Some((0x20, mdl_address))
        }
        FltParameters::NotifyDirectory { mdl_address, .. } => Some((0x28, mdl_address)),
        FltParameters::DeviceIoControl { .. } | FltParameters::Other => None,
    }
}

/// `Iopb->Parameters` for `data`. An IOCTL's buffers come from its IRP, by the
/// method of its code: `METHOD_BUFFERED`'s `SystemBuffer`; the direct methods'
/// `InputSystemBuffer` (the SystemBuffer), `OutputBuffer` (`UserBuffer`) and
/// `OutputMdlAddress`; `METHOD_NEITHER`'s `InputBuffer` (`Type3InputBuffer`),
/// `OutputBuffer` and `OutputMdlAddress`.
fn encode_parameters(
    b: &mut [u8],
    k: &Kernel<'_>,
    layout: Layout,
    data: &CallbackData,
) -> mdlsim::Result<()> {
    let irp = k.irp(data.irp)?;
    let location = irp.current_stack_location().map(|l| l.parameters);
    let p = PARAMS;
    match data.parameters {
        FltParameters::Read {
            length,
            read_buffer: buffer,
            mdl_address,
        }
        | FltParameters::Write {
            length,
            write_buffer: buffer,
            mdl_address,
        } => {
            put(b, p, &length.to_le_bytes());
            if let Some(
                Parameters::Read { byte_offset, .. } | Parameters::Write { byte_offset, .. },
            ) = location
            {
                put(b, p + 0x10, &byte_offset.to_le_bytes());
            }
            put(b, p + 0x18, &host_va(layout, buffer).to_le_bytes());
            put(b, p + 0x20, &host_mdl(layout, mdl_address).to_le_bytes());
        }
        FltParameters::DeviceIoControl {
            io_control_code,
            input_buffer_length,
            output_buffer_length,
        } => {
            put(b, p, &output_buffer_length.to_le_bytes());
            put(b, p + 0x08, &input_buffer_length.to_le_bytes());
            put(b, p + 0x10, &io_control_code.to_le_bytes());
            let type3 = match location {
                Some(Parameters::DeviceIoControl {
                    type3_input_buffer, ..
                }) => type3_input_buffer,
                _ => None,
            };
            let (input, output, mdl) = match io_control_code & 3 {
                0 => (irp.system_buffer, None, None),
                3 => (type3, irp.user_buffer, irp.mdl_address),
                _ => (irp.system_buffer, irp.user_buffer, irp.mdl_address),
            };
            put(b, p + 0x18, &host_va(layout, input).to_le_bytes());
            put(b, p + 0x20, &host_va(layout, output).to_le_bytes());
            put(b, p + 0x28, &host_mdl(layout, mdl).to_le_bytes());
        }
        FltParameters::NotifyDirectory {
            length,
            completion_filter,
            directory_buffer,
            mdl_address,
        } => {
            put(b, p, &length.to_le_bytes());
            put(b, p + 0x08, &completion_filter.to_le_bytes());
            put(
                b,
                p + 0x20,
                &host_va(layout, directory_buffer).to_le_bytes(),
            );
            put(b, p + 0x28, &host_mdl(layout, mdl_address).to_le_bytes());
        }
        FltParameters::Other => {}
    }
    Ok(())
}

/// The parameters native code left in `b`, of the same kind as `was` (the buffers and
/// MDLs of a read, a write or a notification; an IOCTL's are not taken back).
fn decode_parameters(
    b: &[u8],
    k: &mut Kernel<'_>,
    layout: Layout,
    was: FltParameters,
) -> mdlsim::Result<FltParameters> {
    let p = PARAMS;
    let va = |h: u64| (h != 0).then(|| crate::ddi::model_va(layout, h));
    let mut mdl = |off: usize| {
        let h = u64_at(b, p + off);
        k.interleave(|m| mdl_from_host(layout, m, h))
    };
    Ok(match was {
        FltParameters::Read { .. } => FltParameters::Read {
            length: u32_at(b, p),
            read_buffer: va(u64_at(b, p + 0x18)),
            mdl_address: mdl(0x20)?,
        },
        FltParameters::Write { .. } => FltParameters::Write {
            length: u32_at(b, p),
            write_buffer: va(u64_at(b, p + 0x18)),
            mdl_address: mdl(0x20)?,
        },
        FltParameters::NotifyDirectory { .. } => FltParameters::NotifyDirectory {
            length: u32_at(b, p),
            completion_filter: u32_at(b, p + 0x08),
            directory_buffer: va(u64_at(b, p + 0x20)),
            mdl_address: mdl(0x28)?,
        },
        other => other,
    })
}

/// The callback running on this thread: the model's callback data and its host copy.
struct Current {
    data: CallbackData,
    /// The `PFLT_CALLBACK_DATA` the callback got.
    host: u64,
    /// The copy itself (owned by [`with_current`]'s caller, alive while it runs).
    block: *mut Block,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Runs `f` (the callback) with `data` as the callback data the Flt DDIs work on, then
/// hands the model's callback data back, with what the DDIs did to it.
pub fn with_current<T>(
    data: &mut CallbackData,
    block: &mut Block,
    f: impl FnOnce() -> mdlsim::Result<T>,
) -> mdlsim::Result<T> {
    let host = block.data_ptr() as u64;
    let current = Current {
        data: data.clone(),
        host,
        block: block as *mut Block,
    };
    let before = CURRENT.with(|c| c.replace(Some(current)));
    let r = f();
    if let Some(c) = CURRENT.with(|c| c.replace(before)) {
        *data = c.data;
    }
    r
}

/// Flt DDI `id` on the callback data at host address `words[0]`.
///
/// # Errors
/// A pointer that is not the running callback's data (unsupported), or what the model's
/// DDI does.
pub fn ddi(k: &mut Kernel<'_>, layout: Layout, id: u32, words: &[u64]) -> mdlsim::Result<u64> {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let Some(cur) = c.as_mut().filter(|cur| cur.host == words[0]) else {
            return Err(unsupported(format!(
                "{:#x} is not the FLT_CALLBACK_DATA of the running callback",
                words[0]
            )));
        };
        let r = match id {
            52 => k.flt_set_callback_data_dirty(&mut cur.data).map(|()| 0),
            53 => k.flt_clear_callback_data_dirty(&mut cur.data).map(|()| 0),
            54 => k.flt_is_callback_data_dirty(&cur.data).map(u64::from),
            55 => k
                .flt_get_new_system_buffer_address(&cur.data)
                .map(|va| host_va(layout, va)),
            56 => match k.flt_lock_user_buffer(&mut cur.data) {
                Ok(()) => Ok(0),
                Err(Fault::Status(s)) => Ok(u64::from(s.0)),
                Err(f) => Err(f),
            },
            other => Err(unsupported(format!("DDI number {other}"))),
        }?;
        // SAFETY: `block` is the copy `with_current`'s caller owns and keeps alive until
        // `with_current` returns; the callback that holds its address is suspended in
        // this DDI, so nothing else reads or writes it now.
        unsafe { (*cur.block).refresh(layout, &cur.data, id == 56) };
        Ok(r)
    })
}
