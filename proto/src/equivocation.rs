//! equivocation (in progress)
