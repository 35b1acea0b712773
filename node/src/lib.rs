//! quorate-node: the institute server's library.
//!
//! - [`store`]: the durable log (entries, Merkle hashes, checkpoints, indexes); the only
//!   module that touches the database.
//! - [`sequencer`]: admission checks and the batching write path that appends admitted
//!   attestations and signs checkpoints.

pub mod sequencer;
pub mod store;
