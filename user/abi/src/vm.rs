//! Mach VM types and constants, and the structures calls exchange through memory.

/// A user virtual address.
pub type vm_address_t = u64;
/// A size in bytes.
pub type vm_size_t = u64;
/// An offset in bytes.
pub type vm_offset_t = u64;
/// A protection: a set of `VM_PROT_*` bits.
pub type vm_prot_t = i32;
/// An inheritance: one of `VM_INHERIT_*`.
pub type vm_inherit_t = u32;
/// An access-pattern hint: one of `VM_BEHAVIOR_*`.
pub type vm_behavior_t = i32;
/// A handle (task, host, memory entry or copy) in the caller's handle table.
pub type mach_port_t = u32;
/// A Mach boolean.
pub type boolean_t = u32;

/// No access.
pub const VM_PROT_NONE: vm_prot_t = 0;
/// Read access.
pub const VM_PROT_READ: vm_prot_t = 1;
/// Write access.
pub const VM_PROT_WRITE: vm_prot_t = 2;
/// Execute access.
pub const VM_PROT_EXECUTE: vm_prot_t = 4;
/// Read and write: the protection of new memory.
pub const VM_PROT_DEFAULT: vm_prot_t = VM_PROT_READ | VM_PROT_WRITE;
/// Every access: the maximum protection of new memory.
pub const VM_PROT_ALL: vm_prot_t = VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE;

/// The child shares the memory.
pub const VM_INHERIT_SHARE: vm_inherit_t = 0;
/// The child gets a copy-on-write copy.
pub const VM_INHERIT_COPY: vm_inherit_t = 1;
/// The child gets nothing.
pub const VM_INHERIT_NONE: vm_inherit_t = 2;
/// The inheritance of new memory.
pub const VM_INHERIT_DEFAULT: vm_inherit_t = VM_INHERIT_COPY;

/// Place the memory exactly at `*address`.
pub const VM_FLAGS_FIXED: i32 = 0;
/// Place the memory anywhere (first fit from the bottom of the map).
pub const VM_FLAGS_ANYWHERE: i32 = 1;

/// No particular access pattern.
pub const VM_BEHAVIOR_DEFAULT: vm_behavior_t = 0;
/// Random access.
pub const VM_BEHAVIOR_RANDOM: vm_behavior_t = 1;
/// Sequential access.
pub const VM_BEHAVIOR_SEQUENTIAL: vm_behavior_t = 2;
/// Will be needed soon.
pub const VM_BEHAVIOR_WILLNEED: vm_behavior_t = 5;
/// Will not be needed.
pub const VM_BEHAVIOR_DONTNEED: vm_behavior_t = 6;

/// `vm_msync`: write back synchronously.
pub const VM_SYNC_SYNCHRONOUS: i32 = 0x01;
/// `vm_msync`: write back asynchronously.
pub const VM_SYNC_ASYNCHRONOUS: i32 = 0x02;
/// `vm_msync`: discard cached pages.
pub const VM_SYNC_INVALIDATE: i32 = 0x04;

/// Mach's TRUE.
pub const TRUE: boolean_t = 1;
/// Mach's FALSE.
pub const FALSE: boolean_t = 0;
/// No handle.
pub const MACH_PORT_NULL: mach_port_t = 0;

/// What `vm_region` reports of one region (GNU Mach's out-parameters, gathered).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmRegionInfo {
    /// Current protection.
    pub protection: vm_prot_t,
    /// Maximum protection.
    pub max_protection: vm_prot_t,
    /// Inheritance.
    pub inheritance: vm_inherit_t,
    /// Whether the memory is shared with another task ([`TRUE`] or [`FALSE`]).
    pub shared: boolean_t,
    /// User wirings of the region.
    pub user_wired_count: u32,
    /// Access-pattern hint.
    pub behavior: vm_behavior_t,
    /// Byte offset of the region in its memory object.
    pub offset: vm_offset_t,
}

/// The VM counters (`vm_stat`), in pages or events.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmStatistics {
    /// Pages free.
    pub free_count: u64,
    /// Pages resident in memory objects.
    pub resident_count: u64,
    /// Pages mapped wired.
    pub wire_count: u64,
    /// Frames holding page tables.
    pub page_table_count: u64,
    /// Page faults resolved.
    pub faults: u64,
    /// Pages zero-filled by faults.
    pub zero_fill_count: u64,
    /// Pages copied by copy-on-write faults.
    pub cow_faults: u64,
    /// Pages copied outside faults (copies that could not be deferred).
    pub pages_copied: u64,
}

