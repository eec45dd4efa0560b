//! # mdlsim — the Windows kernel's buffer machinery, as a Rust library you can test against
//!
//! `mdlsim` models physical pages and the PFN database, process and system
//! address spaces, non-paged pool, system PTEs, MDLs and their PFN arrays,
//! probe/lock/unlock, and mapping into system or user space, faithfully
//! enough that a driver author can prove a buffer algorithm safe with
//! `cargo test` before it ever runs in a kernel.
//!
//! Every routine is named after its DDI (`MmProbeAndLockPages` is
//! [`Machine::mm_probe_and_lock_pages`]; search the docs for the real name),
//! follows the rules collected in the project's `semantics.md` (cited by
//! section in each rustdoc), and turns every misuse into a value: a bug check
//! with its real code and parameters, a raised NTSTATUS, or a returned status
//! ([`Fault`]). Nothing panics on input. After a bug check the machine is
//! crashed and says so on every later call.
//!
//! Every byte carries its **provenance** (shadow memory, [`shadow`]): where
//! its value was first written. That is what lets a test say, exactly, that
//! a byte of the client's page outside the I/O range reached another process.
//!
//! ## Quick start
//!
//! Lock a user buffer, map it into system space, watch the aliasing, clean up:
//!
//! ```
//! use mdlsim::{Config, Machine, addr::Va};
//! use mdlsim::mdl::{AccessMode, LockOperation, priority};
//! use mdlsim::space::Protection;
//! use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
//!
//! let mut m = Machine::new(Config::default()).unwrap();
//! let app = m.create_process("app").unwrap();
//! let buf = m.virtual_alloc(app, None, 0x3000, MEM_COMMIT | MEM_RESERVE, Protection::ReadWrite).unwrap();
//! let data = Va::new(buf.raw() + 0x200); // an unaligned buffer
//! m.user_write(app, data, b"hello").unwrap();
//!
//! // The driver, in the app's context (a system service):
//! m.switch_to(Some(app)).unwrap();
//! let mdl = m.io_allocate_mdl(data, 5, false, false, None).unwrap().unwrap();
//! m.mm_probe_and_lock_pages(mdl, AccessMode::UserMode, LockOperation::IoReadAccess).unwrap();
//! let sys = m.mm_get_system_address_for_mdl_safe(mdl, priority::NORMAL).unwrap().unwrap();
//! assert_eq!(sys.byte_offset(), 0x200);              // the in-page offset is preserved
//! assert_eq!(m.kernel_read(sys, 5).unwrap(), b"hello"); // both addresses alias one frame
//!
//! m.mm_unlock_pages(mdl).unwrap(); // also removes the system mapping
//! m.io_free_mdl(mdl).unwrap();
//! assert!(m.audit().is_empty());
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod addr;
mod arena;
pub mod audit;
pub mod bugcheck;
pub mod cost;
pub mod counters;
pub mod events;
pub mod fault;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "proptest")]
pub mod generators;
pub mod guide;
pub mod io;
pub mod log;
pub mod machine;
pub mod mdl;
pub mod mm;
pub mod op;
pub mod oracle;
pub mod pfn;
pub mod pool;
pub mod process;
mod ranges;
pub mod shadow;
pub mod space;
pub mod status;
pub mod strategy;
mod syspte;
pub mod verify;
pub mod vm;

pub use arena::Handle;
pub use bugcheck::{BugCheck, BugCheckCode};
pub use counters::Counters;
pub use fault::{Fault, ModelError, Result};
pub use machine::{Config, Machine};
pub use mdl::MdlId;
pub use status::NtStatus;
