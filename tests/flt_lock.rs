//! `FltLockUserBuffer` under the driver harness: locked in a read's pre callback, the
//! MDL goes in the IRP and the file system reads through it; locked in a swapped read's
//! post callback (the IRP holds the swap MDL), the filter manager unlocks and frees it
//! when it is done with the callback data; locked in a notification's post callback,
//! which runs at `DISPATCH_LEVEL` from the file system's timer, the probe's touch of the
//! pageable user buffer is an IRQL violation (the negative control).

use mdlsim::Kernel;
use mdlsim::addr::Va;
use mdlsim::fault::{Fault, Result};
use mdlsim::io::fltmgr::{CallbackData, FltParameters, MiniFilter, PostOpStatus, PreOpStatus};
use mdlsim::mdl::priority;
use mdlsim::oracle::BugClass;
use mdlsim::pool::{PoolType, tag};
use mdlsim::verify::Config;
use mdlsim::verify_driver::{self, DriverUnderTest};
use std::sync::atomic::{AtomicUsize, Ordering};

const TAG: u32 = tag(b"Lock");

fn config() -> Config {
    Config::default().cases(300).seed(3).ignore_env()
}

/// The `MdlAddress` of a read's or notification's parameters.
fn mdl_of(data: &CallbackData) -> Option<mdlsim::MdlId> {
    match data.parameters {
        FltParameters::Read { mdl_address, .. }
        | FltParameters::NotifyDirectory { mdl_address, .. } => mdl_address,
        _ => None,
    }
}

/// Locks every read's buffer in its pre callback; counts the post callbacks that see
/// the MDL.
#[derive(Debug, Default)]
struct LockReadInPre {
    posts_with_mdl: AtomicUsize,
}

impl MiniFilter for LockReadInPre {
    fn pre_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PreOpStatus> {
        if matches!(data.parameters, FltParameters::Read { .. }) {
            match k.flt_lock_user_buffer(data) {
                // The status FltLockUserBuffer returns: the read goes on unlocked.
                Err(Fault::Status(_)) => return Ok(PreOpStatus::SuccessNoCallback),
                r => r?,
            }
        }
        Ok(PreOpStatus::SuccessWithCallback)
    }

    fn post_operation(&self, _k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PostOpStatus> {
        if matches!(data.parameters, FltParameters::Read { .. }) && mdl_of(data).is_some() {
            self.posts_with_mdl.fetch_add(1, Ordering::Relaxed);
        }
        Ok(PostOpStatus::FinishedProcessing)
    }
}

#[test]
fn a_read_locked_in_pre_goes_down_with_its_mdl_which_the_post_callback_sees() {
    let filter = std::sync::Arc::new(LockReadInPre::default());
    let dut = DriverUnderTest {
        filter: Some(filter.clone()),
        ..DriverUnderTest::minifilter("lock-read-in-pre", LockReadInPre::default()).read()
    };
    if let Err(cx) = verify_driver::verify(&dut, &config()) {
        panic!("{cx}");
    }
    assert!(filter.posts_with_mdl.load(Ordering::Relaxed) > 0);
}

/// Swaps every read to a pool buffer; the post callback locks the caller's buffer with
/// `FltLockUserBuffer` and copies what was read through that MDL (SwapBuffers' "when
/// safe" path).
#[derive(Debug, Default)]
struct LockReadInPost;

impl MiniFilter for LockReadInPost {
    fn pre_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PreOpStatus> {
        let FltParameters::Read { length, .. } = data.parameters else {
            return Ok(PreOpStatus::SuccessNoCallback);
        };
        if length == 0 {
            return Ok(PreOpStatus::SuccessNoCallback);
        }
        let Some(buf) = k.ex_allocate_pool_with_tag(PoolType::NonPaged, length.into(), TAG)? else {
            return Ok(PreOpStatus::SuccessNoCallback);
        };
        let Some(mdl) = k.io_allocate_mdl(buf, length, false, false, None)? else {
            k.ex_free_pool_with_tag(buf, TAG)?;
            return Ok(PreOpStatus::SuccessNoCallback);
        };
        k.mm_build_mdl_for_non_paged_pool(mdl)?;
        data.parameters = FltParameters::Read {
            length,
            read_buffer: Some(buf),
            mdl_address: Some(mdl),
        };
        k.flt_set_callback_data_dirty(data)?;
        data.completion_context = buf.raw();
        Ok(PreOpStatus::SuccessWithCallback)
    }

    fn post_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PostOpStatus> {
        let buf = Va::new(data.completion_context);
        let n = data.io_status.information;
        if data.io_status.status.is_success() && n > 0 && k.flt_lock_user_buffer(data).is_ok() {
            if let Some(mdl) = mdl_of(data) {
                if let Some(to) = k.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL)? {
                    k.kernel_copy(to, buf, n)?;
                }
            }
        }
        k.ex_free_pool_with_tag(buf, TAG)?;
        Ok(PostOpStatus::FinishedProcessing)
    }
}

#[test]
fn a_buffer_locked_in_the_post_callback_of_a_swapped_read_is_freed_by_the_filter_manager() {
    let dut = DriverUnderTest::minifilter("lock-read-in-post", LockReadInPost).read();
    if let Err(cx) = verify_driver::verify(&dut, &config()) {
        panic!("{cx}");
    }
}

/// Locks a notification's buffer in its post callback, at the timer's `DISPATCH_LEVEL`.
#[derive(Debug, Default)]
struct LockNotifyInPost;

impl MiniFilter for LockNotifyInPost {
    fn post_operation(&self, k: &mut Kernel<'_>, data: &mut CallbackData) -> Result<PostOpStatus> {
        if data.io_status.status.is_success() && data.io_status.information > 0 {
            let _ = k.flt_lock_user_buffer(data);
        }
        Ok(PostOpStatus::FinishedProcessing)
    }
}

#[test]
fn a_notification_buffer_locked_in_a_post_callback_at_dispatch_level_is_caught() {
    let dut = DriverUnderTest::minifilter("lock-notify-in-post", LockNotifyInPost).notify(64);
    let cx = verify_driver::verify(&dut, &config()).expect_err("caught");
    assert!(cx.has(BugClass::IrqlViolation), "{cx}");
}
