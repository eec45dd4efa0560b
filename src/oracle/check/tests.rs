//! The oracle's rules on hand-made labels, spans and access logs.

use super::*;

fn o(pid: u32, va: u64) -> Label {
    Label::Origin {
        space: SpaceId::Process(Pid(pid)),
        va: Va::new(va),
    }
}

#[test]
fn diff_spans_finds_exactly_the_changed_bytes() {
    let before = [LabelSpan {
        len: 100,
        label: o(1, 0x1000),
    }];
    let after = [
        LabelSpan {
            len: 10,
            label: o(1, 0x1000),
        },
        LabelSpan {
            len: 5,
            label: Label::Zero,
        },
        LabelSpan {
            len: 85,
            label: o(1, 0x100F),
        },
    ];
    assert_eq!(diff_spans(&before, &after), vec![(10, 5, Label::Zero)]);
    assert!(diff_spans(&before, &before).is_empty());
}

#[test]
fn diff_spans_merges_runs_of_unequal_lengths_by_adding_them() {
    // Chunks of 3 and 5 bytes (split by `before`) of one continuing run: 8 bytes.
    let zero = |len| LabelSpan {
        len,
        label: Label::Zero,
    };
    let after = [LabelSpan {
        len: 8,
        label: o(3, 0x50),
    }];
    assert_eq!(
        diff_spans(&[zero(3), zero(5)], &after),
        vec![(0, 8, o(3, 0x50))]
    );
}

fn span(len: u64, label: Label) -> LabelSpan {
    LabelSpan { len, label }
}

/// The request of the server and client tests: client 1, server 2, a READ of
/// `[0x10100, 0x10200)` in the client's allocation at 0x10000.
fn read_subject() -> Subject {
    Subject {
        client: Pid(1),
        server: Pid(2),
        direction: Direction::Read,
        buffer: Va::new(0x10100),
        length: 0x100,
    }
}

/// An access by process `actor` at 0x50000 in its own space, of the bytes `labels` name.
fn access_by(actor: u32, write: bool, labels: Vec<LabelSpan>) -> Access {
    Access {
        step: 3,
        actor: Actor::User(Pid(actor)),
        space: SpaceId::Process(Pid(actor)),
        va: Va::new(0x50000),
        pfn: Pfn(7),
        offset: 0,
        len: labels.iter().map(|l| l.len).sum::<u64>() as u16,
        write,
        labels,
    }
}

/// A `before` span partly consumed, then an `after` span longer than its rest: the
/// chunk is the rest of the `before` span, not more (the bytes after it are equal).
#[test]
fn diff_spans_steps_by_the_shorter_remainder_on_either_side() {
    let (a, c, d) = (o(1, 0x1000), o(2, 0x2000), o(3, 0x3000));
    let before = [span(10, a), span(14, d.advance(6))];
    let after = [span(4, c), span(20, d)];
    assert_eq!(diff_spans(&before, &after), vec![(0, 4, c), (4, 6, d)]);
    // And the mirror image: `after` partly consumed.
    let before = [span(4, c), span(20, d)];
    let after = [span(10, a), span(14, d.advance(6))];
    assert_eq!(diff_spans(&before, &after), vec![(0, 10, a)]);
}

/// A client byte from just before the request's range is outside it, even though it
/// ends inside: the server must not see it.
#[test]
fn server_reading_client_bytes_before_the_range_is_an_exposure() {
    let s = read_subject();
    let read = |origin: u64, len: u64| access_by(2, false, vec![span(len, o(1, origin))]);
    let found = server_reads(&[read(0x100F0, 0x10)], &s);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, BugClass::PartialPageExposure);
    assert!(server_reads(&[read(0x10100, 0x100)], &s).is_empty());
    assert_eq!(server_reads(&[read(0x10180, 0x100)], &s).len(), 1);
}

fn at(va: u64) -> (SpaceId, Va) {
    (SpaceId::Process(Pid(1)), Va::new(va))
}

