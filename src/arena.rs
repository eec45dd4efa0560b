//! A generational arena: kernel objects live here and are named by `Copy` handles.
//!
//! A handle carries the slot's generation, so a handle to a freed object is
//! recognised as stale instead of silently naming whatever reuses the slot —
//! the model's equivalent of Driver Verifier's special pool.

use serde::{Deserialize, Serialize};

/// A slot index plus the generation it was allocated in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Handle {
    /// Slot index.
    pub(crate) index: u32,
    /// Generation of the slot when the object was created.
    pub(crate) generation: u32,
}

impl Handle {
    /// A handle no arena ever issues (index and generation `u32::MAX`): what a table
    /// of handles resolves to when it is empty, and a test's "no such object".
    pub const NEVER: Handle = Handle {
        index: u32::MAX,
        generation: u32::MAX,
    };

    /// Slot index.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// Generation of the slot when the object was created.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

#[derive(Clone, Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// The arena.
#[derive(Clone, Debug)]
pub(crate) struct Arena<T> {
    slots: Vec<Slot<T>>,
    /// Freed slots, most recently freed first (so `pop_back` reuses the oldest).
    free: std::collections::VecDeque<u32>,
    live: usize,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena {
            slots: Vec::new(),
            free: std::collections::VecDeque::new(),
            live: 0,
        }
    }
}

impl<T> Arena<T> {
    /// Stores `value`, reusing the oldest freed slot (deterministic).
    pub(crate) fn insert(&mut self, value: T) -> Handle {
        self.live += 1;
        if let Some(index) = self.free.pop_back() {
            let slot = &mut self.slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.value = Some(value);
            Handle {
                index,
                generation: slot.generation,
            }
        } else {
            let index = self.slots.len() as u32;
            self.slots.push(Slot {
                generation: 0,
                value: Some(value),
            });
            Handle {
                index,
                generation: 0,
            }
        }
    }

    pub(crate) fn get(&self, h: Handle) -> Option<&T> {
        let s = self.slots.get(h.index as usize)?;
        if s.generation != h.generation {
            return None;
        }
        s.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        let s = self.slots.get_mut(h.index as usize)?;
        if s.generation != h.generation {
            return None;
        }
        s.value.as_mut()
    }

    pub(crate) fn remove(&mut self, h: Handle) -> Option<T> {
        let s = self.slots.get_mut(h.index as usize)?;
        if s.generation != h.generation {
            return None;
        }
        let v = s.value.take()?;
        self.live -= 1;
        self.free.push_front(h.index);
        Some(v)
    }

    /// The handle of the live object in slot `index`, if any.
    pub(crate) fn live_at(&self, index: u32) -> Option<Handle> {
        let s = self.slots.get(index as usize)?;
        s.value.as_ref().map(|_| Handle {
            index,
            generation: s.generation,
        })
    }

    /// The handle of slot `index`'s latest object, live or removed; `None` for a slot
    /// never used.
    pub(crate) fn slot_handle(&self, index: u32) -> Option<Handle> {
        let s = self.slots.get(index as usize)?;
        Some(Handle {
            index,
            generation: s.generation,
        })
    }

    /// Whether slot `index` ever held an object.
    pub(crate) fn issued(&self, index: u32) -> bool {
        (index as usize) < self.slots.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    Handle {
                        index: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handle_is_rejected_after_slot_reuse() {
        let mut a = Arena::default();
        let h1 = a.insert(1);
        assert_eq!(a.remove(h1), Some(1));
        let h2 = a.insert(2);
        assert_eq!(h1.index, h2.index);
        assert!(a.get(h1).is_none());
        assert_eq!(a.get(h2), Some(&2));
        assert_eq!(a.len(), 1);
    }
}
