//! The page table of one address space: valid PTEs by virtual page number, in 512-entry
//! chunks.

use super::Pte;
use std::collections::BTreeMap;

/// Entries per page-table chunk (one x64 page table: 512 PTEs, 2 MiB of address space).
const CHUNK_ENTRIES: u64 = 512;

#[derive(Clone, Debug)]
struct Chunk {
    entries: Box<[Option<Pte>]>,
    count: u32,
}

/// A page table: valid PTEs by virtual page number.
///
/// Stored as 512-entry chunks (like one x64 page table each) in an ordered map,
/// so a lookup is one small-map search plus an index, iteration is in address
/// order (deterministic), and an empty chunk is freed.
#[derive(Debug, Default)]
pub(crate) struct PageTable {
    chunks: BTreeMap<u64, Chunk>,
    len: usize,
    /// Emptied chunks' storage (every entry `None`), reused by the next new chunk: a
    /// map/unmap cycle then allocates and clears no 512-entry table. At most
    /// [`SPARE_CHUNKS`]; not part of the table's contents (a clone starts without any).
    spare: Vec<Box<[Option<Pte>]>>,
}

/// Emptied chunks kept for reuse per page table.
const SPARE_CHUNKS: usize = 2;

impl Clone for PageTable {
    fn clone(&self) -> PageTable {
        PageTable {
            chunks: self.chunks.clone(),
            len: self.len,
            spare: Vec::new(),
        }
    }
}

impl PageTable {
    fn split(vpn: u64) -> (u64, usize) {
        (vpn / CHUNK_ENTRIES, (vpn % CHUNK_ENTRIES) as usize)
    }

    /// The chunks holding virtual pages `lo..hi`, as a half-open range of chunk numbers:
    /// empty when `lo >= hi` (a map's `range` panics on an inclusive range whose start is
    /// past its end, which `lo / 512 ..= (hi - 1) / 512` is for an empty range at a chunk
    /// boundary).
    fn chunks_of(lo: u64, hi: u64) -> std::ops::Range<u64> {
        if lo < hi {
            lo / CHUNK_ENTRIES..(hi - 1) / CHUNK_ENTRIES + 1
        } else {
            0..0
        }
    }

    /// The PTE of virtual page `vpn`.
    pub(crate) fn get(&self, vpn: &u64) -> Option<&Pte> {
        let (c, i) = Self::split(*vpn);
        self.chunks.get(&c)?.entries[i].as_ref()
    }

    /// The entries of virtual pages `vpn, vpn + 1, ...` up to the end of `vpn`'s chunk
    /// (empty when the chunk holds no valid PTE): a run of translations with one lookup.
    pub(crate) fn entries_from(&self, vpn: u64) -> &[Option<Pte>] {
        let (c, i) = Self::split(vpn);
        self.chunks.get(&c).map_or(&[], |chunk| &chunk.entries[i..])
    }

    /// Chunk `c`, created empty (from a spare if there is one) when absent.
    fn chunk_mut(&mut self, c: u64) -> &mut Chunk {
        let spare = &mut self.spare;
        self.chunks.entry(c).or_insert_with(|| Chunk {
            entries: spare
                .pop()
                .unwrap_or_else(|| vec![None; CHUNK_ENTRIES as usize].into_boxed_slice()),
            count: 0,
        })
    }

    /// Drops chunk `c` (emptied), keeping its storage as a spare if there is room.
    fn free_chunk(&mut self, c: u64) {
        if let Some(empty) = self.chunks.remove(&c) {
            if self.spare.len() < SPARE_CHUNKS {
                self.spare.push(empty.entries);
            }
        }
    }

    /// Installs a PTE, returning the one it replaced.
    pub(crate) fn insert(&mut self, vpn: u64, pte: Pte) -> Option<Pte> {
        let (c, i) = Self::split(vpn);
        let chunk = self.chunk_mut(c);
        let old = chunk.entries[i].replace(pte);
        if old.is_none() {
            chunk.count += 1;
            self.len += 1;
        }
        old
    }