#[test]
fn collector_keeps_one_finding_per_class_and_rule() {
    let mut c = Collector::default();
    let k = BugClass::CopyBackError;
    c.add(k, Rule::Integrity, Some(1), at(0x10), Some(o(2, 0)), 4, "a");
    c.add(
        k,
        Rule::Delivery,
        Some(1),
        at(0x20),
        Some(Label::Zero),
        4,
        "b",
    );
    c.add(k, Rule::Integrity, Some(2), at(0x30), Some(o(2, 0)), 4, "c");
    let rules: Vec<Rule> = c.found.iter().map(|f| f.rule).collect();
    assert_eq!(rules, vec![Rule::Integrity, Rule::Delivery]);
    assert_eq!(c.found[0].addresses, vec![at(0x10), at(0x30)]);
    // At most four addresses per finding.
    for va in [0x40, 0x50, 0x60, 0x70] {
        c.add(k, Rule::Integrity, Some(3), at(va), None, 1, "d");
    }
    assert_eq!(
        c.found[0].addresses,
        vec![at(0x10), at(0x30), at(0x40), at(0x50)]
    );
    // The detail counts every byte of the rule (4 + 4 + 4 × 1), and the run of the first.
    let found = c.finish();
    assert!(
        found[0]
            .detail
            .starts_with("a: 12 byte(s), the first offending one at ")
            && found[0].detail.ends_with("(in a run of 4)"),
        "{}",
        found[0].detail
    );
}

#[test]
fn collector_lists_each_provenance_once() {
    let mut c = Collector::default();
    let k = BugClass::PartialPageExposure;
    for label in [o(2, 0), o(2, 0), o(3, 0x40), o(2, 0)] {
        c.add(k, Rule::Integrity, None, at(0x10), Some(label), 1, "x");
    }
    assert_eq!(c.found.len(), 1);
    assert_eq!(c.found[0].provenance, vec![o(2, 0), o(3, 0x40)]);
    // At most four origins per finding.
    for pid in 4..8 {
        c.add(k, Rule::Integrity, None, at(0x10), Some(o(pid, 0)), 1, "x");
    }
    assert_eq!(
        c.found[0].provenance,
        vec![o(2, 0), o(3, 0x40), o(4, 0), o(5, 0)]
    );
}

#[test]
fn client_after_names_the_label_of_the_first_byte_outside_the_range() {
    // The client's allocation starts at 0x10000; the request is [0x10100, 0x10200).
    // A foreign run written over [0x100F0, 0x10210) crosses both edges: the part
    // after the range starts 0x120 bytes into the run.
    let s = read_subject();
    let before = [LabelSpan {
        len: 0x1000,
        label: o(1, 0x10000),
    }];
    let third = o(9, 0x5000);
    let after = [
        LabelSpan {
            len: 0xF0,
            label: o(1, 0x10000),
        },
        LabelSpan {
            len: 0x120,
            label: third,
        },
        LabelSpan {
            len: 0x1000 - 0x210,
            label: o(1, 0x10210),
        },
    ];
    let found = client_after(&before, &after, Va::new(0x10000), &s, 0x100, 7);
    let integrity = found
        .iter()
        .find(|f| f.rule == Rule::Integrity)
        .expect("an integrity finding");
    assert_eq!(integrity.kind, BugClass::CopyBackError);
    assert_eq!(
        integrity.addresses,
        vec![
            (SpaceId::Process(Pid(1)), Va::new(0x100F0)),
            (SpaceId::Process(Pid(1)), Va::new(0x10200))
        ]
    );
    assert_eq!(integrity.provenance, vec![third, third.advance(0x110)]);
}

#[test]
fn diff_spans_merges_a_continuing_foreign_run() {
    let before = [
        LabelSpan {
            len: 8,
            label: Label::Zero,
        },
        LabelSpan {
            len: 8,
            label: o(2, 0),
        },
    ];
    let after = [LabelSpan {
        len: 16,
        label: o(3, 0x50),
    }];
    assert_eq!(diff_spans(&before, &after), vec![(0, 16, o(3, 0x50))]);
}

/// `(kind, addresses, provenance, detail)` of each finding, for whole comparisons.
type Shape = (BugClass, Vec<(SpaceId, Va)>, Vec<Label>, String);

fn shapes(found: &[Finding]) -> Vec<Shape> {
    found
        .iter()
        .map(|f| {
            (
                f.kind,
                f.addresses.clone(),
                f.provenance.clone(),
                f.detail.clone(),
            )
        })
        .collect()
}

