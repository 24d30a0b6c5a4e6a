//! The one path through which generated code reaches sync-core, chosen from the user's
//! `Cargo.toml` so that the derive works with `sync-core` alone, through the `tablesync`
//! facade, or under a renamed dependency.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// `#[sync(crate = "...")]` wins; then a `sync-core` dependency (`::sync_core`, also inside
/// sync-core itself, which declares `extern crate self as sync_core`); then the facade
/// (`::tablesync::sync_core`); else `::sync_core`, whose "unresolved crate" error at least
/// names what is missing.
pub fn core_path(explicit: Option<&syn::Path>) -> TokenStream {
    if let Some(path) = explicit {
        return quote!(#path);
    }
    match crate_name("sync-core") {
        Ok(FoundCrate::Itself) => quote!(::sync_core),
        Ok(FoundCrate::Name(name)) => {
            let name = Ident::new(&name, Span::call_site());
            quote!(::#name)
        }
        Err(_) => match crate_name("tablesync") {
            Ok(FoundCrate::Itself) => quote!(crate::sync_core),
            Ok(FoundCrate::Name(name)) => {
                let name = Ident::new(&name, Span::call_site());
                quote!(::#name::sync_core)
            }
            Err(_) => quote!(::sync_core),
        },
    }
}
