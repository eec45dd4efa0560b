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
//! follows the rules collected in the project's [docs/semantics.md][semantics.md] (cited by
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
//!
//! [semantics.md]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md

//!
//! ## The short guide
//!
//! The long version is [`guide`] (the same Markdown as `docs/guide/`).
//!
//! 1. **Concepts** ([`guide::concepts`]): pages and frames, the PFN database (locking
//!    is one more reference), MDLs, probe and lock, mapping into system or user space.
//! 2. **Pitfalls** ([`guide::pitfalls`]): mapping an unaligned buffer exposes whole
//!    pages (the [proxy file system][design-proxy]), substitutes must be zeroed, copy
//!    back only what was delivered, never unlock a partial MDL, a zero-length request
//!    has no MDL and terminating a string in a shared buffer is a double fetch
//!    (["Errors in Direct I/O"][design-direct-io]). Each is a scenario file in
//!    `examples/scenarios/`, replayed with `cargo run --release -- replay FILE` (format:
//!    [`scenario`], with its page map: [`pagemap`]); the [directory change
//!    notification][design-notification] and [buffer ownership during direct
//!    I/O][design-ownership] are scenarios of raw kernel operations
//!    ([`op`]) with their expected outcomes, events, hazards and final bug check.
//! 3. **Your strategy** ([`guide::your_strategy`]): implement
//!    [`strategy::ProxyStrategy`] and call [`verify::verify`] in a test; a failure is a
//!    shrunk, replayable [`verify::Counterexample`]. `cargo run --release -- audit` does
//!    this for every built-in strategy and prints the strategy × rule matrix.
//! 4. **Fuzzing** ([`guide::fuzzing`]) and 5. **benchmarks** ([`guide::benchmarks`]):
//!    `docs/fuzzing.md`, `docs/performance.md`.
//!
//! ```
//! // The proxy file system in three lines: the direct map is caught, the head/tail splice passes.
//! let file = |n: &str| format!("{}/examples/scenarios/{n}", env!("CARGO_MANIFEST_DIR"));
//! assert!(!mdlsim::replay::replay(file("seed000-directmap-read.json").as_ref()).unwrap().found.is_empty());
//! assert!(mdlsim::replay::replay(file("seed000-headtail-read.json").as_ref()).unwrap().found.is_empty());
//! ```
//!
//! [design-proxy]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#proxy-file-system
//! [design-direct-io]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#direct-io-errors
//! [design-notification]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#change-notification
//! [design-ownership]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#buffer-ownership

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod addr;
mod arena;
pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
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
pub mod ids;
pub mod io;
mod iostate;
pub mod irql;
pub mod log;
pub mod machine;
pub mod mdl;
pub mod mm;
pub mod op;
pub mod oracle;
pub mod pagemap;
pub mod pfn;
pub mod pool;
pub mod process;
mod ranges;
pub mod replay;
pub mod scenario;
pub mod shadow;
pub mod space;
pub mod status;
pub mod strategy;
pub mod syspte;
#[cfg(test)]
mod testing;
mod trail;
pub mod user_pointers;
pub mod verifier;
pub mod verify;
pub mod verify_driver;
pub mod vm;
pub mod windows;
pub mod workload;

pub use arena::Handle;
pub use bugcheck::{BugCheck, BugCheckCode};
pub use counters::Counters;
pub use fault::{Fault, ModelError, Result};
pub use machine::{Config, Kernel, Machine};
pub use mdl::MdlId;
pub use status::NtStatus;
