//! The **judge** phase: the oracle over what a case observed, and the double-fetch rule
//! with the interleaving that proves it.

use super::{CaseRunner, Exposed, Injected};
use crate::addr::{PAGE_SIZE, Pfn, Va};
use crate::machine::Machine;
use crate::oracle::check;
use crate::oracle::double_fetch;
use crate::oracle::hygiene::{self, Books};
use crate::oracle::{BugClass, Finding, Rule};
use crate::space::{Pid, SpaceId};
use crate::strategy::{Completion, Direction, Exposure, ProxyStrategy, nt_success};
use crate::verify::case::{Actors, CaseRun, Writer};
use crate::verify::server::server_pattern;
use std::collections::{BTreeMap, BTreeSet};

impl<S: ProxyStrategy + Send + 'static> CaseRunner<'_, S> {
    /// **judge**: the oracle over what the case observed.
    pub(super) fn judge(&mut self, exposed: &Exposed, completion: Completion, inj: &Injected) {
        let step = self.m.step();
        let a = &self.a;
        let mut findings = std::mem::take(&mut self.findings);
        findings.extend(check::server_reads(&self.log, &self.s));
        if let Some(pm) = self.run.page_map.as_mut() {
            pm.add_reads(&self.log, a.server);
        }
        self.judge_client(&mut findings, exposed, completion, inj, step);
        let bystander = self
            .m
            .labels(SpaceId::Process(a.bystander), a.bystander_page, PAGE_SIZE);
        if bystander != self.before.bystander {
            findings.push(Finding::new(
                BugClass::PartialPageExposure,
                Rule::Integrity,
                Some(step),
                "a bystander process's page changed",
            ));
        }
        findings.extend(hygiene::events_since(self.m, self.before.events));
        findings.extend(Books::take(self.m, &[a.client, a.server]).compare(
            &self.before.books,
            step,
            "after completion",
        ));
        self.run.findings.extend(findings);
        self.finish_double_fetch();
    }

    /// The client's side: its allocation outside the range untouched, a READ's bytes
    /// delivered exactly, a WRITE's buffer unmodified and its bytes seen by the server.
    fn judge_client(
        &self,
        findings: &mut Vec<Finding>,
        exposed: &Exposed,
        completion: Completion,
        inj: &Injected,
        step: u64,
    ) {
        let (a, case, len) = (&self.a, self.case, self.case.length as u64);
        let client_space = SpaceId::Process(a.client);
        let client_intact = !inj.client_exits && !inj.freed;
        let ok = nt_success(completion.status);
        if let Some(reply) = inj.replied.filter(|_| !inj.cancel_attempt) {
            findings.extend(check::completion_status(
                reply.status,
                completion.status,
                step,
            ));
        }
        findings.extend(check::completion_count(
            &self.s,
            completion.information,
            step,
        ));
        if case.direction == Direction::Read && client_intact {
            let delivered = if ok {
                completion.information.min(len)
            } else {
                0
            };
            if let Some(after) = self.m.labels(client_space, a.alloc, a.alloc_len) {
                findings.extend(check::client_after(
                    &self.before.client_labels,
                    &after,
                    a.alloc,
                    &self.s,
                    delivered,
                    step,
                ));
            }
            if let (true, Exposure::Mapped { va, .. }) = (ok, exposed.exposure) {
                let expected = server_pattern(case.seed, len);
                findings.extend(check::delivery_read(
                    self.m,
                    &self.s,
                    va,
                    completion.information,
                    &expected,
                    step,
                ));
            }
        }
        if case.direction == Direction::Write {
            if client_intact {
                if let Some(after) = self.m.labels(client_space, a.alloc, a.alloc_len) {
                    findings.extend(check::client_after(
                        &self.before.client_labels,
                        &after,
                        a.alloc,
                        &self.s,
                        0,
                        step,
                    ));
                }
            }
            if let Exposure::Mapped { len: vlen, .. } = exposed.exposure {
                findings.extend(check::delivery_write(
                    &self.s,
                    vlen,
                    exposed.view_labels.as_deref(),
                    exposed.view_bytes.as_deref(),
                    &self.before.range,
                    exposed.window.1,
                ));
            }
        }
    }

    /// The double-fetch rule over every window, with the interleaving that proves it.
    pub(super) fn finish_double_fetch(&mut self) {
        finish_double_fetch(
            self.m,
            &self.log,
            &self.windows,
            &self.writers,
            &self.a,
            self.run,
        );
    }
}

fn finish_double_fetch(
    m: &Machine,
    log: &[crate::log::Access],
    windows: &[(u64, u64)],
    wr: &BTreeMap<Pfn, (Pid, Va)>,
    a: &Actors,
    run: &mut CaseRun,
) {
    let writable: BTreeSet<Pfn> = wr.keys().copied().collect();
    for w in windows {
        let Some(pair) = double_fetch::find(log, *w, &writable) else {
            continue;
        };
        let mut f = Finding::new(
            BugClass::DoubleFetch,
            Rule::DoubleFetch,
            Some(pair.second),
            format!(
                "the kernel fetched byte {:#x} of {} (user-writable) at step {} and again at step {}",
                pair.offset, pair.pfn, pair.first, pair.second
            ),
        );
        f.addresses.push((SpaceId::System, pair.va));
        let writer = wr
            .get(&pair.pfn)
            .and_then(|(pid, page)| a.second.get(pid).map(|t| (pid, page, *t)));
        if let Some((pid, page, tid)) = writer {
            let va = page.wrapping_add(pair.offset as u64);
            let cur = m
                .frame_bytes(pair.pfn)
                .and_then(|b| b.get(pair.offset as usize).copied())
                .unwrap_or(0);
            f.addresses.push((SpaceId::Process(*pid), va));
            run.double_fetch = Some((
                pair,
                Writer {
                    tid,
                    va,
                    value: cur ^ 0xFF,
                },
            ));
        }
        run.findings.push(f);
        return;
    }
}
