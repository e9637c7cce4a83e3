//! quorate-raft
