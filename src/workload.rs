//! One whole proxied request, outside the oracle: the benchmarks' and the [`Cost`]
//! counts' unit of work (issue 7).
//!
//! [`Prepared::new`] builds a machine with a client, a server and the client's buffer
//! (touched, so its frames exist), and issues the request as the I/O manager does for a
//! `DO_DIRECT_IO` device ([`Request::issue`]: `NtReadFile` / `NtWriteFile`, the I/O
//! manager's `IoAllocateMdl` + `MmProbeAndLockPages`, pended by the driver).
//! [`Prepared::run`] is then the request itself: the strategy's `expose`, the server
//! touching the whole range it was shown (writing it for a READ, reading it for a WRITE),
//! the strategy's `retire`, and completion (`IoCompleteRequest`: `MmUnlockPages` +
//! `IoFreeMdl`, [semantics §5.7]).
//! [`request_cost`] runs it once and returns the difference of [`Machine::counters`]
//! around it.
//!
//! ```
//! use mdlsim::strategy::{BounceCopy, Direction};
//! use mdlsim::workload::request_cost;
//! let c = request_cost(&BounceCopy::default(), Direction::Read, 64 << 10, 0, false).unwrap();
//! assert_eq!(c.bytes_copied, 64 << 10); // copied back once, nothing copied in for a READ
//! assert_eq!(c.pool_pages_used, 16);
//! assert_eq!(c.pages_locked, 16); // the I/O manager's lock of the client's buffer
//! ```
//!
//! [semantics §5.7]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s5.7

use crate::addr::{PAGE_SIZE, Va, span_pages};
use crate::cost::{Cost, CostModel, Temperature};
use crate::counters::Counters;
use crate::fault::{Fault, ModelError, Result};
use crate::machine::{Config, Machine};
use crate::space::{Pid, Protection};
use crate::status::NtStatus;
use crate::strategy::{Completion, Direction, Exposure, Io, ProxyStrategy, ServerReply};
use crate::verify::Request;
use crate::vm::{MEM_COMMIT, MEM_RESERVE};

/// The machine configuration a request of `length` bytes runs on: 4 GiB of simulated RAM
/// or enough for four copies of the buffer, pool for two, shadow as asked.
pub fn config_for(length: u64, shadow: bool) -> Config {
    let need = length.saturating_mul(4).max(4 << 30);
    Config::default()
        .physical_memory(need)
        .pool_limit(length.saturating_mul(2).max(256 << 20))
        .system_ptes((length / PAGE_SIZE).saturating_mul(4).max(1 << 18))
        .shadow(shadow)
}

/// A request issued and ready to hand to a strategy.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The machine.
    pub machine: Machine,
    /// The request (its MDL locked).
    pub request: Request,
    /// The server process.
    pub server: Pid,
    /// [`Machine::counters`] just before the request was issued.
    pub issued_at: Counters,
    data: Vec<u8>,
    out: Vec<u8>,
}

impl Prepared {
    /// A machine with a client and a server, the client's buffer of `length` bytes at
    /// byte offset `offset` in its first page (touched), and the request issued.
    ///
    /// # Errors
    /// `ModelError::InvalidConfig` for a length above `u32::MAX` or an offset of a page or
    /// more; whatever the machine refuses.
    pub fn new(direction: Direction, length: u64, offset: u64, shadow: bool) -> Result<Prepared> {
        let len32 = u32::try_from(length)
            .map_err(|_| Fault::Model(ModelError::InvalidConfig("length above 4 GiB".into())))?;
        if offset >= PAGE_SIZE {
            return Err(Fault::Model(ModelError::InvalidConfig(
                "offset of a page or more".into(),
            )));
        }
        let mut m = Machine::new(config_for(length, shadow))?;
        let client = m.create_process("client")?;
        let server = m.create_process("server")?;
        let pages = (span_pages(Va::new(offset), length) as u64).max(1);
        let alloc = m.virtual_alloc(
            client,
            None,
            pages * PAGE_SIZE,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )?;
        m.user_write(client, alloc, &vec![0xC1; (pages * PAGE_SIZE) as usize])?;
        let buffer = alloc.wrapping_add(offset);
        let issued_at = m.counters();
        let request = Request::issue(&mut m, client, direction, buffer, len32)?;
        let n = length as usize;
        let (data, out) = match direction {
            Direction::Read => (vec![0x5E; n], Vec::new()),
            Direction::Write => (Vec::new(), vec![0; n]),
        };
        Ok(Prepared {
            machine: m,
            request,
            server,
            issued_at,
            data,
            out,
        })
    }

