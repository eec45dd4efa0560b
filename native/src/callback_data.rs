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

/// The words of one host copy.
type Words = [u64; SIZE / 8];

/// Where a host copy lives: one heap allocation, made by [`Block::new`] and freed when
/// the [`Block`] drops. Every pointer native code gets and every load and store the
/// host makes derive from this one raw pointer (no reference to the words is ever
/// made, so the C code's pointers stay valid across the host's stores).
#[derive(Clone, Copy, Debug)]
struct Raw(std::ptr::NonNull<Words>);

impl Raw {
    fn load(self) -> [u8; SIZE] {
        // SAFETY: `self.0` is the live allocation of the `Block` it came from (a `Raw`
        // is used only while its `Block` lives: `with_current` borrows the block for as
        // long as `Current` holds the copy), aligned and initialised; native code does not
        // run concurrently with the host on this copy (a callback is suspended while the
        // host works).
        let words = unsafe { std::ptr::read(self.0.as_ptr()) };
        let mut b = [0u8; SIZE];
        for (w, c) in words.iter().zip(b.chunks_exact_mut(8)) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    fn store(self, b: &[u8; SIZE]) {
        let mut words = [0u64; SIZE / 8];
        for (w, c) in words.iter_mut().zip(b.chunks_exact(8)) {
            *w = u64_at(c, 0);
        }
        // SAFETY: as in `load`.
        unsafe { std::ptr::write(self.0.as_ptr(), words) };
    }

    fn base(self) -> *mut u64 {
        self.0.as_ptr().cast()
    }
}

/// The host copy of an operation's callback data: made for its pre callback and, when
/// that asks for a post callback, kept for it, so both get the same `PFLT_CALLBACK_DATA`
/// and related objects, as on Windows.
#[derive(Debug)]
pub struct Block {
    raw: Raw,
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `Box::leak` in `Block::new` and is freed only here.
        drop(unsafe { Box::from_raw(self.raw.0.as_ptr()) });
    }
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
    /// A host copy of `data`, as its callback sees it.
    ///
    /// # Errors
    /// An IRP the model no longer has.
    pub fn new(k: &Kernel<'_>, layout: Layout, data: &CallbackData) -> mdlsim::Result<Block> {
        let raw = Raw(std::ptr::NonNull::from(Box::leak(Box::new(
            [0u64; SIZE / 8],
        ))));
        let mut block = Block { raw };
        block.fill(k, layout, data)?;
        Ok(block)
    }

    /// Writes `data` into the copy (for the post callback: the same copy, with the
    /// operation's state now; `FilterContext` keeps what the filter left there).
    ///
    /// # Errors
    /// An IRP the model no longer has.
    pub fn fill(
        &mut self,
        k: &Kernel<'_>,
        layout: Layout,
        data: &CallbackData,
    ) -> mdlsim::Result<()> {
        let base = self.raw.base() as u64;
        let mut b = self.raw.load();
        b[..DATA + 0x30].fill(0);
        b[DATA + 0x50..].fill(0);
        let opaque = |i: usize| base + (OPAQUE + i * OPAQUE_SIZE) as u64;
        put(&mut b, DATA, &data.flags.to_le_bytes());
        if data.thread.is_some() {
            put(&mut b, DATA + 0x08, &opaque(0).to_le_bytes());
        }
        put(&mut b, DATA + 0x10, &(base + IOPB as u64).to_le_bytes());
        put(&mut b, DATA + 0x18, &data.io_status.status.0.to_le_bytes());
        let information = data.io_status.information.to_le_bytes();
        put(&mut b, DATA + 0x20, &information);
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
        self.raw.store(&b);
        Ok(())
    }

    /// The `PFLT_CALLBACK_DATA` native code gets.
    pub fn data_ptr(&self) -> *mut u64 {
        self.raw.base()
    }

    /// The `PCFLT_RELATED_OBJECTS` native code gets.
    pub fn objects_ptr(&self) -> *mut u64 {
        self.raw.base().wrapping_add(OBJECTS / 8)
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
        let b = self.raw.load();
        data.io_status = IoStatusBlock {
            status: NtStatus(u32_at(&b, DATA + 0x18)),
            information: u64_at(&b, DATA + 0x20),
        };
        if data.flags & FLTFL_CALLBACK_DATA_DIRTY != 0 {
            data.parameters = decode_parameters(&b, k, layout, data.parameters)?;
        }
        Ok(())
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
    /// The copy the callback got (its `Block` outlives this: see [`with_current`]).
    raw: Raw,
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
    let current = Current {
        data: data.clone(),
        raw: block.raw,
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
    // Taken out for the DDI (and put back whatever it does), so nothing the DDI runs
    // finds this thread's callback borrowed.
    let Some(mut cur) = CURRENT.with(|c| c.borrow_mut().take()) else {
        return Err(not_current(words[0]));
    };
    let r = if cur.raw.base() as u64 == words[0] {
        on_current(k, layout, id, &mut cur)
    } else {
        Err(not_current(words[0]))
    };
    CURRENT.with(|c| *c.borrow_mut() = Some(cur));
    r
}

fn not_current(h: u64) -> Fault {
    unsupported(format!(
        "{h:#x} is not the FLT_CALLBACK_DATA of the running callback"
    ))
}

fn on_current(
    k: &mut Kernel<'_>,
    layout: Layout,
    id: u32,
    cur: &mut Current,
) -> mdlsim::Result<u64> {
    let r = match id {
        52 => k.flt_set_callback_data_dirty(&mut cur.data).map(|()| 0),
        53 => k.flt_clear_callback_data_dirty(&mut cur.data).map(|()| 0),
        54 => k.flt_is_callback_data_dirty(&cur.data).map(u64::from),
        55 => k
            .flt_get_new_system_buffer_address(&cur.data)
            .map(|va| host_va(layout, va)),
        56 => return lock_user_buffer(k, layout, cur),
        other => Err(unsupported(format!("DDI number {other}"))),
    }?;
    let mut b = cur.raw.load();
    put(&mut b, DATA, &cur.data.flags.to_le_bytes());
    cur.raw.store(&b);
    Ok(r)
}

/// `FltLockUserBuffer` on the parameters as the callback has them now (taken from its
/// copy first); a new `MdlAddress` is written into the copy, nothing else of it.
fn lock_user_buffer(k: &mut Kernel<'_>, layout: Layout, cur: &mut Current) -> mdlsim::Result<u64> {
    let mut b = cur.raw.load();
    cur.data.parameters = decode_parameters(&b, k, layout, cur.data.parameters)?;
    let before = mdl_field(cur.data.parameters);
    let r = match k.flt_lock_user_buffer(&mut cur.data) {
        Ok(()) => 0,
        Err(Fault::Status(s)) => u64::from(s.0),
        Err(f) => return Err(f),
    };
    put(&mut b, DATA, &cur.data.flags.to_le_bytes());
    if let Some((off, mdl)) = mdl_field(cur.data.parameters).filter(|m| Some(*m) != before) {
        put(&mut b, PARAMS + off, &host_mdl(layout, mdl).to_le_bytes());
    }
    cur.raw.store(&b);
    Ok(r)
}
