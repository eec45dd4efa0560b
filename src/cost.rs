//! The cost model: turns [`Counters`] into projected time on real hardware.
//!
//! The model's own speed says nothing about a real kernel; the counts do. A
//! [`CostModel`] prices each unit of work with parameters a user can change.
//! Defaults come from a measurement on a 2-vCPU x86-64 VM (user-space
//! mmap/munmap standing in for a mapping): map + unmap about 6.5 µs fixed plus
//! about 0.4 µs per page; copy about 0.07 µs per 4 KiB when the data is in
//! cache ("hot") and about 0.5 µs per 4 KiB when it is not ("cold"). With
//! those, mapping never beats copying hot data, and breaks even with cold
//! data at a few hundred KiB — which is why practitioners copy up to ~64 KiB.
//!
//! ```
//! use mdlsim::cost::{CostModel, Temperature};
//! use mdlsim::Counters;
//! let model = CostModel::default();
//! // Mapping 64 pages vs copying them cold.
//! let map = Counters { mappings: 1, unmappings: 1, user_ptes_written: 64, ..Counters::default() };
//! let copy = Counters { bytes_copied: 64 * 4096, ..Counters::default() };
//! assert!(model.project_us(&map, Temperature::Cold) > model.project_us(&copy, Temperature::Hot));
//! ```

use crate::counters::Counters;
use serde::{Deserialize, Serialize};

/// Whether copied data is in the CPU cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Temperature {
    /// Recently touched: copies run at cache bandwidth.
    Hot,
    /// Not in cache: copies run at memory bandwidth.
    Cold,
}

/// Prices of each unit of work, in microseconds (a `#[non_exhaustive]` builder).
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct CostModel {
    /// Fixed cost of creating one mapping (reserving PTEs / a VAD).
    pub map_fixed_us: f64,
    /// Fixed cost of tearing one mapping down, excluding the TLB shootdown.
    pub unmap_fixed_us: f64,
    /// Cost of the TLB flush / shootdown each unmapping needs.
    pub tlb_shootdown_us: f64,
    /// Cost per PTE written (map) and cleared (unmap), together.
    pub per_pte_us: f64,
    /// Cost per page locked and unlocked, together.
    pub per_lock_us: f64,
    /// Copy cost per 4 KiB with hot data.
    pub copy_hot_us_per_4k: f64,
    /// Copy cost per 4 KiB with cold data.
    pub copy_cold_us_per_4k: f64,
    /// Cost of zeroing one 4 KiB page.
    pub zero_us_per_page: f64,
}

impl Default for CostModel {
    /// [design.md][design-cost-model]'s measurement: map+unmap 6.5 µs fixed (split 3.0 map, 2.0 unmap,
    /// 1.5 shootdown) + 0.4 µs per page; copy 0.07 µs / 4 KiB hot, 0.5 µs / 4 KiB cold;
    /// zeroing a page priced like a hot copy; 0.05 µs per page locked (an assumption:
    /// a PFN reference and a PTE walk).
    ///
    /// [design.md]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md
    /// [design-cost-model]: https://github.com/mdlsim/mdlsim/blob/main/docs/design.md#cost-model
    fn default() -> Self {
        CostModel {
            map_fixed_us: 3.0,
            unmap_fixed_us: 2.0,
            tlb_shootdown_us: 1.5,
            per_pte_us: 0.4,
            per_lock_us: 0.05,
            copy_hot_us_per_4k: 0.07,
            copy_cold_us_per_4k: 0.5,
            zero_us_per_page: 0.07,
        }
    }
}

impl CostModel {
    /// Sets the fixed mapping cost.
    pub fn map_fixed(mut self, us: f64) -> Self {
        self.map_fixed_us = us;
        self
    }

    /// Sets the fixed unmapping cost.
    pub fn unmap_fixed(mut self, us: f64) -> Self {
        self.unmap_fixed_us = us;
        self
    }

    /// Sets the TLB shootdown cost.
    pub fn tlb_shootdown(mut self, us: f64) -> Self {
        self.tlb_shootdown_us = us;
        self
    }

    /// Sets the per-PTE cost.
    pub fn per_pte(mut self, us: f64) -> Self {
        self.per_pte_us = us;
        self
    }

    /// Sets the per-locked-page cost.
    pub fn per_lock(mut self, us: f64) -> Self {
        self.per_lock_us = us;
        self
    }

    /// Sets the copy costs per 4 KiB, hot and cold.
    pub fn copy(mut self, hot_us_per_4k: f64, cold_us_per_4k: f64) -> Self {
        self.copy_hot_us_per_4k = hot_us_per_4k;
        self.copy_cold_us_per_4k = cold_us_per_4k;
        self
    }

