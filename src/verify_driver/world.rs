//! The machine a case runs on: kernel secrets where an uninitialised allocation finds
//! them, the driver's device, and the client with its buffers where the case puts them.

use super::DriverUnderTest;
use super::case::{Buffer, DriverCase, Hostile, Place};
use crate::addr::{MM_USER_PROBE_ADDRESS, PAGE_SIZE, Va};
use crate::fault::Result;
use crate::io::DeviceId;
use crate::machine::Machine;
use crate::pool::{PoolType, tag};
use crate::space::{Pid, Protection, Tid};
use crate::vm::{MEM_COMMIT, MEM_RESERVE};

/// Pages of secrets the exited process leaves on the free list.
const SECRET_PAGES: u64 = 32;
/// Sizes of the pool blocks filled with secrets and freed (a SystemBuffer or a driver's
/// uninitialised allocation of about that size lands on their bytes).
const SECRET_BLOCKS: [u64; 13] = [
    16, 32, 64, 128, 256, 512, 1024, 2048, 3000, 4096, 8192, 12288, 16384,
];
/// Bytes of the live kernel block a hostile caller points at.
pub(super) const KERNEL_BLOCK: u64 = 2 * PAGE_SIZE;
/// Pages committed at most per buffer: a longer length runs into the guard page.
const MAX_COMMITTED_PAGES: u64 = 16;

/// The byte of the secrets process at offset `i` (position-dependent, never zero).
fn secret_byte(i: u64) -> u8 {
    ((i.wrapping_mul(131) >> 3) as u8) | 0x80
}

/// The caller's byte at offset `i` of a buffer, for `seed`.
pub(super) fn client_byte(seed: u8, i: u64) -> u8 {
    (i.wrapping_mul(37) as u8) ^ seed ^ 0x3C
}

/// A client region: reserved `[base, base + size)`, to scan and to free.
#[derive(Clone, Copy, Debug)]
pub(super) struct Region {
    pub base: Va,
    pub size: u64,
}

/// The machine and who is in it.
pub(super) struct World {
    pub m: Machine,
    pub device: DeviceId,
    pub client: Pid,
    pub tid: Tid,
    /// A second thread of the client (the rewrites of a double-fetch proof).
    pub writer: Tid,
    /// The process whose bytes are the kernel's secrets (exited).
    pub secrets: Pid,
    /// The live pool block of secrets.
    pub kernel_block: Va,
    pub iosb: Va,
    pub input: Option<Va>,
    pub output: Option<Va>,
    /// Where the case put each buffer (`None`: the request does not use it).
    pub input_place: Option<Place>,
    pub output_place: Option<Place>,
    pub regions: Vec<Region>,
    /// The buffers the request describes: (address, length) of each it uses.
    pub described: Vec<(Va, u64)>,
    /// The caller's input bytes before the request (at most 16 pages; what a write
    /// must deliver).
    pub input_bytes: Vec<u8>,
    /// The bottom driver is the harness's own file system (a minifilter is verified):
    /// what a write delivered is checked.
    pub own_fs: bool,
}

impl World {
    /// Builds the world of `case` for `dut` on a machine of `config`.
    pub(super) fn build(
        dut: &DriverUnderTest,
        case: &DriverCase,
        config: &crate::Config,
    ) -> Result<World> {
        let mut cfg = config.clone();
        if case.hostile == Hostile::PtesExhausted {
            cfg = cfg.system_ptes(0);
        }
        let mut m = Machine::new(cfg)?;
        let (secrets, kernel_block) = plant_secrets(&mut m)?;
        let driver = m.io_register_driver(&dut.name, dut.code.clone())?;
        let device = m.io_create_device(driver, "\\Device\\UnderTest", dut.device_flags)?;
        if let Some(f) = &dut.filter {
            m.flt_register_filter(&dut.name, 320_000, f.clone())?;
            m.flt_attach_volume(device)?;
        }
        let client = m.create_process("client")?;
        let tid = m.process(client)?.threads[0];
        let writer = m.create_thread(client)?;
        let rw = Protection::ReadWrite;
        let iosb = m.virtual_alloc(client, None, PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, rw)?;
        let mut w = World {
            m,
            device,
            client,
            tid,
            writer,
            secrets,
            kernel_block,
            iosb,
            input: None,
            output: None,
            input_place: Some(case.input.place),
            output_place: Some(case.output.place),
            regions: Vec::new(),
            described: Vec::new(),
            input_bytes: Vec::new(),
            own_fs: dut.filter.is_some(),
        };
        w.input = w.place(&case.input, case.seed)?;
        w.write_words(case)?;
        if let Some(va) = w.input {
            let n = (case.input.length as u64).min(MAX_COMMITTED_PAGES * PAGE_SIZE);
            w.input_bytes =
                w.m.peek(crate::space::SpaceId::Process(w.client), va, n)
                    .unwrap_or_default();
        }
        w.output = w.place(&case.output, case.seed.wrapping_add(1))?;
        let request = dut.requests.get(case.request as usize).copied();
        let (uses_in, uses_out) = match request {
            Some(super::Request::Read | super::Request::NotifyDirectory { .. }) => (false, true),
            Some(super::Request::Write) => (true, false),
            _ => (true, true),
        };
        for (used, va, b) in [
            (uses_in, w.input, case.input),
            (uses_out, w.output, case.output),
        ] {
            if let (true, Some(va)) = (used, va) {
                w.described.push((va, b.length as u64));
            }
        }
        Ok(w)
    }

