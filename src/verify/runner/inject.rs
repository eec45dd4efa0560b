//! The **inject** phase: the case's fault, or the server's work and reply (after which the
//! client may free or decommit its buffer).

use super::{CaseRunner, Injected};
use crate::addr::Va;
use crate::fault::Result;
use crate::io::IrpId;
use crate::space::Tid;
use crate::strategy::ProxyStrategy;
use crate::verify::case::InjectedFault;
use crate::verify::server::{run_server, write_after_reply};
use crate::vm::{MEM_DECOMMIT, MEM_RELEASE};

impl<S: ProxyStrategy + Send + 'static> CaseRunner<'_, S> {
    /// **inject**: the case's fault (the client thread exits, a system thread cancels the
    /// IRP, the server exits) or the server's work and reply (after which the client may
    /// free or decommit its buffer). Returns what the driver call returned.
    pub(super) fn inject(
        &mut self,
        irp: IrpId,
        tid: Tid,
        va: Va,
        len: u64,
        inj: &mut Injected,
    ) -> Result<Result<()>> {
        let a = self.a.clone();
        let case = self.case;
        Ok(match case.fault {
            InjectedFault::ClientExits => {
                self.trace().line(|| format!(
                    "the client thread {tid} exits while the server holds {irp}: IoCancelThreadIo runs the cancel routine, retire runs in the client's context"
                ));
                inj.client_exits = true;
                inj.cancel_attempt = true;
                self.m.switch_to(Some(a.client))?;
                self.m.terminate_thread(tid)
            }
            InjectedFault::Cancel => {
                self.trace().line(|| format!(
                    "a system thread calls IoCancelIrp({irp}) while the server holds it: the cancel routine runs retire"
                ));
                inj.cancel_attempt = true;
                self.m.switch_to(None)?;
                self.m.io_cancel_irp(irp).map(|_| ())
            }
            InjectedFault::ServerExits => {
                self.trace().line(|| {
                    "the server exits before doing anything; its cleanup retires the request".into()
                });
                inj.server_exits = true;
                self.m.switch_to(Some(a.server))?;
                self.driver.server_exit(&mut self.m.kernel(), self.dev)
            }
            _ => {
                let r = run_server(
                    self.m,
                    a.server,
                    case.server,
                    case.direction,
                    va,
                    len,
                    case.seed,
                )?;
                let step = self.m.step();
                self.trace().line(|| {
                    format!(
                        "step {step}: server ({}) replies {}, Information {:#x}",
                        case.server, r.reply.status, r.reply.information
                    )
                });
                if r.crashed {
                    self.trace()
                        .line(|| "the server crashes; its cleanup retires the request".into());
                    inj.server_exits = true;
                    self.m.switch_to(Some(a.server))?;
                    self.driver.server_exit(&mut self.m.kernel(), self.dev)
                } else {
                    self.client_releases_buffer(inj)?;
                    self.m.switch_to(Some(a.server))?;
                    inj.replied = Some(r.reply);
                    let replied = self.driver.reply(&mut self.m.kernel(), irp, r.reply);
                    if r.writes_after_reply && self.m.crashed().is_none() {
                        write_after_reply(self.m, a.server, va, len)?;
                        let step = self.m.step();
                        self.trace().line(|| {
                            format!("step {step}: the server writes its view again after its reply")
                        });
                    }
                    replied.map(|_| ())
                }
            }
        })
    }

    /// The client frees or decommits its buffer while the reply is on its way.
    fn client_releases_buffer(&mut self, inj: &mut Injected) -> Result<()> {
        let a = self.a.clone();
        let what = match self.case.fault {
            InjectedFault::ClientFreesBuffer => {
                self.m.virtual_free(a.client, a.alloc, 0, MEM_RELEASE)?;
                "releases"
            }
            InjectedFault::ClientDecommitsBuffer => {
                self.m
                    .virtual_free(a.client, a.alloc, a.alloc_len, MEM_DECOMMIT)?;
                "decommits"
            }
            _ => return Ok(()),
        };
        let step = self.m.step();
        self.trace()
            .line(|| format!("step {step}: the client {what} its buffer"));
        inj.freed = true;
        Ok(())
    }
}