/// Each server read is judged span by span at its own address: zero and the server's own
/// bytes pass; of a client run crossing both edges of the range exactly the 0x10 bytes
/// before and the 0x10 after are exposed; a third party's bytes are all unsanitized, even
/// at the addresses of the client's range. The server's writes and the client's own reads
/// are not the server reading.
#[test]
fn server_reads_names_exactly_the_offending_bytes_of_each_span() {
    let s = read_subject();
    let labels = vec![
        span(0x10, Label::Zero),
        span(0x120, o(1, 0x100F0)),
        span(0x8, o(2, 0x7000)),
        span(0x8, o(9, 0x10180)),
    ];
    let log = [
        access_by(2, false, labels.clone()),
        access_by(2, true, labels.clone()),
        access_by(1, false, labels),
    ];
    let server = |va: u64| (SpaceId::Process(Pid(2)), Va::new(va));
    assert_eq!(
        shapes(&server_reads(&log, &s)),
        vec![
            (
                BugClass::PartialPageExposure,
                vec![server(0x50010), server(0x50120)],
                vec![o(1, 0x100F0), o(1, 0x10200)],
                "the server read client bytes from outside the request's range: 32 byte(s), \
                 the first offending one at pid2 0x50010 (in a run of 16)"
                    .into(),
            ),
            (
                BugClass::UnsanitizedSubstitute,
                vec![server(0x50138)],
                vec![o(9, 0x10180)],
                "the server read bytes that are neither zero, its own nor the client's range \
                 (stale pool, kernel or third-party bytes): 8 byte(s), the first offending \
                 one at pid2 0x50138 (in a run of 8)"
                    .into(),
            ),
        ]
    );
}

/// A changed chunk is cut at the range's edges only where they fall inside it: a foreign
/// run wholly before the range (0x10 bytes at 0x10010) is counted as itself, and a run
/// crossing both edges adds its 0x10 bytes before and 0x10 after: 48 bytes in all.
#[test]
fn client_after_counts_exactly_the_changed_bytes_outside_the_range() {
    let s = read_subject();
    let (third, fourth) = (o(9, 0x5000), o(8, 0x6000));
    let before = [span(0x1000, o(1, 0x10000))];
    let after = [
        span(0x10, o(1, 0x10000)),
        span(0x10, third),
        span(0xD0, o(1, 0x10020)),
        span(0x120, fourth),
        span(0x1000 - 0x210, o(1, 0x10210)),
    ];
    let found = client_after(&before, &after, Va::new(0x10000), &s, 0x100, 7);
    let client = |va: u64| (SpaceId::Process(Pid(1)), Va::new(va));
    assert_eq!(
        shapes(&found),
        vec![(
            BugClass::CopyBackError,
            vec![client(0x10010), client(0x100F0), client(0x10200)],
            vec![third, fourth, fourth.advance(0x110)],
            "a client byte outside the request's range changed: 48 byte(s), the first \
             offending one at pid1 0x10010 (in a run of 16)"
                .into(),
        )]
    );
}

/// Inside the range, the bytes a READ delivered (here the first 0x80) are
/// [`delivery_read`]'s to judge, whatever they hold; past them, a zero-filled run is a
/// Delivery finding of exactly its own bytes.
#[test]
fn client_after_leaves_the_delivered_bytes_to_delivery_and_judges_the_rest() {
    let s = read_subject();
    let before = [span(0x1000, o(1, 0x10000))];
    let after = [
        span(0x110, o(1, 0x10000)),
        span(0x10, o(9, 0x5000)),
        span(0x70, o(1, 0x10120)),
        span(0x10, Label::Zero),
        span(0x1000 - 0x1A0, o(1, 0x101A0)),
    ];
    let found = client_after(&before, &after, Va::new(0x10000), &s, 0x80, 7);
    assert_eq!(
        shapes(&found),
        vec![(
            BugClass::CopyBackError,
            vec![(SpaceId::Process(Pid(1)), Va::new(0x10190))],
            vec![Label::Zero],
            "client bytes past Information were zero-filled: 16 byte(s), the first \
             offending one at pid1 0x10190 (in a run of 16)"
                .into(),
        )]
    );
}

#[test]
fn a_server_failure_told_to_the_client_as_success_is_a_delivery_error() {
    use crate::status::NtStatus;
    let (ok, failed) = (NtStatus::SUCCESS, NtStatus::INSUFFICIENT_RESOURCES);
    let f = completion_status(failed, ok, 7).expect("a failure turned into success");
    assert_eq!(
        (f.kind, f.rule, f.step),
        (BugClass::CopyBackError, Rule::Delivery, Some(7))
    );
    assert!(f.detail.contains(&failed.to_string()), "{}", f.detail);
    // The driver may fail what the server completed, and pass a failure on as it is.
    assert!(completion_status(ok, failed, 7).is_none());
    assert!(completion_status(failed, failed, 7).is_none());
    assert!(completion_status(ok, ok, 7).is_none());
}

