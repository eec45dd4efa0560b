//! A C minifilter as an [`mdlsim::io::fltmgr::MiniFilter`]: `DriverEntry` registers it
//! (`FltRegisterFilter` with its `FLT_REGISTRATION`, then `FltStartFiltering`), and each
//! operation the filter manager sends runs the pre- and post-operation callbacks its
//! operation table names, on a host copy of the callback data (`crate::callback_data`),
//! so [`mdlsim::verify_driver`] judges the C filter as it judges a Rust one.

use crate::callback_data::{Block, filter_handle, with_current};
use crate::driver::{BuildError, Driver};
use crate::run::{Thunk, layout, run};
use mdlsim::io::fltmgr::{CallbackData, MiniFilter, PostOpStatus, PreOpStatus};
use mdlsim::io::{IrpFlags, IrpId};
use mdlsim::status::NtStatus;
use mdlsim::{Config, Fault, Kernel, Machine, ModelError};
use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::Arc;

/// `sizeof(FLT_REGISTRATION)` (the Windows 8 layout, version 0x0203).
const REGISTRATION_SIZE: u64 = 0x70;
/// `FLTFL_OPERATION_REGISTRATION_SKIP_PAGING_IO`.
const SKIP_PAGING_IO: u32 = 0x1;
/// `FLTFL_OPERATION_REGISTRATION_SKIP_CACHED_IO` (reads and writes only).
const SKIP_CACHED_IO: u32 = 0x2;

/// One entry of the filter's `FLT_OPERATION_REGISTRATION` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Operation {
    major: u8,
    flags: u32,
    pre: u64,
    post: u64,
}

/// What `DriverEntry` registered.
#[derive(Debug, Default)]
struct Registration {
    registered: bool,
    started: bool,
    operations: Vec<Operation>,
}

thread_local! {
    /// The registration `NativeFilter::new`'s `DriverEntry` is making on this thread.
    static REGISTERING: RefCell<Option<Registration>> = const { RefCell::new(None) };
    /// Host copies of callback data kept from a pre callback for the post callback of the
    /// same operation, by filter and IRP (a case's operations run on one thread).
    static KEPT: RefCell<Vec<((usize, IrpId), Block)>> = const { RefCell::new(Vec::new()) };
}

/// The most copies kept at once on a thread: more means operations whose post callback
/// never came (their IRP never completed), and the oldest is dropped.
const MAX_KEPT: usize = 64;

fn keep(key: (usize, IrpId), block: Block) {
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        k.retain(|(kk, _)| *kk != key);
        if k.len() >= MAX_KEPT {
            k.remove(0);
        }
        k.push((key, block));
    });
}

fn take_kept(key: (usize, IrpId)) -> Option<Block> {
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        let i = k.iter().position(|(kk, _)| *kk == key)?;
        Some(k.remove(i).1)
    })
}

fn unsupported(what: String) -> Fault {
    Fault::Model(ModelError::Unsupported(what))
}

/// `MDLSIM_PRE_ARGS` (`runtime/host_abi.h`).
#[repr(C)]
struct PreArgs {
    function: u64,
    data: *mut u64,
    objects: *mut u64,
    context: u64,
    result: i32,
}

/// `MDLSIM_POST_ARGS`.
#[repr(C)]
struct PostArgs {
    function: u64,
    data: *mut u64,
    objects: *mut u64,
    context: u64,
    flags: u32,
    result: i32,
}

/// A C minifilter, for [`mdlsim::verify_driver::DriverUnderTest::minifilter`].
///
/// `DriverEntry` runs once, on a machine of its own, and must register the filter
/// (`FltRegisterFilter`) and start it (`FltStartFiltering`); its operation table is
/// what the filter manager calls. The filter sees the model's operations as
/// IRP-based ones (`FLTFL_CALLBACK_DATA_IRP_OPERATION`); `SKIP_PAGING_IO` and
/// `SKIP_CACHED_IO` in an entry's flags are honoured. A pre-operation callback may
/// return `FLT_PREOP_SUCCESS_WITH_CALLBACK`, `FLT_PREOP_SUCCESS_NO_CALLBACK` or
/// `FLT_PREOP_COMPLETE`, a post-operation callback `FLT_POSTOP_FINISHED_PROCESSING`;
/// pending, synchronising and more-processing statuses are model errors (the filter
/// manager's pended-operation routines are not modelled). An operation's pre and post
/// callbacks get the same host copy of its callback data (`crate::callback_data`). The
/// driver's C globals are shared by every case and thread: keep an operation's state in
/// its completion context.
#[derive(Debug, Clone)]
pub struct NativeFilter {
    driver: Arc<Driver>,
    operations: Arc<[Operation]>,
}