    /// The address the caller passes for `b`, its memory set up as `b.place` says.
    fn place(&mut self, b: &Buffer, seed: u8) -> Result<Option<Va>> {
        let off = (b.offset as u64) % PAGE_SIZE;
        match b.place {
            Place::Null => Ok(None),
            Place::Kernel => Ok(Some(self.kernel_block.wrapping_add(off))),
            Place::Unmapped => {
                let base = self.reserve(4)?;
                Ok(Some(base.wrapping_add(PAGE_SIZE + off)))
            }
            Place::User | Place::ReadOnly => {
                let pages = (off + b.length as u64)
                    .div_ceil(PAGE_SIZE)
                    .clamp(1, MAX_COMMITTED_PAGES);
                let base = self.reserve(pages + 2)?;
                let first = base.wrapping_add(PAGE_SIZE);
                self.commit(first, pages, seed, b.place == Place::ReadOnly)?;
                Ok(Some(first.wrapping_add(off)))
            }
            Place::TopOfUserSpace => {
                let size = 16 * PAGE_SIZE;
                let base = Va::new(MM_USER_PROBE_ADDRESS.raw() - size);
                // Both buffers may lie there: the second shares the first's region.
                if !self.regions.iter().any(|r| r.base == base) {
                    let rw = Protection::ReadWrite;
                    self.m
                        .virtual_alloc(self.client, Some(base), size, MEM_RESERVE, rw)?;
                    self.regions.push(Region { base, size });
                    self.commit(base, size / PAGE_SIZE, seed, false)?;
                }
                Ok(Some(Va::new(MM_USER_PROBE_ADDRESS.raw() - PAGE_SIZE + off)))
            }
        }
    }

    /// The case's input words at the start of the input buffer, as far as the caller can
    /// write them (a read-only buffer is made writable for the moment).
    fn write_words(&mut self, case: &DriverCase) -> Result<()> {
        let (Some(va), Place::User | Place::ReadOnly | Place::TopOfUserSpace) =
            (self.input, case.input.place)
        else {
            return Ok(());
        };
        let bytes: Vec<u8> = case
            .input_words
            .iter()
            .take(super::case::MAX_INPUT_WORDS)
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let room = PAGE_SIZE - va.byte_offset() as u64;
        let n = (bytes.len() as u64).min(room) as usize;
        let Some(bytes) = bytes.get(..n).filter(|b| !b.is_empty()) else {
            return Ok(());
        };
        let page = va.page_align();
        let ro = case.input.place == Place::ReadOnly;
        if ro {
            self.m
                .virtual_protect(self.client, page, PAGE_SIZE, Protection::ReadWrite)?;
        }
        self.m.user_write(self.client, va, bytes)?;
        if ro {
            self.m
                .virtual_protect(self.client, page, PAGE_SIZE, Protection::ReadOnly)?;
        }
        Ok(())
    }

    /// Reserves `pages` pages of the client (nothing committed).
    fn reserve(&mut self, pages: u64) -> Result<Va> {
        let size = pages * PAGE_SIZE;
        let rw = Protection::ReadWrite;
        let base = self
            .m
            .virtual_alloc(self.client, None, size, MEM_RESERVE, rw)?;
        self.regions.push(Region { base, size });
        Ok(base)
    }

    /// Commits `pages` pages at `va`, fills them with the caller's bytes for `seed`, and
    /// makes them read-only when `read_only`.
    fn commit(&mut self, va: Va, pages: u64, seed: u8, read_only: bool) -> Result<()> {
        let size = pages * PAGE_SIZE;
        let rw = Protection::ReadWrite;
        self.m
            .virtual_alloc(self.client, Some(va), size, MEM_COMMIT, rw)?;
        let bytes: Vec<u8> = (0..size).map(|i| client_byte(seed, i)).collect();
        self.m.user_write(self.client, va, &bytes)?;
        if read_only {
            self.m
                .virtual_protect(self.client, va, size, Protection::ReadOnly)?;
        }
        Ok(())
    }
}

/// A process fills pages with secrets; the kernel copies them into pool blocks of many
/// sizes (freed again, their bytes stale in the pool) and into one block it keeps; the
/// process exits (its frames, secrets in them, go to the free list). Returns the
/// process and the kept block.
fn plant_secrets(m: &mut Machine) -> Result<(Pid, Va)> {
    let s = m.create_process("secrets")?;
    let rw = Protection::ReadWrite;
    let len = SECRET_PAGES * PAGE_SIZE;
    let va = m.virtual_alloc(s, None, len, MEM_COMMIT | MEM_RESERVE, rw)?;
    let bytes: Vec<u8> = (0..len).map(secret_byte).collect();
    m.user_write(s, va, &bytes)?;
    m.switch_to(Some(s))?;
    let t = tag(b"Secr");
    let mut freed = Vec::new();
    for (i, &size) in SECRET_BLOCKS.iter().enumerate() {
        if let Some(b) = m.ex_allocate_pool_with_tag(PoolType::NonPaged, size, t)? {
            let src = va.wrapping_add((i as u64 * PAGE_SIZE) % (len - size.min(len)));
            m.kernel_copy(b, src, size)?;
            freed.push(b);
        }
    }
    let kept = m
        .ex_allocate_pool_with_tag(PoolType::NonPaged, KERNEL_BLOCK, tag(b"Kscr"))?
        .ok_or_else(|| crate::ModelError::Unsupported("no pool for the kernel secrets".into()))?;
    m.kernel_copy(kept, va, KERNEL_BLOCK)?;
    for b in freed {
        m.ex_free_pool_with_tag(b, t)?;
    }
    m.switch_to(None)?;
    m.terminate_process(s)?;
    Ok((s, kept))
}