    /// What the driver sees.
    pub fn io(&self) -> Io {
        self.request.io(self.server)
    }

    /// The request: expose (server's context), the server touches all it was shown,
    /// retire, complete. A refusal completes at once.
    ///
    /// # Errors
    /// Any fault of the strategy or the server's access (the strategies under test are
    /// correct, so a fault here is a bug).
    pub fn run(&mut self, strategy: &mut dyn ProxyStrategy) -> Result<Completion> {
        self.run_with(strategy, true)
    }

    /// [`Prepared::run`], with the server touching the range or not (`touch == false`
    /// leaves only the driver's work: what a strategy itself costs, the same server work
    /// taken out of every strategy).
    ///
    /// # Errors
    /// As [`Prepared::run`].
    pub fn run_with(
        &mut self,
        strategy: &mut dyn ProxyStrategy,
        touch: bool,
    ) -> Result<Completion> {
        let io = self.io();
        let m = &mut self.machine;
        m.switch_to(Some(self.server))?;
        let completion = match strategy.expose(&mut m.kernel(), &io)? {
            Exposure::Refused(status) => Completion {
                status,
                information: 0,
            },
            Exposure::Mapped { va, len } => {
                let n = len as usize;
                if n > 0 && touch {
                    match io.direction {
                        Direction::Read => m.user_write(self.server, va, &self.data[..n])?,
                        Direction::Write => {
                            m.user_read_into(self.server, va, &mut self.out[..n])?
                        }
                    }
                }
                let reply = ServerReply {
                    status: NtStatus::SUCCESS,
                    information: len,
                };
                strategy.retire(
                    &mut m.kernel(),
                    &io,
                    reply,
                    crate::strategy::RetireReason::Reply,
                )?
            }
        };
        m.switch_to(None)?;
        self.request.complete(m, completion)?;
        Ok(completion)
    }
}

/// The work one request of `strategy` does, from the I/O manager's probe and lock to
/// completion: [`Machine::counters`] after [`Prepared::run`] minus just before the
/// request was issued, as a [`Cost`].
///
/// # Errors
/// As [`Prepared::new`] and [`Prepared::run`].
pub fn request_cost<S: ProxyStrategy + Clone>(
    strategy: &S,
    direction: Direction,
    length: u64,
    offset: u64,
    shadow: bool,
) -> Result<Cost> {
    let mut p = Prepared::new(direction, length, offset, shadow)?;
    let before = p.issued_at;
    let mut s = strategy.clone();
    p.run(&mut s)?;
    Ok(Cost::from_counters(&p.machine.counters().since(&before)))
}

/// The sizes a crossover search walks: one page, doubling to 16 MiB, then 31 MiB (the
/// largest request the benches run: an MDL describes at most 8,185 pages).
pub fn crossover_sizes() -> Vec<u64> {
    let mut v: Vec<u64> = (0..=12).map(|k| PAGE_SIZE << k).collect();
    v.push(31 << 20);
    v
}

/// The smallest size of [`crossover_sizes`] from which strategy `a` is projected faster
/// than `b` by `model` (one request each, shadow off, the buffer at byte `offset` of its
/// first page), `None` when `a` never wins up to 31 MiB: where your strategy starts to
/// beat, say, `BounceCopy`.
///
/// ```
/// use mdlsim::cost::{CostModel, Temperature};
/// use mdlsim::strategy::{BounceCopy, Direction, HeadTailSplice};
/// use mdlsim::workload::crossover;
/// let (splice, bounce, m) = (HeadTailSplice::default(), BounceCopy::default(), CostModel::default());
/// let cold = crossover(&splice, &bounce, Direction::Read, 0, &m, Temperature::Cold).unwrap();
/// assert!(cold.is_some_and(|size| size <= 1 << 20)); // mapping wins over copying cold data
/// ```
///
/// # Errors
/// As [`request_cost`].
pub fn crossover<A, B>(
    a: &A,
    b: &B,
    direction: Direction,
    offset: u64,
    model: &CostModel,
    t: Temperature,
) -> Result<Option<u64>>
where
    A: ProxyStrategy + Clone,
    B: ProxyStrategy + Clone,
{
    for size in crossover_sizes() {
        let ca = request_cost(a, direction, size, offset, false)?;
        let cb = request_cost(b, direction, size, offset, false)?;
        if ca.project_us(model, t) < cb.project_us(model, t) {
            return Ok(Some(size));
        }
    }
    Ok(None)
}
