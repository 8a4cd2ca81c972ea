//! The server's one reviewed `unsafe` module: SQLite's process-wide memory controls, which
//! rusqlite does not wrap, and glibc's `malloc_trim` and `mallopt`.
//!
//! Review notes: every function here passes and returns plain integers (no pointer, no
//! lifetime, no callback), so no argument can make a call unsound. The SQLite functions are
//! thread-safe in the bundled build (`SQLITE_THREADSAFE=1`: they take SQLite's memory mutex) and
//! need no initialisation beyond what any connection already did. Memory statistics, which the
//! heap limit relies on, are on in that build (`SQLITE_DEFAULT_MEMSTATUS` is left at 1).
//! `malloc_trim` only returns free memory to the operating system, and `mallopt` only tunes when
//! glibc maps memory; both are safe to call at any time, from any thread.

use rusqlite::ffi;

/// Sets SQLite's hard heap limit, for the whole process (0: none): an allocation that would
/// take SQLite's memory past it fails, and the statement that asked fails with `SQLITE_NOMEM`.
pub(crate) fn set_hard_heap_limit(bytes: u64) {
    let limit = i64::try_from(bytes).unwrap_or(i64::MAX);
    // SAFETY: an integer in, an integer out; thread-safe (see the module docs).
    let _previous = unsafe { ffi::sqlite3_hard_heap_limit64(limit) };
}

/// SQLite's heap in use now, in bytes.
pub(crate) fn memory_used() -> u64 {
    // SAFETY: no arguments; thread-safe (see the module docs).
    let used = unsafe { ffi::sqlite3_memory_used() };
    u64::try_from(used).unwrap_or(0)
}

/// The most SQLite's heap held since the last call (the high-water mark, then reset).
pub(crate) fn take_memory_highwater() -> u64 {
    // SAFETY: an integer in (reset: yes), an integer out; thread-safe (see the module docs).
    let high = unsafe { ffi::sqlite3_memory_highwater(1) };
    u64::try_from(high).unwrap_or(0)
}

/// Asks SQLite to free what it can (unused page cache of every connection), and the allocator
/// to give free memory back to the operating system. Returns whether the allocator released
/// anything (always `false` where there is no `malloc_trim`).
pub(crate) fn release_memory() -> bool {
    // SAFETY: an integer in, an integer out; thread-safe (see the module docs).
    let _freed = unsafe { ffi::sqlite3_release_memory(i32::MAX) };
    trim_allocator()
}

/// Allocations at least this large get their own mapping, given back to the system when freed.
const MMAP_THRESHOLD: i32 = 4 * 1024 * 1024;

/// Makes glibc map every allocation of [`MMAP_THRESHOLD`] or more on its own, instead of raising
/// that threshold as large blocks are freed (its default, up to 32 MiB): a large block freed in
/// a thread's arena stays resident (`malloc_trim` does not shrink those arenas' tops), so a few
/// 30 MB values would otherwise keep tens of MB after their query. Process-wide; does nothing
/// elsewhere than glibc.
pub(crate) fn limit_allocator_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: integers in and out; only changes a tuning parameter of the allocator.
    let _set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_allocator() -> bool {
    // SAFETY: malloc_trim(0) takes an integer and only unmaps free pages of glibc's heaps.
    unsafe { libc::malloc_trim(0) != 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_allocator() -> bool {
    false
}
