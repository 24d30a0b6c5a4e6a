//! The idempotency key each operation carries in a batch (see EXTENSION.md).

use std::fmt::Write as _;

use crate::store::Operation;
use crate::transport::Write;

/// The idempotency key of an operation as sent: the same entry at the same revision
/// sending the same write has the same key (so a re-send after a lost answer is
/// recognized by a server that records keys); anything else a different one, even
/// should a queue sequence number be reused.
pub(super) fn op_key(op: &Operation, write: &Write) -> String {
    let mut h = Fnv128::default();
    h.text(&op.table);
    h.text(&op.item_id);
    h.bytes(&op.seq.to_le_bytes());
    h.bytes(&op.revision.to_le_bytes());
    match write {
        Write::Insert { item } => {
            h.text("insert");
            let _ = write!(h, "{item:?}");
        }
        Write::Update {
            item,
            expected_version,
        } => {
            h.text("update");
            h.text(expected_version.as_deref().unwrap_or(""));
            let _ = write!(h, "{item:?}");
        }
        Write::Delete {
            expected_version, ..
        } => {
            h.text("delete");
            h.text(expected_version.as_deref().unwrap_or(""));
        }
    }
    format!("ts1-{:032x}", h.0)
}

/// FNV-1a, 128 bits: stable across builds and runs (std's hashers promise neither),
/// and a few lines; a key needs no cryptographic strength, only to differ.
struct Fnv128(u128);

impl std::fmt::Write for Fnv128 {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

impl Default for Fnv128 {
    fn default() -> Self {
        Fnv128(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d)
    }
}

impl Fnv128 {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u128::from(*b);
            self.0 = self
                .0
                .wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
    }

    /// A string, delimited so that ("ab", "c") and ("a", "bc") differ. (What is
    /// written through `fmt::Write` is hashed as it comes, undelimited: one such write
    /// per key, last.)
    fn text(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }
}