    /// Sets the zeroing cost per page.
    pub fn zero_per_page(mut self, us: f64) -> Self {
        self.zero_us_per_page = us;
        self
    }

    /// Projected time, in microseconds, of the work `c`.
    pub fn project_us(&self, c: &Counters, t: Temperature) -> f64 {
        let copy = match t {
            Temperature::Hot => self.copy_hot_us_per_4k,
            Temperature::Cold => self.copy_cold_us_per_4k,
        };
        let ptes = (c.system_ptes_written + c.user_ptes_written) as f64;
        c.mappings as f64 * self.map_fixed_us
            + c.unmappings as f64 * (self.unmap_fixed_us + self.tlb_shootdown_us)
            + ptes * self.per_pte_us
            + c.pages_locked as f64 * self.per_lock_us
            + c.bytes_copied as f64 / 4096.0 * copy
            + (c.bytes_zeroed as f64 / 4096.0 + c.pages_zero_filled as f64) * self.zero_us_per_page
    }

    /// The smallest size in `sizes` (ascending) at which `a` is projected faster than
    /// `b`, given each one's counts as a function of the request size; `None` if `a`
    /// never wins over those sizes.
    pub fn crossover(
        &self,
        sizes: impl IntoIterator<Item = u64>,
        t: Temperature,
        mut a: impl FnMut(u64) -> Counters,
        mut b: impl FnMut(u64) -> Counters,
    ) -> Option<u64> {
        sizes
            .into_iter()
            .find(|&s| self.project_us(&a(s), t) < self.project_us(&b(s), t))
    }
}

/// What one request costs in machine-independent units (issue 7): the counts a
/// strategy's choice changes, from the difference of two [`Counters`] snapshots
/// around the request ([`crate::workload::request_cost`] measures one).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Cost {
    /// Bytes copied by kernel code.
    pub bytes_copied: u64,
    /// Pages locked by `MmProbeAndLockPages` (the I/O manager's and the strategy's).
    pub pages_locked: u64,
    /// System PTEs written by kernel-mode mappings.
    pub system_ptes_written: u64,
    /// User PTEs written by user-mode mappings.
    pub user_ptes_written: u64,
    /// Non-paged pool pages taken.
    pub pool_pages_used: u64,
    /// Substitute pages allocated (`MmAllocatePagesForMdlEx`).
    pub substitutes_allocated: u64,
    /// Mappings made.
    pub mappings: u64,
    /// Mappings torn down.
    pub unmappings: u64,
    /// Every counter, for [`CostModel::project_us`].
    pub counters: Counters,
}

impl Cost {
    /// The cost of the work `c` (a [`Counters::since`] difference).
    pub fn from_counters(c: &Counters) -> Cost {
        Cost {
            bytes_copied: c.bytes_copied,
            pages_locked: c.pages_locked,
            system_ptes_written: c.system_ptes_written,
            user_ptes_written: c.user_ptes_written,
            pool_pages_used: c.pool_pages_allocated,
            substitutes_allocated: c.pages_allocated_for_mdl,
            mappings: c.mappings,
            unmappings: c.unmappings,
            counters: *c,
        }
    }

    /// Projected time of this request on real hardware, in microseconds.
    pub fn project_us(&self, model: &CostModel, t: Temperature) -> f64 {
        model.project_us(&self.counters, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(size: u64) -> Counters {
        let pages = size.div_ceil(4096);
        Counters {
            mappings: 1,
            unmappings: 1,
            user_ptes_written: pages,
            ..Counters::default()
        }
    }

    fn copy(size: u64) -> Counters {
        Counters {
            bytes_copied: size,
            ..Counters::default()
        }
    }

    fn sizes() -> impl Iterator<Item = u64> {
        (1..=4096u64).map(|p| p * 4096)
    }

    #[test]
    fn mapping_never_beats_hot_copies_with_default_prices() {
        let m = CostModel::default();
        assert_eq!(m.crossover(sizes(), Temperature::Hot, map, copy), None);
    }

    #[test]
    fn mapping_beats_cold_copies_at_a_few_hundred_kib() {
        let m = CostModel::default();
        let x = m.crossover(sizes(), Temperature::Cold, map, copy).unwrap();
        assert!((128 << 10..=512 << 10).contains(&x), "crossover {x}");
    }

    #[test]
    fn cheaper_mappings_move_the_crossover_down() {
        let m = CostModel::default()
            .map_fixed(0.5)
            .unmap_fixed(0.5)
            .tlb_shootdown(0.0);
        let x = m.crossover(sizes(), Temperature::Cold, map, copy).unwrap();
        let y = CostModel::default()
            .crossover(sizes(), Temperature::Cold, map, copy)
            .unwrap();
        assert!(x < y);
    }
}
