//! ReactOS, `modules/rostests/kmtests/ntos_mm/`: the `MmMapLockedPagesSpecifyCache` test,
//! in three files — the user-mode part `MmMapLockedPagesSpecifyCache_user.c`
//! (`START_TEST(MmMapLockedPagesSpecifyCache)` and its `CHECK_ALLOC` and
//! `FILL_READ_BUFFER` macros), its driver `MmMapLockedPagesSpecifyCache_drv.c`
//! (`TestMessageHandler`, `TestCleanEverything`) and the records they share
//! (`MmMapLockedPagesSpecifyCache.h`).
//!
//! The user part asks the driver, through kmtest's `KmtSendBufferToDriver` (a
//! `METHOD_BUFFERED`, `FILE_ANY_ACCESS` IOCTL whose function is 0xC00 plus the message;
//! the driver's handler gets the SystemBuffer and both lengths), to allocate a kernel
//! buffer, lock it and map it into the caller with `MmMapLockedPagesSpecifyCache(UserMode,
//! MmCached or MmNonCached, BaseAddress, BugCheckOnFailure FALSE, NormalPagePriority)`;
//! it checks the mapping from user mode (it cannot be reserved over, decommitted or
//! released) and fills it with a pattern, which the driver reads back through
//! `MmGetSystemAddressForMdlSafe`. Here the driver is [`MapTest`] and the user part runs
//! as a process of the model issuing `NtDeviceIoControlFile`, so the mapping happens in
//! the requesting process's context, as kmtest's does.
//!
//! The test describes Windows Server 2003 (NT 5.2), which ReactOS targets (its comments
//! give x86 addresses of that layout), so every machine here is configured as Server
//! 2003. On Windows 10/11 no Microsoft page states what a user-mode mapping at an explicit
//! base in the last 64 KiB below the highest user address raises: that status is
//! Server 2003's here (README, backlog).
//!
//! Stand-in: `MmAllocateNonCachedMemory` is not modelled, so the non-cached rows take a
//! page-aligned non-paged pool block of the same length (resident system memory, as
//! non-cached memory is; whole pages, as `MmAllocateNonCachedMemory` returns) and map it
//! with `MmNonCached`, as the source does. No assertion is about the memory's cache
//! attribute. Four assertions are the backlog (README): `MmAllocateNonCachedMemory`,
//! `CHECK_ALLOC`'s `NtUnmapViewOfSection`, `NtQuerySystemInformation` and
//! `KmtLoadAndOpenDriver` succeeding.

use crate::io_common::{alloc, app, assert_clean};
use mdlsim::addr::{MM_HIGHEST_USER_ADDRESS, PAGE_SIZE, Va, round_to_pages};
use mdlsim::fault::{Fault, Result};
use mdlsim::io::ioctl::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, METHOD_BUFFERED, ctl_code};
use mdlsim::io::{DeviceId, Driver, IrpId, Parameters};
use mdlsim::irql::Kirql;
use mdlsim::mdl::{AccessMode, CacheType, LockOperation, priority};
use mdlsim::pool::{PoolType, tag};
use mdlsim::space::{Pid, Protection, Tid};
use mdlsim::status::NtStatus;
use mdlsim::vm::{MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE};
use mdlsim::windows::WindowsVersion;
use mdlsim::{Config, Kernel, Machine, MdlId};
use std::sync::{Arc, Mutex};

/// The header's messages: `IOCTL_QUERY_BUFFER`, `IOCTL_READ_BUFFER`, `IOCTL_CLEAN`.
const QUERY: u32 = 1;
const READ: u32 = 2;
const CLEAN: u32 = 3;
/// The header's `WRITE_PATTERN`.
const PATTERN: u32 = 0xA4A5_A6A7;
/// The driver's pool tag, `'MLPC'` (a C multi-character constant: first letter highest).
const TAG: u32 = tag(b"CPLM");
/// `sizeof(QUERY_BUFFER)` and `sizeof(READ_BUFFER)` on amd64 (pointer-aligned, 24 each).
const RECORD: u32 = 24;
/// The `Status` the user part passes when the driver is not to check it (-1).
const UNCHECKED: NtStatus = NtStatus(u32::MAX);

