//! I/O pieces shared by the processes that relay Streams: `postern-server`, and the `postern`
//! CLI and connector. Nothing here knows about Postern's protocol; `protocol` stays free of I/O.

pub mod read_ahead;

pub use read_ahead::ReadAhead;