    /// Installs `ptes` at virtual pages `start, start + 1, ...`, a chunk at a time (one
    /// map lookup per 512 pages, not one per page: an MDL mapping of 4 GiB writes a
    /// million PTEs); returns how many valid PTEs it replaced. Pages past `u64::MAX` are
    /// not written.
    pub(crate) fn insert_run(&mut self, start: u64, ptes: impl IntoIterator<Item = Pte>) -> usize {
        let mut ptes = ptes.into_iter().peekable();
        let mut replaced = 0;
        let mut vpn = start;
        while ptes.peek().is_some() {
            let (c, first) = Self::split(vpn);
            let chunk = self.chunk_mut(c);
            let (mut written, mut added) = (0u64, 0usize);
            for (slot, pte) in chunk.entries[first..].iter_mut().zip(ptes.by_ref()) {
                if slot.replace(pte).is_some() {
                    replaced += 1;
                } else {
                    added += 1;
                }
                written += 1;
            }
            chunk.count += added as u32;
            self.len += added;
            match vpn.checked_add(written) {
                Some(next) => vpn = next,
                None => break,
            }
        }
        replaced
    }

    /// Removes every PTE with `vpn` in `range`, a chunk at a time; returns how many
    /// valid PTEs it removed.
    pub(crate) fn remove_run(&mut self, range: std::ops::Range<u64>) -> usize {
        let (lo, hi) = (range.start, range.end);
        let chunks: Vec<u64> = self
            .chunks
            .range(Self::chunks_of(lo, hi))
            .map(|(c, _)| *c)
            .collect();
        let mut removed = 0;
        for c in chunks {
            let base = c * CHUNK_ENTRIES;
            let from = lo.saturating_sub(base).min(CHUNK_ENTRIES) as usize;
            let to = (hi - base).min(CHUNK_ENTRIES) as usize;
            let Some(chunk) = self.chunks.get_mut(&c) else {
                continue;
            };
            let taken = chunk.entries[from..to]
                .iter_mut()
                .filter_map(Option::take)
                .count();
            chunk.count -= taken as u32;
            self.len -= taken;
            removed += taken;
            if chunk.count == 0 {
                self.free_chunk(c);
            }
        }
        removed
    }

    /// Removes the PTE of `vpn`.
    pub(crate) fn remove(&mut self, vpn: &u64) -> Option<Pte> {
        let (c, i) = Self::split(*vpn);
        let chunk = self.chunks.get_mut(&c)?;
        let old = chunk.entries[i].take();
        if old.is_some() {
            chunk.count -= 1;
            self.len -= 1;
            if chunk.count == 0 {
                self.free_chunk(c);
            }
        }
        old
    }

    /// Valid PTEs with `vpn` in `range`, in address order.
    pub(crate) fn range(&self, range: std::ops::Range<u64>) -> impl Iterator<Item = (u64, &Pte)> {
        let (lo, hi) = (range.start, range.end);
        self.chunks
            .range(Self::chunks_of(lo, hi))
            .flat_map(move |(c, chunk)| {
                chunk.entries.iter().enumerate().filter_map(move |(i, p)| {
                    let vpn = c * CHUNK_ENTRIES + i as u64;
                    match p {
                        Some(p) if vpn >= lo && vpn < hi => Some((vpn, p)),
                        _ => None,
                    }
                })
            })
    }

    /// Mutable PTEs with `vpn` in `range`, in address order.
    pub(crate) fn range_mut(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> impl Iterator<Item = (u64, &mut Pte)> {
        let (lo, hi) = (range.start, range.end);
        self.chunks
            .range_mut(Self::chunks_of(lo, hi))
            .flat_map(move |(c, chunk)| {
                let c = *c;
                chunk
                    .entries
                    .iter_mut()
                    .enumerate()
                    .filter_map(move |(i, p)| {
                        let vpn = c * CHUNK_ENTRIES + i as u64;
                        match p {
                            Some(p) if vpn >= lo && vpn < hi => Some((vpn, p)),
                            _ => None,
                        }
                    })
            })
    }

    /// Every valid PTE, in address order. (What `range(0..u64::MAX)` yields, without the
    /// bounds checks, and each chunk's scan stops at its last valid entry: `audit()` walks
    /// every page table after every step of the fuzz targets.)
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Pte)> {
        self.chunks.iter().flat_map(|(c, chunk)| {
            let c = *c;
            chunk
                .entries
                .iter()
                .enumerate()
                .filter_map(move |(i, p)| p.as_ref().map(|p| (c * CHUNK_ENTRIES + i as u64, p)))
                .take(chunk.count as usize)
        })
    }