/// kmtest's `KMT_MAKE_CODE(message)`.
const fn kmt_code(message: u32) -> u32 {
    ctl_code(
        FILE_DEVICE_UNKNOWN,
        0xC00 + message,
        METHOD_BUFFERED,
        FILE_ANY_ACCESS,
    )
}

/// `QUERY_BUFFER` (amd64 layout): `Length` at 0, `Buffer` at 8, `Cached` at 16,
/// `Status` at 20.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Query {
    length: u16,
    buffer: Va,
    cached: bool,
    status: NtStatus,
}

impl Query {
    /// `FILL_QUERY_BUFFER`: the length, no address, the cache choice, success expected.
    fn new(length: u16, cached: bool) -> Query {
        Query {
            length,
            buffer: Va::NULL,
            cached,
            status: NtStatus::SUCCESS,
        }
    }

    fn encode(&self) -> [u8; 24] {
        let mut b = [0; 24];
        b[0..2].copy_from_slice(&self.length.to_le_bytes());
        b[8..16].copy_from_slice(&self.buffer.raw().to_le_bytes());
        b[16] = self.cached as u8;
        b[20..24].copy_from_slice(&self.status.0.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Query {
        Query {
            length: u16::from_le_bytes([b[0], b[1]]),
            buffer: Va::new(u64::from_le_bytes(b[8..16].try_into().unwrap())),
            cached: b[16] != 0,
            status: NtStatus(u32::from_le_bytes(b[20..24].try_into().unwrap())),
        }
    }
}

/// `READ_BUFFER` (amd64 layout): `Length` at 0, `Buffer` at 8, `Pattern` at 16.
#[derive(Clone, Copy, Debug)]
struct ReadRecord {
    length: u16,
    buffer: Va,
    pattern: u32,
}

impl ReadRecord {
    fn encode(&self) -> [u8; 24] {
        let mut b = [0; 24];
        b[0..2].copy_from_slice(&self.length.to_le_bytes());
        b[8..16].copy_from_slice(&self.buffer.raw().to_le_bytes());
        b[16..20].copy_from_slice(&self.pattern.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> ReadRecord {
        ReadRecord {
            length: u16::from_le_bytes([b[0], b[1]]),
            buffer: Va::new(u64::from_le_bytes(b[8..16].try_into().unwrap())),
            pattern: u32::from_le_bytes(b[16..20].try_into().unwrap()),
        }
    }
}

/// The driver's globals `CurrentBuffer`, `CurrentMdl` and `CurrentUser` (its
/// `NonCachedLength` only chooses the free routine, and the stand-in is freed as pool).
#[derive(Debug, Default)]
struct Current {
    buffer: Option<Va>,
    mdl: Option<MdlId>,
    user: Option<Va>,
}

/// `MmMapLockedPagesSpecifyCache_drv.c` as a driver of the model: kmtest's
/// `DeviceControlHandler` around `TestMessageHandler` (the handler's status and out
/// length become the IRP's `IoStatus`, and the IRP is completed). Each `assert!` is one
/// of the source's `ok`s; a failing one fails the test that sent the message.
#[derive(Debug, Default)]
struct MapTest {
    current: Mutex<Current>,
}

impl Driver for MapTest {
    fn dispatch(&self, k: &mut Kernel<'_>, _d: DeviceId, irp: IrpId) -> Result<NtStatus> {
        let Parameters::DeviceIoControl {
            output_buffer_length,
            input_buffer_length,
            io_control_code,
            ..
        } = k.io_get_current_irp_stack_location(irp)?.parameters
        else {
            unreachable!("the test sends IOCTLs only")
        };
        let buffer = k.irp(irp)?.system_buffer;
        let (in_len, mut out_len) = (input_buffer_length, output_buffer_length);
        let mut cur = self.current.lock().unwrap();
        match (io_control_code & 0xFFC) >> 2 {
            QUERY => query(k, irp, &mut cur, buffer, in_len, &mut out_len)?,
            READ => read(k, &mut cur, buffer, in_len, out_len)?,
            CLEAN => clean(k, &mut cur)?,
            other => panic!("got an unknown message {other}"),
        }
        let i = k.irp_mut(irp)?;
        i.io_status.status = NtStatus::SUCCESS;
        i.io_status.information = out_len as u64;
        k.io_complete_request(irp)?;
        Ok(NtStatus::SUCCESS)
    }
}

/// `TestCleanEverything`: with an MDL in use, `MmUnmapLockedPages` of the user mapping
/// (if any) and `MmUnlockPages` each raise nothing (its two `ok_eq_hex`); then the MDL
/// and the buffer are freed.
fn clean(k: &mut Kernel<'_>, cur: &mut Current) -> Result<()> {
    let Some(mdl) = cur.mdl else {
        return Ok(());
    };
    if let Some(user) = cur.user.take() {
        let r = k.try_except(|k| k.mm_unmap_locked_pages(user, mdl))?;
        assert_eq!(r, Ok(()), "MmUnmapLockedPages of the user mapping");
    }
    let r = k.try_except(|k| k.mm_unlock_pages(mdl))?;
    assert_eq!(r, Ok(()), "MmUnlockPages");
    k.io_free_mdl(mdl)?;
    // MmFreeNonCachedMemory for the non-cached rows: their stand-in is pool too.
    let buffer = cur.buffer.take().expect("the buffer the MDL describes");
    k.ex_free_pool_with_tag(buffer, TAG)?;
    cur.mdl = None;
    Ok(())
}

/// `IOCTL_QUERY_BUFFER`: the SystemBuffer is there with both lengths 24; no MDL is in use
/// (the previous message cleaned); the request comes from user mode (`ExGetPreviousMode`:
/// the IRP's `RequestorMode`); the length is not 0; the buffer (pool, or the non-cached
/// stand-in), its MDL and the lock `MmProbeAndLockPages(KernelMode, IoWriteAccess)`
/// succeed; the IRQL is at most `APC_LEVEL`; the user-mode map raises the status the user
/// part expects (unless -1) and returns an address exactly on success. The record goes
/// back with the address (NULL on failure) and the status raised.
fn query(
    k: &mut Kernel<'_>,
    irp: IrpId,
    cur: &mut Current,
    buffer: Option<Va>,
    in_len: u32,
    out_len: &mut u32,
) -> Result<()> {
    assert!(buffer.is_some(), "Buffer is NULL");
    assert_eq!(in_len, RECORD);
    assert_eq!(*out_len, RECORD);
    assert_eq!(cur.mdl, None);
    clean(k, cur)?;
    assert_eq!(
        k.irp(irp)?.requestor_mode,
        AccessMode::UserMode,
        "not from user mode"
    );
    let sb = buffer.unwrap();
    let mut q = Query::decode(&k.kernel_read(sb, RECORD as u64)?);
    let cache = if q.cached {
        CacheType::Cached
    } else {
        CacheType::NonCached
    };
    let length = q.length as u64;
    cur.user = None;
    assert!(length > 0, "null size");
    let block = if q.cached {
        let b = k.ex_allocate_pool_with_tag(PoolType::NonPaged, length, TAG)?;
        assert!(b.is_some(), "ExAllocatePool failed");
        b.unwrap()
    } else {
        // The stand-in for MmAllocateNonCachedMemory(Length), zeroed as the source does.
        let whole = round_to_pages(length).unwrap();
        let b = k.ex_allocate_pool_with_tag(PoolType::NonPaged, whole, TAG)?;
        let b = b.expect("the non-cached stand-in");
        k.kernel_zero(b, length)?;
        b
    };
    cur.buffer = Some(block);
    let mdl = k.io_allocate_mdl(block, length as u32, false, false, None)?;
    assert!(mdl.is_some(), "IoAllocateMdl failed");
    let mdl = mdl.unwrap();
    cur.mdl = Some(mdl);
    let r = k.try_except(|k| {
        k.mm_probe_and_lock_pages(mdl, AccessMode::KernelMode, LockOperation::IoWriteAccess)
    })?;
    assert_eq!(r, Ok(()), "MmProbeAndLockPages");
    assert!(
        k.ke_get_current_irql() <= Kirql::APC_LEVEL,
        "IRQL > APC_LEVEL"
    );
    let base = Some(q.buffer).filter(|&b| b != Va::NULL);
    let r = k.try_except(|k| {
        k.mm_map_locked_pages_specify_cache(
            mdl,
            AccessMode::UserMode,
            cache,
            base,
            false,
            priority::NORMAL,
        )
    })?;
    let (seh, user) = match r {
        Ok(user) => (NtStatus::SUCCESS, user),
        Err(status) => (status, None),
    };
    cur.user = user;
    if q.status != UNCHECKED {
        assert_eq!(
            seh, q.status,
            "the status MmMapLockedPagesSpecifyCache raised"
        );
        if q.status.is_success() {
            assert!(user.is_some(), "MmMapLockedPagesSpecifyCache failed");
        } else {
            assert!(user.is_none(), "MmMapLockedPagesSpecifyCache succeeded");
        }
    }
    q.status = seh;
    q.buffer = user.unwrap_or(Va::NULL);
    k.kernel_write(sb, &q.encode())?;
    *out_len = RECORD;
    Ok(())
}

/// `IOCTL_READ_BUFFER`: the SystemBuffer is there, 24 bytes in and none out; an MDL is
/// in use; if the record names the current user mapping, `MmGetSystemAddressForMdlSafe`
/// gives a kernel address, the length is a whole number of ULONGs, and every ULONG of
/// the buffer read through it is the pattern the user part wrote through the mapping.
/// Then everything is cleaned.
fn read(
    k: &mut Kernel<'_>,
    cur: &mut Current,
    buffer: Option<Va>,
    in_len: u32,
    out_len: u32,
) -> Result<()> {
    assert!(buffer.is_some(), "Buffer is NULL");
    assert_eq!(in_len, RECORD);
    assert_eq!(out_len, 0);
    assert!(cur.mdl.is_some(), "MDL is not in use");
    let r = ReadRecord::decode(&k.kernel_read(buffer.unwrap(), RECORD as u64)?);
    if r.buffer == cur.user.unwrap_or(Va::NULL) && r.buffer != Va::NULL {
        let kbuffer = k.mm_get_system_address_for_mdl_safe(cur.mdl, priority::NORMAL)?;
        assert!(kbuffer.is_some(), "failed to get a kernel-mode pointer");
        assert_eq!(r.length % 4, 0, "invalid size");
        let bytes = k.kernel_read(kbuffer.unwrap(), r.length as u64)?;
        for (i, word) in bytes.chunks_exact(4).enumerate() {
            let word = u32::from_le_bytes(word.try_into().unwrap());
            assert_eq!(word, r.pattern, "ULONG {i} read back through the kernel");
        }
    }
    clean(k, cur)
}

/// The user part's side: kmtest's process, with a page for the records it sends, and the
/// test driver's device.
struct Kmt {
    m: Machine,
    dev: DeviceId,
    pid: Pid,
    tid: Tid,
    records: Va,
}

impl Kmt {
    /// `KmtLoadAndOpenDriver` (its own `ok` is the backlog: no service manager or file
    /// objects), on the Windows the test describes.
    fn load() -> Kmt {
        let mut m = Machine::new(Config::default().windows(WindowsVersion::Server2003)).unwrap();
        let drv = m
            .io_register_driver("MmMapLockedPagesSpecifyCache", Arc::new(MapTest::default()))
            .unwrap();
        let dev = m
            .io_create_device(drv, "\\Device\\Kmtest-MmMapLockedPagesSpecifyCache", 0)
            .unwrap();
        let (pid, tid) = app(&mut m, "kmtest");
        let records = alloc(&mut m, pid, PAGE_SIZE);
        Kmt {
            m,
            dev,
            pid,
            tid,
            records,
        }
    }

    /// `KmtSendBufferToDriver(message, record, in, &out)` — the user part's
    /// "`== ERROR_SUCCESS`" `ok`: the IOCTL succeeds. Returns the record as copied back.
    fn send(&mut self, message: u32, record: Option<[u8; 24]>, out_len: u32) -> Vec<u8> {
        let (input, in_len) = match record {
            Some(bytes) => {
                self.m.user_write(self.pid, self.records, &bytes).unwrap();
                (Some(self.records), RECORD)
            }
            None => (None, 0),
        };
        let iosb = self.records.checked_add(0x100).unwrap();
        let r = self
            .m
            .nt_device_io_control_file(
                self.tid,
                self.dev,
                Some(iosb),
                kmt_code(message),
                input,
                in_len,
                input,
                out_len,
            )
            .unwrap();
        assert_eq!(
            r.status,
            NtStatus::SUCCESS,
            "KmtSendBufferToDriver({message})"
        );
        self.m
            .user_read(self.pid, self.records, RECORD as u64)
            .unwrap()
    }

    /// `IOCTL_QUERY_BUFFER` with a record of `sizeof(QUERY_BUFFER)` both ways; the length
    /// comes back as sent (`ok_eq_int`).
    fn query(&mut self, q: Query) -> Query {
        let back = Query::decode(&self.send(QUERY, Some(q.encode()), RECORD));
        assert_eq!(back.length, q.length, "QueryBuffer.Length");
        back
    }

    /// `FILL_READ_BUFFER` then `IOCTL_READ_BUFFER`: the pattern written through the user
    /// mapping, one ULONG at a time over the length; returns the record sent.
    fn read(&mut self, q: &Query) -> ReadRecord {
        assert_ne!(q.buffer, Va::NULL, "Buffer is NULL");
        let r = ReadRecord {
            length: q.length,
            buffer: q.buffer,
            pattern: PATTERN,
        };
        let words: Vec<u8> = (0..r.length / 4)
            .flat_map(|_| PATTERN.to_le_bytes())
            .collect();
        self.m.user_write(self.pid, r.buffer, &words).unwrap();
        self.send(READ, Some(r.encode()), 0);
        r
    }

    /// `IOCTL_CLEAN`, with no record.
    fn clean(&mut self) {
        self.send(CLEAN, None, 0);
    }

    /// `CHECK_ALLOC`: over the mapping, `NtAllocateVirtualMemory(MEM_RESERVE)` is
    /// `STATUS_CONFLICTING_ADDRESSES`, and `NtFreeVirtualMemory` with `MEM_DECOMMIT` and
    /// with `MEM_RELEASE` (size 0) are `STATUS_UNABLE_TO_DELETE_SECTION`. (Its
    /// `NtUnmapViewOfSection` check is the backlog.)
    fn check_alloc(&mut self, mapped: Va, len: u16) {
        let (m, pid) = (&mut self.m, self.pid);
        let reserve = m.virtual_alloc(
            pid,
            Some(mapped),
            len as u64,
            MEM_RESERVE,
            Protection::ReadWrite,
        );
        expect_status(reserve, NtStatus::CONFLICTING_ADDRESSES);
        expect_status(
            m.virtual_free(pid, mapped, 0, MEM_DECOMMIT),
            NtStatus::UNABLE_TO_DELETE_SECTION,
        );
        expect_status(
            m.virtual_free(pid, mapped, 0, MEM_RELEASE),
            NtStatus::UNABLE_TO_DELETE_SECTION,
        );
    }

    /// One row of the sizes: query, `Length` back, a non-NULL address, `CHECK_ALLOC`,
    /// then the pattern read back. Returns the address (the next row's "free" one).
    fn row(&mut self, length: u16, cached: bool) -> Va {
        let q = self.query(Query::new(length, cached));
        assert_ne!(
            q.buffer,
            Va::NULL,
            "{length} bytes, cached {cached}: Buffer is NULL"
        );
        self.check_alloc(q.buffer, length);
        self.read(&q).buffer
    }

    /// Nothing left: no MDL, mapping, pool block, system PTE or locked page; audit clean.
    fn assert_clean(&self) {
        assert!(self.m.crashed().is_none());
        assert_clean(&self.m);
    }
}

/// A service's status, as the user part's `ok_eq_hex` reads it.
fn expect_status<T: std::fmt::Debug>(r: Result<T>, status: NtStatus) {
    match r {
        Err(Fault::Status(s)) => assert_eq!(s, status),
        other => panic!("expected {status:?}, got {other:?}"),
    }
}

/// `HighestAddress`: `MaximumUserModeAddress` rounded down to a page (the model's
/// `MM_HIGHEST_USER_ADDRESS`; the test's `NtQuerySystemInformation` is the backlog).
fn highest_address() -> Va {
    MM_HIGHEST_USER_ADDRESS.page_align()
}

/// "Less than a page", "1 page", "more than 1 page", "2 pages", "more than 2 pages":
/// 2048, 4096, 6144, 8192 and 10240 bytes, each non-cached then cached. Every row maps
/// into the caller at a non-NULL address with the length unchanged, the mapping can
/// neither be reserved over nor decommitted nor released from user mode, and the pattern
/// the caller writes through it is what the driver reads through its kernel address.
#[test]
fn every_size_maps_into_the_caller_and_reads_back_through_the_kernel() {
    let mut kmt = Kmt::load();
    for length in [2048, 4096, 4096 + 2048, 2 * 4096, 2 * 4096 + 2048] {
        for cached in [false, true] {
            kmt.row(length, cached);
        }
    }
    kmt.assert_clean();
}

/// "ask for a specific address": the address the last row mapped at, now free again,
/// asked for explicitly — the buffer maps exactly there (the source's check says "Buffer
/// is NULL" when it does not), `CHECK_ALLOC` holds, the pattern reads back.
#[test]
fn a_free_user_address_asked_for_is_where_the_buffer_maps() {
    let mut kmt = Kmt::load();
    let free = kmt.row(2 * 4096 + 2048, true);
    let q = kmt.query(Query {
        buffer: free,
        ..Query::new(4096, false)
    });
    assert_eq!(q.buffer, free);
    kmt.check_alloc(q.buffer, 4096);
    kmt.read(&q);
    kmt.assert_clean();
}

/// "ask for an unaligned address": half a page into that free address, the driver
/// expects `STATUS_INVALID_ADDRESS` raised and no mapping; the record comes back with a
/// NULL address; `IOCTL_CLEAN` succeeds.
#[test]
fn an_unaligned_user_address_raises_invalid_address() {
    let mut kmt = Kmt::load();
    let free = kmt.row(4096, false);
    let q = kmt.query(Query {
        buffer: free.checked_add(2048).unwrap(),
        status: NtStatus::INVALID_ADDRESS,
        ..Query::new(4096, false)
    });
    assert_eq!(q.buffer, Va::NULL, "Buffer is not NULL");
    kmt.clean();
    kmt.assert_clean();
}

/// "near MmHighestUserAddress" (Server 2003): a page at 15 pages below the highest user
/// address rounded down ends above the highest address a VAD may cover (64 KiB below the
/// highest user address): `STATUS_INVALID_ADDRESS` raised, a NULL address back;
/// `IOCTL_CLEAN` succeeds.
#[test]
fn a_user_address_in_the_last_64_kib_below_the_highest_raises_invalid_address() {
    let mut kmt = Kmt::load();
    let q = kmt.query(Query {
        buffer: Va::new(highest_address().raw() - 15 * PAGE_SIZE),
        status: NtStatus::INVALID_ADDRESS,
        ..Query::new(4096, false)
    });
    assert_eq!(q.buffer, Va::NULL, "Buffer is not NULL");
    kmt.clean();
    kmt.assert_clean();
}

/// "far enough away from MmHighestUserAddress": a page at 16 pages below it, with the
/// status left unchecked by the driver (-1): it comes back `STATUS_SUCCESS` or
/// `STATUS_CONFLICTING_ADDRESSES` (something of the process's may live there);
/// `IOCTL_CLEAN` succeeds (and unmaps it).
#[test]
fn a_user_address_16_pages_below_the_highest_maps_or_conflicts() {
    let mut kmt = Kmt::load();
    let q = kmt.query(Query {
        buffer: Va::new(highest_address().raw() - 16 * PAGE_SIZE),
        status: UNCHECKED,
        ..Query::new(4096, false)
    });
    assert!(
        [NtStatus::SUCCESS, NtStatus::CONFLICTING_ADDRESSES].contains(&q.status),
        "Status = {:?}",
        q.status
    );
    kmt.clean();
    kmt.assert_clean();
}
