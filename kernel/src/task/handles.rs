//! Per-task handle tables: the names (`mach_port_t`) through which a task refers to tasks,
//! the host, memory entries and copies.

use super::TaskId;
use alloc::vec::Vec;

/// What a handle refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handle {
    /// A task.
    Task(TaskId),
    /// The privileged host (`host_priv`), held by the init task.
    Host,
    /// A named memory entry (holds a reference to its object).
    MemoryEntry(vm::NamedId),
    /// A copy object (holds references to its objects); used once.
    Copy(vm::CopyId),
}

impl Handle {
    /// The task this handle names, if it is a task other than `holder` (a task's handle to
    /// itself does not keep it reachable).
    pub fn other_task(self, holder: TaskId) -> Option<TaskId> {
        match self {
            Self::Task(t) if t != holder => Some(t),
            _ => None,
        }
    }
}

/// A task's handles, by name. Name 0 is `MACH_PORT_NULL` and never used. Tables change only
/// through `task::grant` and `task::revoke`, which keep the tasks' reference counts.
///
/// Invariants: `slots[0]` is `None`; `live` counts the `Some` slots.
#[derive(Debug)]
pub struct HandleTable {
    slots: Vec<Option<Handle>>,
    live: usize,
}

impl Default for HandleTable {
    fn default() -> Self {
        Self::new()
    }
}

impl HandleTable {
    /// An empty table.
    pub fn new() -> Self {
        Self { slots: alloc::vec![None], live: 0 }
    }

    /// Adds `handle` and returns its name (the lowest free one).
    pub fn insert(&mut self, handle: Handle) -> u32 {
        self.live += 1;
        match self.slots.iter().skip(1).position(Option::is_none) {
            Some(i) => {
                self.slots[i + 1] = Some(handle);
                (i + 1) as u32
            }
            None => {
                self.slots.push(Some(handle));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// The handle named `name`, if any.
    pub fn get(&self, name: u32) -> Option<Handle> {
        self.slots.get(name as usize).copied().flatten()
    }

    /// The name of the first handle equal to `handle`.
    pub fn find(&self, handle: Handle) -> Option<u32> {
        self.slots.iter().position(|h| *h == Some(handle)).map(|i| i as u32)
    }

    /// Number of handles, in O(1).
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the table holds no handle.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Every handle.
    pub fn iter(&self) -> impl Iterator<Item = Handle> + '_ {
        self.slots.iter().flatten().copied()
    }

    /// Removes the handle named `name`; returns it.
    pub fn remove(&mut self, name: u32) -> Option<Handle> {
        if name == 0 {
            return None;
        }
        let handle = self.slots.get_mut(name as usize)?.take()?;
        self.live -= 1;
        self.trim();
        Some(handle)
    }

    /// Gives back capacity grown at a peak: drops free names at the top (the lowest free
    /// name is reused first, so live handles gather at the bottom) and shrinks storage left
    /// mostly unused.
    fn trim(&mut self) {
        while self.slots.len() > 1 && self.slots.last() == Some(&None) {
            self.slots.pop();
        }
        if self.slots.capacity() > 16 && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to((self.slots.len() * 2).max(16));
        }
    }

    /// Storage allocated for names (live or free).
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }
}
