//! The memory manager's part of process exit: address-space teardown ([semantics §6]).
//! The exit itself (rundown, teardown, deletion with the locked-pages check) is ordered
//! in `src/machine/lifecycle.rs`.
//!
//! [semantics §6]: https://github.com/mdlsim/mdlsim/blob/main/docs/semantics.md#s6

use crate::events::EventKind;
use crate::fault::Result;
use crate::mm::Mm;
use crate::space::{Pid, VadKind};

impl Mm<'_> {
    /// `MmCleanProcessAddressSpace`: removes every VAD (locked pages survive in Transition).
    pub(crate) fn clean_address_space(&mut self, pid: Pid) -> Result<()> {
        let vads: Vec<(u64, Option<crate::space::MappingId>)> = self
            .process(pid)?
            .space
            .vads()
            .map(|v| {
                (
                    v.start.vpn(),
                    match v.kind {
                        VadKind::MdlMapping(m) => Some(m),
                        VadKind::Private(_) => None,
                    },
                )
            })
            .collect();
        for (vpn, mapping) in vads {
            match mapping {
                Some(mid) => {
                    let mdl = self.mapping(mid).map(|m| m.mdl);
                    self.event(
                        EventKind::UserMappingRemovedAtExit,
                        mdl,
                        Some(crate::addr::Va(vpn << 12)),
                        format!(
                            "{pid} exited with a user-mode MDL mapping still in it (invariant 9)"
                        ),
                    );
                    self.remove_mapping(mid)?;
                }
                None => {
                    let pages = self
                        .process(pid)?
                        .space
                        .vads
                        .get(&vpn)
                        .map_or(0, |v| v.pages);
                    self.vm().drop_user_ptes(pid, vpn, pages)?;
                    self.process_mut(pid)?.space.remove_vad(vpn);
                }
            }
        }
        Ok(())
    }
}