impl NativeFilter {
    /// Runs the driver's `DriverEntry` and keeps the operation table it registered.
    ///
    /// # Errors
    /// [`BuildError::Load`] when the driver has no `DriverEntry`, it failed, or it did
    /// not register and start a filter.
    pub fn new(driver: Driver) -> Result<NativeFilter, BuildError> {
        let name = driver.name().to_string();
        let fail = |what: String| BuildError::Load(format!("{name}: {what}"));
        if !driver.has_entry {
            return Err(fail("a minifilter defines DriverEntry".into()));
        }
        let mut m = Machine::new(Config::default())
            .map_err(|e| fail(format!("a machine for DriverEntry: {e}")))?;
        REGISTERING.with(|r| *r.borrow_mut() = Some(Registration::default()));
        let status = crate::dispatch::scratch_entry(&driver, &mut m);
        let registration = REGISTERING
            .with(|r| r.borrow_mut().take())
            .unwrap_or_default();
        let (status, _object) = status.map_err(|f| fail(format!("DriverEntry: {f}")))?;
        if !status.is_success() {
            return Err(fail(format!("DriverEntry returned {status}")));
        }
        if !registration.registered {
            return Err(fail("DriverEntry did not call FltRegisterFilter".into()));
        }
        if !registration.started {
            return Err(fail("DriverEntry did not call FltStartFiltering".into()));
        }
        Ok(NativeFilter {
            driver: Arc::new(driver),
            operations: registration.operations.into(),
        })
    }

    /// This filter's identity among the kept copies.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.operations).cast::<u8>() as usize
    }

    /// The entry for `data`'s operation, unless its flags skip it.
    fn operation(&self, data: &CallbackData) -> Option<Operation> {
        let op = *self
            .operations
            .iter()
            .find(|o| o.major == data.major_function)?;
        let paging = data.irp_flags.contains(IrpFlags::PAGING_IO);
        let cached =
            !data.irp_flags.contains(IrpFlags::NOCACHE) && matches!(data.major_function, 3 | 4); // IRP_MJ_READ, IRP_MJ_WRITE
        let skipped = (op.flags & SKIP_PAGING_IO != 0 && paging)
            || (op.flags & SKIP_CACHED_IO != 0 && cached);
        (!skipped).then_some(op)
    }

    /// Runs `thunk(args)` as a callback on `block`, the host copy of `data`.
    fn callback(
        &self,
        k: &mut Kernel<'_>,
        data: &mut CallbackData,
        block: &mut Block,
        thunk: Thunk,
        args: *mut c_void,
    ) -> mdlsim::Result<()> {
        let trace = self.driver.trace;
        with_current(data, block, || run(k, thunk, args, trace))?;
        block.take_back(k, layout()?, data)
    }
}

impl MiniFilter for NativeFilter {
    fn pre_operation(
        &self,
        k: &mut Kernel<'_>,
        data: &mut CallbackData,
    ) -> mdlsim::Result<PreOpStatus> {
        let Some(op) = self.operation(data) else {
            return Ok(PreOpStatus::SuccessNoCallback);
        };
        let with_post = if op.post != 0 {
            PreOpStatus::SuccessWithCallback
        } else {
            PreOpStatus::SuccessNoCallback
        };
        if op.pre == 0 {
            return Ok(with_post);
        }
        let mut block = Block::new(k, layout()?, data)?;
        let key = (self.key(), data.irp);
        let mut args = PreArgs {
            function: op.pre,
            data: block.data_ptr(),
            objects: block.objects_ptr(),
            context: 0,
            result: 0,
        };
        let thunk = self.driver.pre;
        self.callback(
            k,
            data,
            &mut block,
            thunk,
            (&mut args as *mut PreArgs).cast(),
        )?;
        data.completion_context = args.context;
        match args.result {
            0 if op.post != 0 => {
                keep(key, block);
                Ok(PreOpStatus::SuccessWithCallback)
            }
            0 => Ok(PreOpStatus::SuccessNoCallback),
            1 => Ok(PreOpStatus::SuccessNoCallback),
            4 => Ok(PreOpStatus::Complete),
            other => Err(unsupported(format!(
                "{}: the pre-operation callback returned {} (modelled: \
                 SUCCESS_WITH_CALLBACK, SUCCESS_NO_CALLBACK, COMPLETE)",
                self.driver.name(),
                pre_status_name(other)
            ))),
        }
    }

