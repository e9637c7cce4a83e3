//! quorate-storage
