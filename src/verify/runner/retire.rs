//! The **retire** phase: what the driver's `retire` returned, and the server's late reply
//! after a cancellation.

use super::CaseRunner;
use crate::fault::Result;
use crate::io::IrpId;
use crate::oracle::blame::fault_finding_in;
use crate::oracle::{BugClass, Finding, Rule};
use crate::status::NtStatus;
use crate::strategy::{Completion, ProxyStrategy};
use crate::verify::case::CANCELLED_REPLY;
use crate::verify::proxy::Retired;

impl<S: ProxyStrategy + Send + 'static> CaseRunner<'_, S> {
    /// **retire**: what the driver's `retire` for this IRP returned, then (after a
    /// cancellation) the server's late reply, which a driver that no longer holds the
    /// request must drop. `None`: `retire` faulted (a finding; the case ends here). A
    /// request nobody retired stays pending.
    pub(super) fn retire(
        &mut self,
        irp: IrpId,
        e0: u64,
        called: Result<()>,
        cancel_attempt: bool,
    ) -> Result<Option<Completion>> {
        self.flush();
        self.collect_writers_if_refetched((e0, self.m.step()));
        let retired = self.last_retired(irp);
        if let Some(r) = &retired {
            self.note_retired(r);
        }
        let completion = match retired.map(|r| (r.steps, r.by, r.result)) {
            Some(((r0, r1), by, Ok(c))) => {
                self.trace()
                    .line(|| format!("steps {r0}..{r1}: retire ({by}) -> {c}"));
                self.trace_calls((r0, r1));
                Some(c)
            }
            Some(((r0, r1), by, Err(e))) => {
                // A NULL `expose` got and kept is used here: the request's whole life counts.
                let since = self.windows.first().map_or(r0, |w| w.0);
                self.trace()
                    .line(|| format!("steps {r0}..{r1}: retire ({by}) faulted: {e}"));
                self.trace_calls((r0, r1));
                let step = self.m.step();
                let found = std::mem::take(&mut self.findings);
                self.run.findings.extend(found);
                self.run
                    .findings
                    .push(fault_finding_in(self.m, &e, step, since, "retire"));
                self.finish_double_fetch();
                return Ok(None);
            }
            None => None,
        };
        called?;
        let completion = if cancel_attempt {
            self.late_reply(irp)?.or(completion)
        } else {
            completion
        };
        Ok(Some(completion.unwrap_or(Completion {
            status: NtStatus::PENDING,
            information: 0,
        })))
    }

    /// After a cancellation: a request still held is a finding (the driver ignores
    /// cancellation); the server then answers late with `STATUS_CANCELLED`.
    fn late_reply(&mut self, irp: IrpId) -> Result<Option<Completion>> {
        if self.driver.held().contains(&irp) {
            self.findings.push(Finding::new(
                BugClass::LockLeak,
                Rule::Protocol,
                Some(self.m.step()),
                format!(
                    "{irp} was cancelled while the server held it, yet it is still pending: the driver ignores cancellation (a hung server keeps the client's pages locked forever)"
                ),
            ));
        }
        self.m.switch_to(Some(self.a.server))?;
        let late = self
            .driver
            .reply(&mut self.m.kernel(), irp, CANCELLED_REPLY)?;
        let step = self.m.step();
        self.trace().line(|| {
            format!(
                "step {step}: the server replies late; the driver {}",
                if late.is_some() {
                    "retires and completes the request now"
                } else {
                    "drops the reply"
                }
            )
        });
        self.flush();
        if let Some(r) = self.last_retired(irp) {
            if !self.windows.contains(&r.steps) {
                self.note_retired(&r);
            }
        }
        Ok(late)
    }

    fn last_retired(&self, irp: IrpId) -> Option<Retired> {
        self.driver
            .retired()
            .into_iter()
            .rev()
            .find(|x| x.irp == irp)
    }

    fn note_retired(&mut self, r: &Retired) {
        self.windows.push(r.steps);
        if let Some(t) = self.run.io.as_mut() {
            t.retired_by = Some(r.by);
            t.retire_context = Some(r.context);
        }
    }
}
