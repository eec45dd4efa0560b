//! The guide's chapter 6 (docs/guide/06-your-driver.md): its driver passes, and the same
//! driver without its probe is caught with the counter-example the chapter shows.

use mdlsim::io::ioctl::{FILE_ANY_ACCESS, METHOD_NEITHER, ctl_code};
use mdlsim::io::{DeviceId, Driver, IoStatusBlock, IrpId, Parameters};
use mdlsim::oracle::BugClass;
use mdlsim::verify::Config;
use mdlsim::verify_driver::{self, DriverUnderTest};
use mdlsim::{Kernel, NtStatus, Result};

pub const IOCTL_SUM: u32 = ctl_code(0x8000, 0x900, METHOD_NEITHER, FILE_ANY_ACCESS);

/// Sums the caller's bytes (METHOD_NEITHER: Type3InputBuffer is the caller's pointer);
/// `probe: false` is the bug.
#[derive(Debug)]
pub struct Summer {
    probe: bool,
}

impl Driver for Summer {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let loc = k.io_get_current_irp_stack_location(irp)?;
        let Parameters::DeviceIoControl {
            type3_input_buffer: Some(src),
            input_buffer_length: len,
            ..
        } = loc.parameters
        else {
            return complete(k, irp, NtStatus::INVALID_PARAMETER);
        };
        let probe = self.probe;
        let sum = k.try_except(|k| {
            if probe {
                k.probe_for_read(src, len as u64, 1)?;
            }
            Ok(k.kernel_read(src, len.min(4096) as u64)?
                .iter()
                .map(|&b| b as u64)
                .sum::<u64>())
        })?;
        match sum {
            Ok(_) => complete(k, irp, NtStatus::SUCCESS),
            Err(code) => complete(k, irp, code),
        }
    }
}

fn complete(k: &mut Kernel<'_>, irp: IrpId, status: NtStatus) -> Result<NtStatus> {
    k.irp_mut(irp)?.io_status = IoStatusBlock {
        status,
        information: 0,
    };
    k.io_complete_request(irp)?;
    Ok(status)
}

fn config() -> Config {
    Config::default().cases(2000).seed(11).ignore_env()
}

#[test]
fn summer_is_safe_with_any_caller() {
    let dut = DriverUnderTest::new("summer", Summer { probe: true })
        .neither_io()
        .ioctl(IOCTL_SUM, 64, 0);
    if let Err(cx) = verify_driver::verify(&dut, &config()) {
        panic!("{cx}");
    }
}

#[test]
fn summer_without_its_probe_is_caught_as_the_guide_shows() {
    let dut = DriverUnderTest::new("summer", Summer { probe: false })
        .neither_io()
        .ioctl(IOCTL_SUM, 64, 0);
    let cx = verify_driver::verify(&dut, &config()).unwrap_err();
    println!("{cx}");
    assert!(cx.has(BugClass::UnprobedUserAccess), "{cx}");
    let text = cx.to_string();
    assert!(text.contains("without ProbeForRead"), "{text}");
    assert!(
        text.contains("DDI calls:") && text.contains("replay:"),
        "{text}"
    );
}
