//! `mdlsim explain CLASS`: what a bug class is, the real-world situations behind it (the
//! [scenarios of design.md][design-scenarios]), and the scenario file (from
//! `examples/scenarios/`) that shows it.
//!
//! [design-scenarios]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#scenarios

use super::CliError;
use mdlsim::oracle::BugClass;
use mdlsim::scenario::{Body, Scenario};
use std::fmt::Write as _;

/// The example scenarios shipped in `examples/scenarios/` (file name, text).
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "seed000-directmap-read.json",
        include_str!("../../examples/scenarios/seed000-directmap-read.json"),
    ),
    (
        "seed000-directmap-write.json",
        include_str!("../../examples/scenarios/seed000-directmap-write.json"),
    ),
    (
        "seed000-headtail-read.json",
        include_str!("../../examples/scenarios/seed000-headtail-read.json"),
    ),
    (
        "seed000-headtail-write.json",
        include_str!("../../examples/scenarios/seed000-headtail-write.json"),
    ),
    (
        "seed000-unzeroed-substitute.json",
        include_str!("../../examples/scenarios/seed000-unzeroed-substitute.json"),
    ),
    (
        "seed000-copy-back-all.json",
        include_str!("../../examples/scenarios/seed000-copy-back-all.json"),
    ),
    (
        "seed000-unlock-partial.json",
        include_str!("../../examples/scenarios/seed000-unlock-partial.json"),
    ),
    (
        "seed000-writable-write-splice.json",
        include_str!("../../examples/scenarios/seed000-writable-write-splice.json"),
    ),
    (
        "seed000-free-substitute-while-mapped.json",
        include_str!("../../examples/scenarios/seed000-free-substitute-while-mapped.json"),
    ),
    (
        "seed000-leak-second-lock.json",
        include_str!("../../examples/scenarios/seed000-leak-second-lock.json"),
    ),
    (
        "seed001-zero-length-null-mdl.json",
        include_str!("../../examples/scenarios/seed001-zero-length-null-mdl.json"),
    ),
    (
        "seed001-zero-length-handled.json",
        include_str!("../../examples/scenarios/seed001-zero-length-handled.json"),
    ),
    (
        "seed001-portname-double-fetch.json",
        include_str!("../../examples/scenarios/seed001-portname-double-fetch.json"),
    ),
    (
        "seed001-portname-captured.json",
        include_str!("../../examples/scenarios/seed001-portname-captured.json"),
    ),
    (
        "seed003-notify-new-system-buffer.json",
        include_str!("../../examples/scenarios/seed003-notify-new-system-buffer.json"),
    ),
    (
        "seed004-freed-buffer-stays-pinned.json",
        include_str!("../../examples/scenarios/seed004-freed-buffer-stays-pinned.json"),
    ),
    (
        "seed004-app-changes-direct-buffer.json",
        include_str!("../../examples/scenarios/seed004-app-changes-direct-buffer.json"),
    ),
    (
        "seed004-exit-with-locked-pages.json",
        include_str!("../../examples/scenarios/seed004-exit-with-locked-pages.json"),
    ),
    (
        "seed004-exit-with-locked-pages-tracked.json",
        include_str!("../../examples/scenarios/seed004-exit-with-locked-pages-tracked.json"),
    ),
    (
        "seed004-rundown-stuck-irp.json",
        include_str!("../../examples/scenarios/seed004-rundown-stuck-irp.json"),
    ),
    (
        "seed004-rundown-completes-in-time.json",
        include_str!("../../examples/scenarios/seed004-rundown-completes-in-time.json"),
    ),
];

/// Shipped `"ops"` scenarios that show the mechanism a class abuses without the bug
/// (class, file, what it shows).
pub const RELATED: &[(BugClass, &str, &str)] = &[
    (
        BugClass::DoubleFetch,
        "seed004-app-changes-direct-buffer.json",
        "the app rewrites its buffer during a direct IRP and the driver's second read through the system mapping sees the new bytes",
    ),
    (
        BugClass::UseAfterComplete,
        "seed004-freed-buffer-stays-pinned.json",
        "a buffer the app frees during direct I/O stays pinned by the MDL until completion; its frames go to nobody else",
    ),
    (
        BugClass::UseAfterComplete,
        "seed003-notify-new-system-buffer.json",
        "FsRtl completes a pended notification through a new SystemBuffer that the I/O manager copies back and frees",
    ),
    (
        BugClass::LockLeak,
        "seed004-rundown-completes-in-time.json",
        "the control: the pended IRP completes within the five minutes and the process exits normally",
    ),
];

