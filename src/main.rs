//! The `ebb` binary: the command line in `ebb::cli`, on jemalloc.
//!
//! glibc's malloc kept about as much freed memory as the daemon really held
//! (a round's transient buffers, freed into fragmented arenas), and RSS
//! crept round after round. jemalloc with two arenas that hand freed pages
//! back to the kernel at once (a background thread purges) holds RSS near
//! the heap: at 10,000 targets (benches/fleet_tick.rs) RSS after 20 rounds
//! 167 -> 110 MiB. The allocator is the binary's only: the library and its
//! tests keep the system's. Built with the `system-allocator` feature, the
//! binary keeps glibc's too: for heap profilers that hook malloc
//! (heaptrack), which do not see jemalloc's.

#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (`_RJEM_MALLOC_CONF` in the
/// environment overrides them): two arenas (not four per core: the
/// daemon's threads mostly wait on the network), dirty and muzzy pages
/// returned to the kernel at once instead of after 10 s, by a background
/// thread rather than in the freeing thread.
#[cfg(not(feature = "system-allocator"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: ConfString =
    ConfString(c"background_thread:true,narenas:2,dirty_decay_ms:0,muzzy_decay_ms:0".as_ptr());

/// A C string in a static: jemalloc reads a `const char *` by this name.
#[cfg(not(feature = "system-allocator"))]
#[repr(transparent)]
struct ConfString(*const std::ffi::c_char);

// SAFETY: the pointer is to a string literal, never written.
#[cfg(not(feature = "system-allocator"))]
unsafe impl Sync for ConfString {}

fn main() -> std::process::ExitCode {
    ebb::cli::main()
}
