//! The conformance suite: assertions of public test suites that ran on Windows, and of
//! Microsoft's DDI and bug-check pages, translated one by one into the model's API
//! (facts only: no code of theirs is copied). Each module names its source file and
//! each test the function or page it translates; where Windows and ReactOS differ,
//! Windows wins and the test says which Windows it describes. Assertions the model
//! cannot yet satisfy are `#[ignore]`d with the divergence as the reason, and listed in
//! `tests/conformance/README.md` — the fidelity backlog.

#[path = "../common/mod.rs"]
mod common;
#[path = "../io_common/mod.rs"]
mod io_common;

mod microsoft_bugchecks;
mod microsoft_bugchecks_c4;
mod microsoft_bugchecks_c4_divergent;
mod reactos_ex_pools;
mod reactos_io_irp;
mod reactos_io_mdl;
mod reactos_mm_map;
mod reactos_mm_mdl;
mod reactos_zw_allocate;
mod wine_cancel;
mod wine_completion;
mod wine_device;
mod wine_io;
mod wine_ioctl;
mod wine_mdl;
