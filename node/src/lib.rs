//! quorate-node library (in progress)
