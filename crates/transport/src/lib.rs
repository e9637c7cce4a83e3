//! quorate-transport
