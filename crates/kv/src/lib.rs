//! quorate-kv