#[test]
fn a_shift_is_only_within_a_page_of_the_buffers_ends() {
    let (owner, base, len) = (Pid(3), Va::new(0x10_0000), 0x100);
    let at = |va: u64| Label::Origin {
        space: SpaceId::Process(owner),
        va: Va::new(va),
    };
    let top = base.raw() + len + crate::addr::PAGE_SIZE;
    assert_eq!(
        shift(at(top - 1), owner, base, 0, len),
        Some((top - 1 - base.raw()) as i64)
    );
    assert_eq!(shift(at(top), owner, base, 0, len), None);
    let bottom = base.raw() - crate::addr::PAGE_SIZE;
    assert_eq!(
        shift(at(bottom), owner, base, 8, len),
        Some(-(crate::addr::PAGE_SIZE as i64) - 8)
    );
    assert_eq!(shift(at(bottom - 1), owner, base, 8, len), None);
    assert_eq!(
        shift(at(base.raw() + 8), owner, base, 8, len),
        None,
        "the expected byte"
    );
    assert_eq!(
        shift(at(base.raw()), Pid(4), base, 8, len),
        None,
        "another process"
    );
}

#[test]
fn user_writable_frames_are_the_frames_of_live_processes_writable_ptes() {
    use crate::space::Protection;
    use crate::testing::committed;
    let mut m = Machine::new(crate::Config::default()).unwrap();
    let app = m.create_process("app").unwrap();
    let rw = committed(&mut m, app, 0x2000, Protection::ReadWrite);
    let ro = committed(&mut m, app, 0x1000, Protection::ReadOnly);
    m.user_write(app, rw, &[1; 0x2000]).unwrap();
    m.user_read(app, ro, 1).unwrap();
    let frame = |m: &Machine, va: Va| m.translate(SpaceId::Process(app), va).unwrap();
    let want: BTreeSet<Pfn> = [frame(&m, rw), frame(&m, Va::new(rw.raw() + 0x1000))].into();
    assert_eq!(user_writable_frames(&m, &[app]), want);
    assert!(user_writable_frames(&m, &[]).is_empty());
    m.terminate_process(app).unwrap();
    assert!(
        user_writable_frames(&m, &[app]).is_empty(),
        "a dead process writes nothing"
    );
}

#[test]
fn a_write_buffer_mapped_writable_into_the_server_is_found_at_its_mapping() {
    use crate::mdl::{AccessMode, CacheType, priority};
    use crate::space::Protection;
    use crate::testing::{committed, lock_for_read};
    let mut m = Machine::new(crate::Config::default()).unwrap();
    let client = m.create_process("client").unwrap();
    let server = m.create_process("server").unwrap();
    let buf = committed(&mut m, client, 0x1000, Protection::ReadWrite);
    m.switch_to(Some(client)).unwrap();
    let mdl = lock_for_read(&mut m, buf, 0x100);
    let frames: Vec<Pfn> = m
        .mdl(mdl)
        .unwrap()
        .pfns
        .iter()
        .map(|&n| Pfn::new(n))
        .collect();
    m.switch_to(Some(server)).unwrap();
    let uva = m
        .mm_map_locked_pages_specify_cache(
            mdl,
            AccessMode::UserMode,
            CacheType::Cached,
            None,
            false,
            priority::NORMAL,
        )
        .unwrap()
        .unwrap();
    let write = Subject {
        client,
        server,
        direction: Direction::Write,
        buffer: buf,
        length: 0x100,
    };
    let f = writable_client_frames_in_server(&m, &write, &frames, 5).expect("mapped writable");
    assert_eq!(
        (f.kind, f.rule, f.step),
        (BugClass::AccessModeMismatch, Rule::Integrity, Some(5))
    );
    assert_eq!(f.addresses, [(SpaceId::Process(server), uva)]);
    // A READ may be mapped writable (the server fills it); other frames are not the
    // client's; a mapping in another process is not the server's.
    let read = Subject {
        direction: Direction::Read,
        ..write
    };
    assert!(writable_client_frames_in_server(&m, &read, &frames, 5).is_none());
    assert!(writable_client_frames_in_server(&m, &write, &[], 5).is_none());
    let elsewhere = Subject {
        server: client,
        ..write
    };
    assert!(writable_client_frames_in_server(&m, &elsewhere, &frames, 5).is_none());
}