/// The arguments of `vm_map`, passed by address (laid out without padding).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmMapArgs {
    /// In: the address (FIXED) or hint; out: where the memory was mapped.
    pub address: vm_address_t,
    /// Size in bytes.
    pub size: vm_size_t,
    /// Bits that must be clear in the chosen address.
    pub mask: vm_address_t,
    /// Byte offset in the object (page-aligned).
    pub offset: vm_offset_t,
    /// Target task.
    pub target_task: mach_port_t,
    /// `VM_FLAGS_*`.
    pub flags: i32,
    /// A memory-entry handle, or [`MACH_PORT_NULL`] for anonymous memory.
    pub object: mach_port_t,
    /// Copy-on-write copy ([`TRUE`]) or shared mapping ([`FALSE`]).
    pub copy: boolean_t,
    /// Current protection.
    pub cur_protection: vm_prot_t,
    /// Maximum protection.
    pub max_protection: vm_prot_t,
    /// Inheritance.
    pub inheritance: vm_inherit_t,
    /// Must be 0.
    pub reserved: u32,
}

/// `vm_map_device` flag: map the device memory write-combining (frame buffers).
pub const VM_DEVICE_WRITE_COMBINING: i32 = 0x100;
/// `vm_map_device` flag: map the device memory uncached (registers).
pub const VM_DEVICE_UNCACHED: i32 = 0x200;

/// What `host_framebuffer` reports of the boot frame buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramebufferInfo {
    /// Physical address of its first byte (page-aligned).
    pub phys: u64,
    /// Bytes.
    pub size: u64,
    /// Pixels per line shown.
    pub width: u32,
    /// Lines.
    pub height: u32,
    /// Pixels per line in memory.
    pub stride: u32,
    /// Bytes per pixel.
    pub bytes_per_pixel: u32,
}

/// The name of the privileged host handle in the init task's table (name 1 is the task
/// itself).
pub const INIT_HOST_PRIV: mach_port_t = 2;

/// What `task_info` reports of a task.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskBasicInfo {
    /// User page faults the task has taken.
    pub faults: u64,
    /// Pages it has mapped (translations in its address space).
    pub resident_count: u64,
    /// Of those, the wired ones.
    pub wired_count: u64,
    /// Bytes of its address space covered by regions.
    pub virtual_size: u64,
    /// Regions (map entries).
    pub region_count: u64,
}

/// `mach_make_memory_entry` permission flag: a new anonymous object rather than a range of
/// the task's map (XNU's `MAP_MEM_NAMED_CREATE`).
pub const MAP_MEM_NAMED_CREATE: vm_prot_t = 0x0002_0000;

/// `vm_machine_attribute` attribute: caching.
pub const MATTR_CACHE: u32 = 1;
/// `vm_machine_attribute` attribute: page migration (not supported).
pub const MATTR_MIGRATE: u32 = 2;
/// `vm_machine_attribute` attribute: page replication (not supported).
pub const MATTR_REPLICATE: u32 = 4;
/// Value: off.
pub const MATTR_VAL_OFF: i32 = 0;
/// Value: on.
pub const MATTR_VAL_ON: i32 = 1;
/// Value: read the current setting.
pub const MATTR_VAL_GET: i32 = 2;
/// Value: flush the instruction cache.
pub const MATTR_VAL_ICACHE_FLUSH: i32 = 3;
/// Value: flush the data cache.
pub const MATTR_VAL_DCACHE_FLUSH: i32 = 5;
/// Value: flush both caches.
pub const MATTR_VAL_CACHE_FLUSH: i32 = 6;

/// The arguments of `vm_remap`, passed by address (laid out without padding).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmRemapArgs {
    /// In: the address (FIXED); out: where the source was mapped.
    pub target_address: vm_address_t,
    /// Size in bytes.
    pub size: vm_size_t,
    /// Bits that must be clear in the chosen address.
    pub mask: vm_address_t,
    /// First byte of the source range.
    pub src_address: vm_address_t,
    /// Target task.
    pub target_task: mach_port_t,
    /// `VM_FLAGS_*`.
    pub flags: i32,
    /// Source task.
    pub src_task: mach_port_t,
    /// Copy-on-write copy ([`TRUE`]) or shared ([`FALSE`]).
    pub copy: boolean_t,
    /// Out: the current protection common to the whole mapping.
    pub cur_protection: vm_prot_t,
    /// Out: the maximum protection common to the whole mapping.
    pub max_protection: vm_prot_t,
    /// Inheritance of the new mapping.
    pub inheritance: vm_inherit_t,
    /// Must be 0.
    pub reserved: u32,
}
