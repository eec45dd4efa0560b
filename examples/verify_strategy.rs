//! Verifying your own proxy strategy, the way you would from your own `cargo test`,
//! and the harness's throughput.
//!
//! ```text
//! cargo run --release --example verify_strategy
//! MDLSIM_CASES=20000 cargo run --release --example verify_strategy
//! ```
//!
//! `MyBounce` below copies through a pool buffer but forgets that `ExAllocatePoolWithTag`
//! does not zero: the harness finds the stale bytes the server reads, shrinks the case,
//! and prints it with its replayable JSON. The fixed version passes. Then every built-in
//! strategy is run on requests up to 64 KiB and the cases per second are printed.

use mdlsim::Kernel;
use mdlsim::addr::{PAGE_SIZE, Va, round_to_pages};
use mdlsim::fault::Result;
use mdlsim::mdl::{MdlId, priority};
use mdlsim::pool::{POOL_FLAG_NON_PAGED, PoolType, tag};
use mdlsim::status::NtStatus;
use mdlsim::strategy::{
    self, Completion, Direction, Exposure, Io, ProxyStrategy, RetireReason, ServerReply, map_into,
    nt_success, unmap_from,
};
use mdlsim::verify::{self, Config};
use std::time::Instant;

const TAG: u32 = tag(b"MyBo");

/// A user's bounce-buffer strategy. `zero` decides whether the buffer is zeroed.
#[derive(Clone, Default)]
struct MyBounce {
    zero: bool,
    held: Option<(Va, MdlId, Va, Va)>, // pool, its MDL, server view, client system address
}

impl ProxyStrategy for MyBounce {
    fn name(&self) -> String {
        format!("MyBounce(zero: {})", self.zero)
    }

    fn expose(&mut self, k: &mut Kernel<'_>, io: &Io) -> Result<Exposure> {
        let len = io.length as u64;
        if io.mdl.is_none() {
            return Ok(Exposure::Mapped {
                va: Va::NULL,
                len: 0,
            });
        }
        let Some(sys) = k.mm_get_system_address_for_mdl_safe(io.mdl, priority::NORMAL)? else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        let size = round_to_pages(len).unwrap_or(PAGE_SIZE);
        let pool = if self.zero {
            k.ex_allocate_pool2(POOL_FLAG_NON_PAGED, size, TAG)?
        } else {
            k.ex_allocate_pool_with_tag(PoolType::NonPaged, size, TAG)?
        };
        let Some(pool) = pool else {
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        if io.direction == Direction::Write {
            k.kernel_copy(pool, sys, len)?;
        }
        let Some(bmdl) = k.io_allocate_mdl(pool, size as u32, false, false, None)? else {
            k.ex_free_pool_with_tag(pool, TAG)?;
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        k.mm_build_mdl_for_non_paged_pool(bmdl)?;
        let writable = io.direction == Direction::Read;
        let Some(view) = map_into(k, io.server, bmdl, None, writable)? else {
            k.io_free_mdl(bmdl)?;
            k.ex_free_pool_with_tag(pool, TAG)?;
            return Ok(Exposure::Refused(NtStatus::INSUFFICIENT_RESOURCES));
        };
        self.held = Some((pool, bmdl, view, sys));
        Ok(Exposure::Mapped { va: view, len })
    }

    fn retire(
        &mut self,
        k: &mut Kernel<'_>,
        io: &Io,
        reply: ServerReply,
        _why: RetireReason,
    ) -> Result<Completion> {
        let ok = nt_success(reply.status);
        let n = if ok {
            reply.information.min(io.length as u64)
        } else {
            0
        };
        if let Some((pool, bmdl, view, sys)) = self.held.take() {
            unmap_from(k, io.server, view, bmdl)?;
            if io.direction == Direction::Read {
                k.kernel_copy(sys, pool, n)?;
            }
            k.io_free_mdl(bmdl)?;
            k.ex_free_pool_with_tag(pool, TAG)?;
        }
        Ok(Completion {
            status: reply.status,
            information: n,
        })
    }
}

fn main() {
    // 1. The buggy version is caught and shrunk.
    match verify::verify(&MyBounce::default(), &Config::default()) {
        Ok(r) => println!("unexpected pass: {r:?}"),
        Err(cx) => println!(
            "{cx}\nJSON: {}\n",
            serde_json::to_string(&cx.case).unwrap_or_default()
        ),
    }
    // 2. The fixed version passes.
    let fixed = MyBounce {
        zero: true,
        ..MyBounce::default()
    };
    match verify::verify(&fixed, &Config::default()) {
        Ok(r) => println!("{} passes {} cases\n", r.strategy, r.cases),
        Err(cx) => println!("{cx}"),
    }
    // 3. Throughput of verify for requests of at most 64 KiB.
    let cfg = Config::default().max_length(64 * 1024);
    let cases = cfg.effective().cases;
    println!("cases/second of verify, requests <= 64 KiB, {cases} cases each:");
    for s in strategy::builtins()
        .into_iter()
        .filter(|s| s.expected().is_none())
    {
        let t = Instant::now();
        let r = verify::verify(&s, &cfg);
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  {:<28} {:>8.0} cases/s ({})",
            s.name(),
            cases as f64 / secs,
            if r.is_ok() { "pass" } else { "FAIL" }
        );
    }
}