/// Every bug class, in the order of the oracle's enum ([`BugClass::ALL`]).
pub fn explain_all_classes() -> Vec<BugClass> {
    BugClass::ALL.to_vec()
}

/// Every class with what it is and the real-world cases behind it, in the order of
/// [`BugClass::ALL`] (one entry each: the length and the order are checked at compile time).
const TEXT: [(BugClass, &str, &str); BugClass::ALL.len()] = [
    (
        BugClass::PartialPageExposure,
        "A mapping exposes whole pages. A client buffer that starts or ends inside a page, mapped directly into another process, lets that process read (and for a writable mapping, change) the client's bytes on either side of the I/O range.",
        "a proxy file system that maps its clients' ReadFile/WriteFile buffers straight into its user-mode server (\"the user-mode file system will be able to read and/or modify content outside the bounds of the I/O buffer\"); Microsoft's \"Errors in Direct I/O\" (the in-page offset of the user address becomes the offset in the system page).",
    ),
    (
        BugClass::UnsanitizedSubstitute,
        "A substitute or bounce page spliced in for the head and tail of an unaligned buffer still holds what its previous owner left there (pool allocations and MM_DONT_ZERO_ALLOCATION frames are not zeroed), and the server reads it.",
        "the proxy file system's head/tail substitution: fresh pages stand in for the partial first and last pages, with only the in-range bytes copied in, and they must be zeroed first (pool allocations and MM_DONT_ZERO_ALLOCATION pages are not).",
    ),
    (
        BugClass::CopyBackError,
        "For a READ, the data the server produced is not copied back into the client's buffer, is copied to the wrong offset, or bytes the server never wrote (stale or zero) are copied over the client's.",
        "the proxy file system's head/tail substitution (after the server fills the substitute head/tail pages, the driver must copy exactly the in-range bytes back, and only Information bytes).",
    ),
    (
        BugClass::SpanArithmetic,
        "Page-count and offset arithmetic gone wrong: the head and tail fall in one page, the buffer ends exactly on a page boundary, the byte offset counted twice, ADDRESS_AND_SIZE_TO_SPAN_PAGES guessed instead of computed.",
        "the proxy file system (the head and tail pages of an unaligned buffer); Microsoft's \"Errors in Direct I/O\" (\"the offset into the virtual page of the user's address becomes the offset into the system page\").",
    ),
    (
        BugClass::CopyInError,
        "A WRITE's data not copied into what the server is shown: the server reads zeros, stale bytes or the wrong offset instead of the client's bytes.",
        "the proxy file system (a bounce or substitute page of a WRITE must be filled from the client's buffer before the server runs).",
    ),
    (
        BugClass::OutOfBounds,
        "The driver touched an address outside every live mapping or allocation it was given (bug check 0x50 on an address that was never mapped to it), typically from span arithmetic that ran past the end of a mapping.",
        "Microsoft's \"Errors in Direct I/O\" (a buffer's length and offset must be computed from the MDL); the proxy file system's head/tail substitution (the last page's offset).",
    ),
    (
        BugClass::MapUnlocked,
        "An MDL is mapped (MmMapLockedPagesSpecifyCache, MmGetSystemAddressForMdlSafe) whose pages are not locked, or that lacks MDL_PAGES_LOCKED / MDL_SOURCE_IS_NONPAGED_POOL.",
        "sharing memory between user and kernel through an MDL (lock first, then map).",
    ),
    (
        BugClass::UnlockMisuse,
        "MmUnlockPages on an MDL that was never locked: a partial MDL (IoBuildPartialMdl), one built by MmBuildMdlForNonPagedPool, a substitute, or a second unlock.",
        "the proxy file system's head/tail substitution (partial MDLs and spliced MDLs are described, not locked; only the original is unlocked).",
    ),
    (
        BugClass::LockLeak,
        "Pages still locked after the request completed or when the process exits (PROCESS_HAS_LOCKED_PAGES, 0x76).",
        "the proxy file system (every lock the driver takes must be undone on every path: reply, cancel, exit); sharing memory between user and kernel through an MDL (unlock and free before the driver unloads); who owns a buffer during direct I/O (a process that exits with pages a driver left locked bug-checks 0x76; an IRP stuck past the five-minute rundown keeps its pages locked \"forever\").",
    ),
    (
        BugClass::UnmapMismatch,
        "MmUnmapLockedPages with another MDL, address or size than the mapping, or a user mapping unmapped outside the process that owns it.",
        "the proxy file system (the server mapping must be undone in the server's context, also when completion runs elsewhere); sharing memory between user and kernel through an MDL.",
    ),
    (
        BugClass::MdlMutatedWhileMapped,
        "An MDL's PFN array, StartVa or ByteCount changed between map and unmap (the splice rewrites the PFN array of a mapped MDL).",
        "the proxy file system's head/tail substitution (splicing substitute frames into the PFN array: do it before mapping, never while mapped).",
    ),
    (
        BugClass::FreeWhileMapped,
        "An MDL, or a substitute page, freed while still mapped.",
        "the proxy file system's head/tail substitution (the substitute head/tail pages live as long as the server's mapping); sharing memory between user and kernel through an MDL.",
    ),
    (
        BugClass::UseAfterComplete,
        "An MDL or a page used after the request completed (the I/O manager unlocked and freed the MDL at completion).",
        "who owns a buffer and its MDL once a direct-I/O IRP completes; the directory change notification (the new SystemBuffer the file system puts into the pended IRP is the I/O manager's to copy back and free at completion).",
    ),
    (
        BugClass::MappingOutlivesProcess,
        "A user-mode mapping left in a process that exits (PROCESS_HAS_LOCKED_PAGES / the mapping is torn down underneath the driver), or a mapping made into a terminating process.",
        "the proxy file system (the server may crash or exit with the client's pages mapped); sharing memory between user and kernel through an MDL (kernel memory mapped into a user process must be unmapped before that process goes away).",
    ),
    (
        BugClass::DoubleFetch,
        "The kernel reads the same user-writable bytes twice in one operation (validates, then uses): another thread can change them in between.",
        "Microsoft's \"Errors in Direct I/O\" (\"if the calling process has another thread that modifies the user's mapping of the memory\" between the driver's check and its use; the PortName example).",
    ),
    (
        BugClass::UnprobedUserAccess,
        "A driver dereferenced a user-supplied address (METHOD_NEITHER's Type3InputBuffer or UserBuffer) without ProbeForRead/ProbeForWrite, or outside __try/__except: a kernel address passed by a hostile app is read or written, a freed page bug checks.",
        "Microsoft's \"Handling Exceptions\" and the ProbeForRead/ProbeForWrite pages; IOCTL handlers under METHOD_NEITHER (the IOCTL buffers the app frees, rewrites or abandons).",
    ),
    (
        BugClass::KernelBytesToUser,
        "Kernel bytes the driver did not write reached user mode: Information larger than what the driver wrote makes the I/O manager copy an uninitialised SystemBuffer's stale pool bytes back to the app.",
        "IOCTL handlers under METHOD_BUFFERED (the Bochspwn Reloaded class: uninitialised pool and stack bytes disclosed to user mode).",
    ),
    (
        BugClass::AccessModeMismatch,
        "Written through an MDL probed for read (IoReadAccess), or a WRITE's buffer mapped writable into the server, which can then change the client's data.",
        "the proxy file system (a WRITE's buffer mapped into the server must be read-only); Microsoft's \"Errors in Direct I/O\" (an MDL probed for IoReadAccess must not be written through); sharing memory between user and kernel through an MDL.",
    ),
    (
        BugClass::ZeroLengthOrNullMdl,
        "A zero-length direct-I/O request has Irp->MdlAddress == NULL; a driver that maps it without checking (or passes ByteCount 0 to an MDL routine) crashes.",
        "Microsoft's \"Errors in Direct I/O\" (\"the most common direct I/O problem is failing to handle zero-length buffers correctly\").",
    ),
    (
        BugClass::StatusInconsistent,
        "The dispatch routine's return value and the IRP disagree: it returned a status other than the IoStatus.Status it completed with, STATUS_PENDING for a request it never pended, a non-pending status after IoMarkIrpPending, or the request was never completed.",
        "Microsoft's \"Completing IRPs\" and IoMarkIrpPending; who owns a buffer during direct I/O (a pended IRP the driver forgets).",
    ),
    (
        BugClass::IrqlViolation,
        "A DDI called, or user memory touched, at too high an IRQL: MmProbeAndLockPages above DISPATCH_LEVEL, a user-mode mapping above APC_LEVEL, the caller's buffer read while a spin lock is held (a page fault at DISPATCH_LEVEL is bug check 0xD1), KeRaiseIrql/KeLowerIrql/KeReleaseSpinLock misused, a system service returning to user mode at a raised IRQL (0x4A).",
        "Microsoft's \"Managing Hardware Priorities\" and each DDI's IRQL requirement, checked by Driver Verifier (0xC4 0x30-0x42, 0x70-0x7E); completion routines and DPCs run at DISPATCH_LEVEL.",
    ),
    (
        BugClass::DuplicateSystemMapping,
        "A second system mapping of one MDL (MmMapLockedPages on an MDL already carrying MDL_MAPPED_TO_SYSTEM_VA).",
        "the directory change notification (a filter mapping the caller's buffer while the file system maps it too; FltGetNewSystemBufferAddress).",
    ),
    (
        BugClass::CacheAttributeConflict,
        "One frame mapped with two cache types (MmCached and MmNonCached): undefined behaviour on real hardware.",
        "sharing memory between user and kernel through an MDL (mapping shared memory with MmMapLockedPagesSpecifyCache: the cache type must agree).",
    ),
    (
        BugClass::NestedMappingHazard,
        "A virtual address that is itself an MDL user mapping handed to another probe/lock (the mapping can vanish underneath the second lock).",
        "who owns a buffer during direct I/O (buffers handed from one driver to another; ownership of MDL-mapped memory).",
    ),
    (
        BugClass::ResourceFailureUnhandled,
        "System PTE or pool exhaustion, or a raised failure of a user-mode map, not handled: MmGetSystemAddressForMdlSafe returned NULL and the driver used it.",
        "Microsoft's \"Errors in Direct I/O\" (\"drivers should always check for a NULL return\"); sharing memory between user and kernel through an MDL (MmMapLockedPagesSpecifyCache raises in user mode).",
    ),
    (
        BugClass::ResourceLeak,
        "Something the driver allocated (pool, an MDL, system PTEs, a mapping) is not given back when the request is done.",
        "the proxy file system and sharing memory between user and kernel through an MDL (every allocation on every path: reply, cancel, exit); who owns a buffer during direct I/O (an IRP that outlives the five-minute I/O rundown is never freed: an I/O rundown failure).",
    ),
    (
        BugClass::Crash,
        "Any other bug check or unhandled exception the strategy caused.",
        "every situation above: the model turns misuse into the real bug check.",
    ),
    (
        BugClass::ModelInvariant,
        "The model's own books do not balance (Machine::audit()): a model bug, or PFN corruption by the strategy.",
        "none: this is the model checking itself.",
    ),
];

