//! The allocator of the processes that relay Streams.
//!
//! glibc's allocator returns freed memory at the top of its heap to the kernel as soon as more
//! than 128 KiB is free there, and maps larger blocks afresh each time. A relay frees and
//! allocates buffers of tens of KiB for every chunk it forwards, so under glibc it kept giving
//! pages back and faulting them in again, zeroed: in a profile of a bulk Stream,
//! `postern-server` spent 14 % of its time in page faults and in `realloc` copies beneath
//! HTTP/2's read buffer. mimalloc keeps freed pages for reuse and serves these sizes from
//! per-thread free lists.

/// The allocator; each binary that relays declares `#[global_allocator]` with it.
pub type Relaying = mimalloc::MiMalloc;

/// The value to declare it with.
pub const RELAYING: Relaying = mimalloc::MiMalloc;