    fn post_operation(
        &self,
        k: &mut Kernel<'_>,
        data: &mut CallbackData,
    ) -> mdlsim::Result<PostOpStatus> {
        let Some(op) = self.operation(data).filter(|o| o.post != 0) else {
            return Ok(PostOpStatus::FinishedProcessing);
        };
        let mut block = match take_kept((self.key(), data.irp)) {
            Some(mut b) => {
                b.fill(k, layout()?, data)?;
                b
            }
            None => Block::new(k, layout()?, data)?,
        };
        let mut args = PostArgs {
            function: op.post,
            data: block.data_ptr(),
            objects: block.objects_ptr(),
            context: data.completion_context,
            flags: 0,
            result: 0,
        };
        let thunk = self.driver.post;
        self.callback(
            k,
            data,
            &mut block,
            thunk,
            (&mut args as *mut PostArgs).cast(),
        )?;
        match args.result {
            0 => Ok(PostOpStatus::FinishedProcessing),
            other => Err(unsupported(format!(
                "{}: the post-operation callback returned {} (modelled: \
                 FLT_POSTOP_FINISHED_PROCESSING)",
                self.driver.name(),
                post_status_name(other)
            ))),
        }
    }
}

/// A `FLT_PREOP_CALLBACK_STATUS` by name.
fn pre_status_name(status: i32) -> String {
    match status {
        2 => "FLT_PREOP_PENDING".into(),
        3 => "FLT_PREOP_DISALLOW_FASTIO".into(),
        5 => "FLT_PREOP_SYNCHRONIZE".into(),
        6 => "FLT_PREOP_DISALLOW_FSFILTER_IO".into(),
        other => format!("status {other}"),
    }
}

/// A `FLT_POSTOP_CALLBACK_STATUS` by name.
fn post_status_name(status: i32) -> String {
    match status {
        1 => "FLT_POSTOP_MORE_PROCESSING_REQUIRED".into(),
        2 => "FLT_POSTOP_DISALLOW_FSFILTER_IO".into(),
        other => format!("status {other}"),
    }
}

/// The registration DDIs: `FltRegisterFilter` (the handle, or 0 for a registration
/// Windows refuses with `STATUS_INVALID_PARAMETER`), one table entry, and
/// `FltStartFiltering`.
///
/// # Errors
/// Outside `NativeFilter::new`'s `DriverEntry`, or a second filter (unsupported).
pub fn registration_ddi(id: u32, words: &[u64]) -> mdlsim::Result<u64> {
    REGISTERING.with(|r| {
        let mut r = r.borrow_mut();
        let Some(reg) = r.as_mut() else {
            return Err(unsupported(
                "Flt registration outside a minifilter's DriverEntry (load it with NativeFilter)"
                    .into(),
            ));
        };
        match id {
            49 => {
                if reg.registered {
                    return Err(unsupported("a second FltRegisterFilter".into()));
                }
                let (size, version) = (words[1], words[2]);
                if size != REGISTRATION_SIZE || version >> 8 != 2 {
                    return Ok(0);
                }
                reg.registered = true;
                Ok(filter_handle())
            }
            50 => {
                reg.operations.push(Operation {
                    major: words[0] as u8,
                    flags: words[1] as u32,
                    pre: words[2],
                    post: words[3],
                });
                Ok(0)
            }
            _ => {
                if words[0] != filter_handle() || !reg.registered {
                    return Ok(u64::from(NtStatus::INVALID_PARAMETER.0));
                }
                reg.started = true;
                Ok(0)
            }
        }
    })
}
