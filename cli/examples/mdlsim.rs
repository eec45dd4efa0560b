//! Your own `mdlsim`: the whole command line over the built-ins, the zoo and your
//! strategies. Copy this file into your crate's `examples/` (with `mdlsim` and
//! `mdlsim-cli` as dependencies), register your strategies, and run
//!
//! ```text
//! cargo run --release --example mdlsim -- audit                  # yours beside the built-ins
//! cargo run --release --example mdlsim -- audit --strategy mysplice --out cx/
//! cargo run --release --example mdlsim -- replay cx/MySplice-read.json --svg map.svg
//! ```
//!
//! `MySplice` here is a stand-in: the workspace's head/tail splice under another name.

#![forbid(unsafe_code)]

use mdlsim::Kernel;
use mdlsim::strategy::{
    Completion, Exposure, HeadTailSplice, Io, ProxyStrategy, RetireReason, ServerReply,
};

/// Your strategy: anything `ProxyStrategy + Clone + Send + 'static`.
#[derive(Clone, Default)]
struct MySplice(HeadTailSplice);

impl ProxyStrategy for MySplice {
    fn name(&self) -> String {
        "MySplice".into()
    }
    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> mdlsim::Result<Exposure> {
        self.0.expose(k, io)
    }
    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        why: RetireReason,
    ) -> mdlsim::Result<Completion> {
        self.0.retire(k, io, reply, why)
    }
}

fn main() -> std::process::ExitCode {
    mdlsim_cli::Cli::new()
        .strategy(MySplice::default())
        .run_from_env()
}
