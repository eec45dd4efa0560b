//! Flag words in scenario JSON by name: `"alloc_type": "MEM_COMMIT | MEM_RESERVE"`, not
//! `12288`. Written by name (bits no name covers as a trailing hex term), read from
//! either form, so files written before names were used still load.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

/// `bits` as `NAME | NAME | 0x..` over `names` (`"0"` for none).
fn to_names(bits: u64, names: &[(&str, u64)]) -> String {
    let mut parts = Vec::new();
    let mut rest = bits;
    for &(n, v) in names {
        if v != 0 && bits & v == v {
            parts.push(n.to_string());
            rest &= !v;
        }
    }
    if rest != 0 || parts.is_empty() {
        parts.push(format!("{rest:#x}"));
    }
    parts.join(" | ")
}

/// The value of `s`: names and numbers (decimal or `0x` hex) joined by `|`.
fn from_names(s: &str, names: &[(&str, u64)]) -> Result<u64, String> {
    let mut bits = 0u64;
    for term in s.split('|').map(str::trim) {
        let v = if let Some(&(_, v)) = names.iter().find(|(n, _)| *n == term) {
            v
        } else if let Some(h) = term.strip_prefix("0x").or_else(|| term.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).map_err(|e| format!("{term:?}: {e}"))?
        } else {
            term.parse::<u64>()
                .map_err(|_| format!("unknown flag {term:?} (known: {})", known(names)))?
        };
        bits |= v;
    }
    Ok(bits)
}

fn known(names: &[(&str, u64)]) -> String {
    names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

struct FlagsVisitor(&'static [(&'static str, u64)]);

impl Visitor<'_> for FlagsVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a number or flag names joined by '|' ({})",
            known(self.0)
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("negative flags {v}")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
        from_names(s, self.0).map_err(E::custom)
    }
}

/// Defines a `#[serde(with = ..)]` module for a flag word of type `$ty` named by `$names`.
macro_rules! flag_names {
    ($(#[$doc:meta])* $module:ident, $ty:ty, [$($name:literal => $value:expr),* $(,)?]) => {
        $(#[$doc])*
        pub mod $module {
            use super::*;

            /// The names, in the order they are written.
            pub const NAMES: &[(&str, u64)] = &[$(($name, $value as u64)),*];

            /// Writes the flags by name.
            ///
            /// # Errors
            /// The serializer's.
            pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&to_names(*v as u64, NAMES))
            }

            /// Reads a number or names.
            ///
            /// # Errors
            /// An unknown name, or a value that does not fit.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let v = d.deserialize_any(FlagsVisitor(NAMES))?;
                <$ty>::try_from(v).map_err(|_| de::Error::custom(format!("flags {v:#x} do not fit")))
            }
        }
    };
}

flag_names!(
    /// `ZwAllocateVirtualMemory` / `ZwFreeVirtualMemory` types.
    mem,
    u32,
    [
        "MEM_COMMIT" => crate::vm::MEM_COMMIT,
        "MEM_RESERVE" => crate::vm::MEM_RESERVE,
        "MEM_DECOMMIT" => crate::vm::MEM_DECOMMIT,
        "MEM_RELEASE" => crate::vm::MEM_RELEASE,
    ]
);

flag_names!(
    /// `ExAllocatePool2` flags.
    pool,
    u64,
    [
        "POOL_FLAG_UNINITIALIZED" => crate::pool::POOL_FLAG_UNINITIALIZED,
        "POOL_FLAG_NON_PAGED" => crate::pool::POOL_FLAG_NON_PAGED,
    ]
);

flag_names!(
    /// `DEVICE_OBJECT.Flags` buffering bits.
    device,
    u32,
    [
        "DO_BUFFERED_IO" => crate::io::DO_BUFFERED_IO,
        "DO_DIRECT_IO" => crate::io::DO_DIRECT_IO,
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_by_name_and_old_numbers_still_load() {
        let n = mem::NAMES;
        assert_eq!(to_names(0x3000, n), "MEM_COMMIT | MEM_RESERVE");
        assert_eq!(to_names(0x1001, n), "MEM_COMMIT | 0x1");
        assert_eq!(to_names(0, n), "0x0");
        for bits in [0u64, 0x1000, 0x3000, 0x8000, 0x1001, 0xFFFF_FFFF] {
            assert_eq!(from_names(&to_names(bits, n), n), Ok(bits));
        }
        assert_eq!(from_names("12288", n), Ok(0x3000));
        assert!(
            from_names("MEM_TYPO", n)
                .unwrap_err()
                .contains("MEM_COMMIT")
        );
    }
}