    /// Number of valid PTEs.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Pfn;
    use crate::space::{Protection, PteKind};

    #[test]
    fn page_table_iter_is_the_whole_range_in_order() {
        let mut t = PageTable::default();
        let pte = |n: u64| Pte {
            pfn: Pfn(n),
            protection: Protection::ReadWrite,
            kind: PteKind::Private,
        };
        // Chunks full, sparse, emptied and refilled; entries at both ends of a chunk.
        let mut x = 12345u64;
        for step in 0..4000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let vpn = (x >> 33) % (6 * CHUNK_ENTRIES) + if step % 7 == 0 { 1 << 30 } else { 0 };
            if x % 3 == 0 {
                t.remove(&vpn);
            } else {
                t.insert(vpn, pte(step));
            }
            if step % 97 == 0 {
                let all: Vec<_> = t.iter().map(|(v, p)| (v, *p)).collect();
                let ranged: Vec<_> = t.range(0..u64::MAX).map(|(v, p)| (v, *p)).collect();
                assert_eq!(all, ranged);
                assert_eq!(all.len(), t.len());
            }
        }
        for v in [0, CHUNK_ENTRIES - 1, CHUNK_ENTRIES, u64::MAX / 2] {
            t.insert(v, pte(v));
        }
        let all: Vec<_> = t.iter().map(|(v, p)| (v, *p)).collect();
        assert_eq!(
            all,
            t.range(0..u64::MAX)
                .map(|(v, p)| (v, *p))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn runs_insert_and_remove_what_single_pages_do() {
        let pte = |n: u64| Pte {
            pfn: Pfn(n),
            protection: Protection::ReadWrite,
            kind: PteKind::Private,
        };
        let mut x = 99u64;
        let (mut runs, mut single) = (PageTable::default(), PageTable::default());
        for step in 0..600u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let start = (x >> 33) % (5 * CHUNK_ENTRIES);
            let n = (x >> 20) % (3 * CHUNK_ENTRIES);
            if x % 3 == 0 {
                let removed = runs.remove_run(start..start + n);
                let want = (start..start + n)
                    .filter(|v| single.remove(v).is_some())
                    .count();
                assert_eq!(removed, want, "step {step}");
            } else {
                let replaced = runs.insert_run(start, (0..n).map(|i| pte(step * 10_000 + i)));
                let want = (0..n)
                    .filter(|i| single.insert(start + i, pte(step * 10_000 + i)).is_some())
                    .count();
                assert_eq!(replaced, want, "step {step}");
            }
            let a: Vec<_> = runs.iter().map(|(v, p)| (v, *p)).collect();
            let b: Vec<_> = single.iter().map(|(v, p)| (v, *p)).collect();
            assert_eq!(a, b, "step {step}");
            assert_eq!(runs.len(), single.len());
            assert_eq!(
                runs.chunks.len(),
                single.chunks.len(),
                "empty chunks are freed"
            );
        }
        // At the top of the address space a run stops at the last page; empty ranges
        // (at a chunk boundary too) remove nothing.
        assert_eq!(runs.insert_run(u64::MAX - 1, (0..5).map(pte)), 0);
        assert_eq!(runs.get(&u64::MAX).map(|p| p.pfn), Some(Pfn(1)));
        assert_eq!(runs.remove_run(CHUNK_ENTRIES..CHUNK_ENTRIES), 0);
        assert_eq!(runs.remove_run(u64::MAX - 1..u64::MAX), 1);
    }
}
