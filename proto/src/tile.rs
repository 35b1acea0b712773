//! tile (in progress)
