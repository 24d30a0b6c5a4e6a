//! `#[derive(Syncable)]` for tablesync.
use proc_macro::TokenStream;

/// Placeholder; the real derive is being written.
#[proc_macro_derive(
    Syncable,
    attributes(table, id, version, sync, updated_at, created_at, deleted)
)]
pub fn derive_syncable(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
