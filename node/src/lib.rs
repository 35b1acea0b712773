//! quorate-node: the institute server's library.
//!
//! - [`store`]: the durable log (entries, Merkle hashes, checkpoints, indexes); the only
//!   module that touches the database.
//! - [`sequencer`]: admission checks and the batching write path that appends admitted
//!   attestations and signs checkpoints.
//! - [`gossip`]: the federation transport (libp2p gossip of checkpoints and equivocation
//!   evidence, and the `/quorate/fetch/1` request-response protocol).
//! - [`federation`]: embedded witness, cross-witnessing, relay and equivocation detection.
//! - [`web`]: the public HTML pages (home, reviews, reviewers, federation, activity).

pub mod gossip;
pub mod sequencer;
pub mod store;

pub mod api;
pub mod backup;
pub mod bench;
pub mod browser;
pub mod config;
pub mod datadir;
pub mod fedbench;
pub mod federation;
pub mod gzip;
pub mod health;
pub mod malloc;
pub mod metrics;
pub mod mirror;
pub mod ops_args;
pub mod outbound;
pub mod publish;
pub mod ratelimit;
pub mod reload;
pub mod reviewers;
pub mod server;
pub mod web;
