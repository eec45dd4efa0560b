//! `CTL_CODE` and the transfer methods ([semantics §5.1]).
//!
//! `CTL_CODE(type, function, method, access) = (type << 16) | (access << 14) |
//! (function << 2) | method`; the method is the low two bits, the required access
//! bits 14–15.
//!
//! [semantics §5.1]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.1

/// `METHOD_BUFFERED` (0).
pub const METHOD_BUFFERED: u32 = 0;
/// `METHOD_IN_DIRECT` (1).
pub const METHOD_IN_DIRECT: u32 = 1;
/// `METHOD_OUT_DIRECT` (2).
pub const METHOD_OUT_DIRECT: u32 = 2;
/// `METHOD_NEITHER` (3).
pub const METHOD_NEITHER: u32 = 3;
/// `FILE_ANY_ACCESS` (0).
pub const FILE_ANY_ACCESS: u32 = 0;
/// `FILE_READ_ACCESS` (1).
pub const FILE_READ_ACCESS: u32 = 1;
/// `FILE_WRITE_ACCESS` (2).
pub const FILE_WRITE_ACCESS: u32 = 2;
/// `FILE_DEVICE_UNKNOWN` (0x22).
pub const FILE_DEVICE_UNKNOWN: u32 = 0x22;

/// [`CTL_CODE`]: builds an I/O control code with the real bit layout.
///
/// ```
/// use mdlsim::io::ioctl::*;
/// let code = ctl_code(FILE_DEVICE_UNKNOWN, 0x800, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
/// assert_eq!(code, 0x0022_2002);
/// assert_eq!(method_from_ctl_code(code), METHOD_OUT_DIRECT);
/// assert_eq!(device_type_from_ctl_code(code), FILE_DEVICE_UNKNOWN);
/// ```
///
/// [`CTL_CODE`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/defining-i-o-control-codes
#[doc(alias = "CTL_CODE")]
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    (device_type << 16) | ((access & 3) << 14) | ((function & 0xFFF) << 2) | (method & 3)
}

/// [`METHOD_FROM_CTL_CODE`]: the transfer method (low two bits).
///
/// [`METHOD_FROM_CTL_CODE`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/defining-i-o-control-codes
#[doc(alias = "METHOD_FROM_CTL_CODE")]
pub const fn method_from_ctl_code(code: u32) -> u32 {
    code & 3
}

/// [`DEVICE_TYPE_FROM_CTL_CODE`]: bits 16–31.
///
/// [`DEVICE_TYPE_FROM_CTL_CODE`]: https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/defining-i-o-control-codes
#[doc(alias = "DEVICE_TYPE_FROM_CTL_CODE")]
pub const fn device_type_from_ctl_code(code: u32) -> u32 {
    code >> 16
}

/// The required access (bits 14–15).
pub const fn access_from_ctl_code(code: u32) -> u32 {
    (code >> 14) & 3
}

/// The function number (bits 2–13).
pub const fn function_from_ctl_code(code: u32) -> u32 {
    (code >> 2) & 0xFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_code_layout_round_trips_every_field() {
        let c = ctl_code(
            0x9,
            0x123,
            METHOD_NEITHER,
            FILE_READ_ACCESS | FILE_WRITE_ACCESS,
        );
        assert_eq!(c, (0x9 << 16) | (3 << 14) | (0x123 << 2) | 3);
        assert_eq!(function_from_ctl_code(c), 0x123);
        assert_eq!(access_from_ctl_code(c), 3);
        assert_eq!(method_from_ctl_code(c), METHOD_NEITHER);
    }

    #[test]
    fn well_known_ioctl_values_match_windows() {
        // FSCTL_GET_RETRIEVAL_POINTERS = CTL_CODE(FILE_DEVICE_FILE_SYSTEM 9, 28, METHOD_NEITHER, FILE_ANY_ACCESS)
        assert_eq!(
            ctl_code(9, 28, METHOD_NEITHER, FILE_ANY_ACCESS),
            0x0009_0073
        );
    }
}
