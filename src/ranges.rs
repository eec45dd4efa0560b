//! A first-fit allocator of page ranges (system PTEs, pool virtual addresses).

use std::collections::BTreeMap;

/// Free ranges of `[0, total)`, coalesced.
///
/// Invariant: `free` holds disjoint, non-adjacent ranges; `used + Σ free lengths == total`.
#[derive(Clone, Debug)]
pub(crate) struct RangeAllocator {
    free: BTreeMap<u64, u64>,
    total: u64,
    used: u64,
}

impl RangeAllocator {
    pub(crate) fn new(total: u64) -> Self {
        let mut free = BTreeMap::new();
        if total > 0 {
            free.insert(0, total);
        }
        RangeAllocator {
            free,
            total,
            used: 0,
        }
    }

    /// The lowest free range of `n` units, or `None`.
    pub(crate) fn alloc(&mut self, n: u64) -> Option<u64> {
        if n == 0 {
            return None;
        }
        let (&start, &len) = self.free.iter().find(|&(_, &len)| len >= n)?;
        self.free.remove(&start);
        if len > n {
            self.free.insert(start + n, len - n);
        }
        self.used += n;
        Some(start)
    }

    /// Returns `[start, start+n)`; false (and nothing changes) if any unit is already free.
    pub(crate) fn release(&mut self, start: u64, n: u64) -> bool {
        if n == 0 || start.checked_add(n).is_none_or(|e| e > self.total) {
            return false;
        }
        let end = start + n;
        // Overlap with the free range before or after?
        if let Some((&s, &l)) = self.free.range(..end).next_back() {
            if s + l > start {
                return false;
            }
        }
        let mut new_start = start;
        let mut new_len = n;
        if let Some((&s, &l)) = self.free.range(..start).next_back() {
            if s + l == start {
                self.free.remove(&s);
                new_start = s;
                new_len += l;
            }
        }
        if let Some(&l) = self.free.get(&end) {
            self.free.remove(&end);
            new_len += l;
        }
        self.free.insert(new_start, new_len);
        self.used -= n;
        true
    }

    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    pub(crate) fn available(&self) -> u64 {
        self.total - self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_release_coalesces_and_rejects_double_release() {
        let mut r = RangeAllocator::new(10);
        let a = r.alloc(3).unwrap();
        let b = r.alloc(3).unwrap();
        assert_eq!((a, b), (0, 3));
        assert!(r.release(a, 3));
        assert!(!r.release(a, 3), "double release detected");
        assert!(r.release(b, 3));
        assert_eq!(r.used(), 0);
        assert_eq!(r.alloc(10), Some(0));
        assert_eq!(r.alloc(1), None);
    }
}
