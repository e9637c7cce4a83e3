//! quorate-node
