//! The handles a fuzzing task holds, so that it knows what each name is: its own task, the
//! host, the tasks it created (victims), memory entries and copies. Names it gave up are kept
//! as stale names, a favourite hostile argument.

use super::rng::Rng;

/// What a victim task is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VictimState {
    /// Alive without a thread.
    Idle,
    /// Given a thread at a bad entry point or stack: it ends on its first instruction.
    Doomed,
    /// Running a kamikaze fuzzer until the time-stamp counter passes `deadline`.
    Kamikaze { deadline: u64 },
    /// Ended; the handle still names it.
    Ended,
}

/// A task this task created.
#[derive(Clone, Copy, Debug)]
pub struct Victim {
    pub name: u32,
    pub state: VictimState,
}

/// A small table of `N` optional values.
pub struct Table<T: Copy, const N: usize> {
    slots: [Option<T>; N],
}

impl<T: Copy, const N: usize> Table<T, N> {
    pub const fn new() -> Self {
        Self { slots: [None; N] }
    }

    pub fn is_full(&self) -> bool {
        self.slots.iter().all(Option::is_some)
    }

    pub fn insert(&mut self, value: T) -> bool {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(value);
                true
            }
            None => false,
        }
    }

    pub fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<usize> {
        self.slots.iter().position(|s| s.as_ref().is_some_and(&mut pred))
    }

    pub fn get(&self, index: usize) -> Option<T> {
        self.slots[index]
    }

    pub fn set(&mut self, index: usize, value: T) {
        self.slots[index] = Some(value);
    }

    pub fn take(&mut self, index: usize) -> Option<T> {
        self.slots[index].take()
    }

    /// A random present value, with its index.
    pub fn pick(&self, rng: &mut Rng) -> Option<(usize, T)> {
        let start = rng.below(N as u64) as usize;
        (0..N).map(|i| (start + i) % N).find_map(|i| self.slots[i].map(|v| (i, v)))
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.map(|v| (i, v)))
    }
}

/// What a name in this task's table is, as far as the task knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Me,
    Host,
    Victim(usize),
    Entry(usize),
    Copy(usize),
    Unknown,
}

/// Every handle the task holds.
pub struct Handles {
    pub me: u32,
    pub host: Option<u32>,
    pub victims: Table<Victim, 6>,
    pub entries: Table<u32, 6>,
    /// Copy handles and their sizes in bytes.
    pub copies: Table<(u32, u64), 6>,
    stale: [u32; 8],
    stale_next: usize,
    /// The highest name ever seen.
    pub max_name: u32,
}

impl Handles {
    pub fn new(me: u32, host: Option<u32>) -> Self {
        let max_name = me.max(host.unwrap_or(0));
        Self { me, host, victims: Table::new(), entries: Table::new(), copies: Table::new(), stale: [0; 8], stale_next: 0, max_name }
    }

    /// What `name` (a raw argument) is.
    pub fn role(&self, name: u64) -> Role {
        let Ok(name) = u32::try_from(name) else { return Role::Unknown };
        if name == 0 {
            Role::Unknown
        } else if name == self.me {
            Role::Me
        } else if Some(name) == self.host {
            Role::Host
        } else if let Some(i) = self.victims.find(|v| v.name == name) {
            Role::Victim(i)
        } else if let Some(i) = self.entries.find(|&e| e == name) {
            Role::Entry(i)
        } else if let Some(i) = self.copies.find(|c| c.0 == name) {
            Role::Copy(i)
        } else {
            Role::Unknown
        }
    }

    /// Records a new name.
    pub fn saw(&mut self, name: u32) {
        self.max_name = self.max_name.max(name);
    }

    /// Records a name given up.
    pub fn forget(&mut self, name: u32) {
        self.stale[self.stale_next] = name;
        self.stale_next = (self.stale_next + 1) % self.stale.len();
    }

    /// A name given up earlier (perhaps reused since).
    pub fn stale(&self, rng: &mut Rng) -> u32 {
        rng.pick(&self.stale)
    }

    /// Any victim that is alive and whose memory only this task changes.
    pub fn idle_victim(&self, rng: &mut Rng) -> Option<(usize, Victim)> {
        let start = rng.below(6) as usize;
        (0..6).map(|i| (start + i) % 6).find_map(|i| self.victims.get(i).filter(|v| v.state == VictimState::Idle).map(|v| (i, v)))
    }
}
