//! The cache-conflict check read from the PFN entries' per-cache-type counts reports
//! exactly what the scan of every live mapping reported (the same events, the same detail
//! naming the same mapping, in the same order), and the index stays balanced (`audit()`).

use super::*;
use crate::mdl::LockOperation;
use crate::vm::{MEM_COMMIT, MEM_RESERVE};
use crate::{Config, Machine};

/// The former check: the first live mapping, in table order, with another cache type that
/// names one of `frames`.
fn reference(m: &Machine, frames: &[Pfn], cache: CacheType) -> Option<MdlId> {
    m.mappings
        .iter()
        .find(|(_, mp)| mp.cache != cache && mp.frames.iter().any(|f| frames.contains(f)))
        .map(|(_, mp)| mp.mdl)
}

#[test]
fn indexed_conflict_check_matches_the_full_scan() {
    let mut m = Machine::new(Config::default()).unwrap();
    let app = m.create_process("app").unwrap();
    let len = 8 * PAGE_SIZE;
    let buf = m
        .virtual_alloc(
            app,
            None,
            len,
            MEM_COMMIT | MEM_RESERVE,
            Protection::ReadWrite,
        )
        .unwrap();
    m.user_write(app, buf, &vec![3u8; len as usize]).unwrap();
    m.switch_to(Some(app)).unwrap();
    // MDLs of one to three pages at overlapping places in the buffer.
    let mut mdls = Vec::new();
    for k in 0..6u64 {
        let va = buf.wrapping_add((k % 6) * PAGE_SIZE + 0x10);
        let id = m
            .io_allocate_mdl(
                va,
                ((k % 3 + 1) * PAGE_SIZE - 0x20) as u32,
                false,
                false,
                None,
            )
            .unwrap()
            .unwrap();
        m.mm_probe_and_lock_pages(id, AccessMode::UserMode, LockOperation::IoReadAccess)
            .unwrap();
        mdls.push(id);
    }
    let caches = [
        CacheType::Cached,
        CacheType::NonCached,
        CacheType::WriteCombined,
    ];
    let mut user: Vec<(Va, MdlId)> = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let (mut conflicts, mut maps) = (0, 0);
    for _ in 0..600 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = seed >> 33;
        let id = mdls[(r % 6) as usize];
        let cache = caches[((r >> 8) % 3) as usize];
        let events = m.events().len();
        let frames = m.mm().mapped_frames(id).unwrap();
        let expected = reference(&m, &frames, cache);
        let mapped_before = m.mappings.len();
        match (r >> 16) % 4 {
            0 if m.mdl_slot(id).unwrap().system_mapping.is_some() => {
                let va = m.mdl_slot(id).unwrap().mdl.mapped_system_va;
                m.mm_unmap_locked_pages(va, id).unwrap();
            }
            1 if !user.is_empty() => {
                let (va, owner) = user.remove((r >> 20) as usize % user.len());
                m.mm_unmap_locked_pages(va, owner).unwrap();
            }
            0 | 1 => {}
            2 if m.mdl_slot(id).unwrap().system_mapping.is_none() => {
                map_kernel_or_user(&mut m, id, cache, AccessMode::KernelMode);
            }
            _ => {
                let va = map_kernel_or_user(&mut m, id, cache, AccessMode::UserMode);
                user.push((va, id));
            }
        }
        if m.mappings.len() > mapped_before {
            maps += 1;
            let new: Vec<_> = m.events()[events..].iter().collect();
            match expected {
                Some(other) => {
                    conflicts += 1;
                    assert_eq!(new.len(), 1, "{new:?}");
                    assert_eq!(new[0].kind, EventKind::CacheAttributeConflict);
                    assert_eq!(new[0].mdl, Some(id));
                    assert_eq!(
                        new[0].detail,
                        format!(
                            "{id} maps a frame as {cache:?} that {other} maps with another cache type"
                        )
                    );
                }
                None => assert!(new.is_empty(), "{new:?}"),
            }
        }
        assert!(m.audit().is_empty(), "{:?}", m.audit());
    }
    assert!(
        maps > 200 && conflicts > 50,
        "{maps} maps, {conflicts} conflicts"
    );
}

fn map_kernel_or_user(m: &mut Machine, id: MdlId, cache: CacheType, mode: AccessMode) -> Va {
    m.mm_map_locked_pages_specify_cache(id, mode, cache, None, false, priority::NORMAL)
        .unwrap()
        .unwrap()
}
