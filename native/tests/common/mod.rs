//! What the native tests share: a machine with an app whose context is current and a
//! committed, written buffer.

use mdlsim::addr::{PAGE_SIZE, Va};
use mdlsim::space::{Pid, Protection};
use mdlsim::vm::{MEM_COMMIT, MEM_RESERVE};
use mdlsim::{Config, Machine};

/// A machine with an app whose context is current, and `pages` committed pages that
/// start with `data`.
pub fn app_with(pages: u64, data: &[u8]) -> (Machine, Pid, Va) {
    let mut m = Machine::new(Config::default()).unwrap();
    let app = m.create_process("app").unwrap();
    let va = m
        .virtual_alloc(
            app,
            None,
            pages * PAGE_SIZE,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    m.user_write(app, va, data).unwrap();
    m.switch_to(Some(app)).unwrap();
    (m, app, va)
}
