//! The store conformance suite against `MemoryStore`.
sync_core::store_conformance_tests!(sync_core::store::MemoryStore::new);
