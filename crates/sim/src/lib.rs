//! quorate-sim
