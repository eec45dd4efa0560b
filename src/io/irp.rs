//! The IRP, its flags (exact `iotypes.h` values), stack locations and parameters (the
//! records live with the machine's other records, below the I/O manager, and are
//! re-exported here where its users look for them).

pub use crate::iostate::irp::*;
