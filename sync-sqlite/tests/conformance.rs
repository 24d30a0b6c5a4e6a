//! The store conformance suite of sync-core, against `SqliteStore` in memory and in a
//! temporary file (WAL, `synchronous=FULL`: the configuration apps run).

mod in_memory {
    sync_core::store_conformance_tests!(|| {
        sync_sqlite::SqliteStore::open_in_memory().expect("an in-memory store opens")
    });
}

mod in_a_file {
    use std::sync::Arc;

    use sync_core::store::{Store, StoreError, StoreTx};
    use sync_sqlite::SqliteStore;

    /// A file store that deletes its directory when dropped.
    pub struct FileStore {
        store: SqliteStore,
        _dir: Arc<tempfile::TempDir>,
    }

    impl Store for FileStore {
        fn transaction<R, F>(&self, f: F) -> Result<R, StoreError>
        where
            F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
        {
            self.store.transaction(f)
        }

        fn read<R, F>(&self, f: F) -> Result<R, StoreError>
        where
            F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
        {
            self.store.read(f)
        }
    }

    pub fn open() -> FileStore {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = SqliteStore::open(dir.path().join("store.db")).expect("a file store opens");
        FileStore {
            store,
            _dir: Arc::new(dir),
        }
    }

    sync_core::store_conformance_tests!(open);
}