// TEXT names the classes of BugClass::ALL, in its order.
const _: () = {
    let mut i = 0;
    while i < TEXT.len() {
        assert!(TEXT[i].0 as u8 == BugClass::ALL[i] as u8);
        i += 1;
    }
};

/// (what it is, the real-world cases behind it).
fn text(c: BugClass) -> (&'static str, &'static str) {
    let (_, what, seeds) = TEXT
        .iter()
        .find(|(k, ..)| *k == c)
        .expect("TEXT has an entry for every class");
    (what, seeds)
}

/// The explanation of `class`: what it is, the real-world situations behind it, the
/// scenario that shows it.
///
/// # Errors
/// Never for a known class (the `Result` is for the caller's name lookup symmetry).
pub fn explain(class: BugClass) -> Result<String, CliError> {
    let (what, seeds) = text(class);
    let mut s = String::new();
    let _ = writeln!(s, "{class}\n");
    let _ = writeln!(s, "What it is:\n  {what}\n");
    let _ = writeln!(s, "Real-world cases:\n  {seeds}\n");
    let mut shows: Vec<(&str, Scenario)> = EXAMPLES
        .iter()
        .filter_map(|(f, t)| Scenario::parse(f, t).ok().map(|sc| (*f, sc)))
        .filter(|(_, sc)| sc.expect.findings.contains(&class))
        .collect();
    // The most specific first: fewest classes found (a stable sort keeps shipping order).
    shows.sort_by_key(|(_, sc)| sc.expect.findings.len());
    let broken: Vec<String> = mdlsim::strategy::builtins()
        .iter()
        .filter(|b| b.expected() == Some(class))
        .map(|b| b.name())
        .collect();
    match shows.first() {
        Some((file, sc)) => {
            let _ = writeln!(s, "A minimal scenario that shows it ({file}):");
            if !sc.description.is_empty() {
                let _ = writeln!(s, "  {}", sc.description);
            }
            match &sc.scenario {
                Body::Case { strategy, case } => {
                    let _ = writeln!(s, "  strategy {strategy}, case {}", case.to_json());
                }
                Body::Ops { ops, .. } => {
                    let names: Vec<&str> = ops.iter().map(|o| o.name()).collect();
                    let _ = writeln!(s, "  {} kernel operations: {}", ops.len(), names.join(", "));
                }
            }
            let _ = writeln!(s, "\nReplay it:\n  mdlsim replay --example {}", stem(file));
            for (f, _) in shows.iter().skip(1) {
                let _ = writeln!(s, "  mdlsim replay --example {}", stem(f));
            }
        }
        None => {
            let _ = writeln!(
                s,
                "No shipped scenario shows it yet; the model's test suites (tests/*.rs) and the oracle's negative controls do."
            );
        }
    }
    let related: Vec<&(BugClass, &str, &str)> =
        RELATED.iter().filter(|(c, _, _)| *c == class).collect();
    if !related.is_empty() {
        let _ = writeln!(s, "\nThe mechanism behind it, with no bug (kind \"ops\"):");
        for (_, f, why) in related {
            let _ = writeln!(s, "  {why}");
            let _ = writeln!(s, "  mdlsim replay --example {}", stem(f));
        }
    }
    let drivers: Vec<mdlsim::verify_driver::ZooDriver> = mdlsim::verify_driver::zoo()
        .into_iter()
        .filter(|z| z.expected == Some(class))
        .collect();
    if !drivers.is_empty() {
        let _ = writeln!(
            s,
            "\nThe driver zoo shows it (`mdlsim audit` runs it through the driver harness):"
        );
        for z in drivers {
            let _ = writeln!(s, "  {}: {}", z.driver.name, z.pattern);
        }
    }
    if !broken.is_empty() {
        let _ = writeln!(s, "\nFind it afresh:");
        for b in broken {
            let _ = writeln!(s, "  mdlsim audit --strategy {b} --out counterexamples/");
        }
    }
    Ok(s)
}

/// A shipped example's name without `.json`: what `replay --example` takes.
fn stem(file: &str) -> &str {
    file.strip_suffix(".json").unwrap_or(file)
}

/// The shipped example scenario called `name` ([`EXAMPLES`]; `.json` and case optional):
/// its file name and text, what `mdlsim replay --example NAME` plays.
///
/// # Errors
/// No example is called that; the message lists them.
///
/// ```
/// let (file, text) = mdlsim_cli::example("Seed000-DirectMap-Read").unwrap();
/// assert_eq!(file, "seed000-directmap-read.json");
/// assert!(text.contains("DirectMap"));
/// ```
pub fn example(name: &str) -> Result<(&'static str, &'static str), CliError> {
    let want = stem(name.trim());
    EXAMPLES
        .iter()
        .find(|(f, _)| stem(f).eq_ignore_ascii_case(want))
        .copied()
        .ok_or_else(|| {
            CliError(format!(
                "no shipped example `{name}`; expected one of {}",
                EXAMPLES
                    .iter()
                    .map(|(f, _)| stem(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}
