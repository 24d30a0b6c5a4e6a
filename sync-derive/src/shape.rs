//! Field types recognised by their written shape. A derive sees tokens, not types: `Option`
//! is any path ending in `Option` with one type argument, `String` any path ending in
//! `String` (so `std::string::String` counts, and a type alias of either does not).

use syn::{GenericArgument, PathArguments, Type};

/// `String`, `std::string::String`, `alloc::string::String` (any path ending in `String`).
pub fn is_string(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|seg| seg.ident == "String" && seg.arguments.is_none())
}

/// `Option<String>` (any path ending in `Option`, around any path ending in `String`).
pub fn is_option_string(ty: &Type) -> bool {
    option_inner(ty).is_some_and(is_string)
}

/// `T` of an `Option<T>` (any path ending in `Option` with one type argument).
pub fn option_inner(ty: &Type) -> Option<&Type> {
    let seg = last_segment(ty)?;
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    match (seg.ident == "Option", args.args.len(), args.args.first()) {
        (true, 1, Some(GenericArgument::Type(inner))) => Some(inner),
        _ => None,
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_types_are_recognised_by_their_last_segment() {
        let yes: [Type; 3] = [
            syn::parse_quote!(String),
            syn::parse_quote!(::std::string::String),
            syn::parse_quote!(alloc::string::String),
        ];
        assert!(yes.iter().all(is_string));
        let no: [Type; 3] = [
            syn::parse_quote!(i64),
            syn::parse_quote!(&str),
            syn::parse_quote!(Option<String>),
        ];
        assert!(!no.iter().any(is_string));
        assert!(is_option_string(&syn::parse_quote!(
            ::core::option::Option<::std::string::String>
        )));
        assert!(!is_option_string(&syn::parse_quote!(Option<i64>)));
        assert!(!is_option_string(&syn::parse_quote!(Vec<String>)));
    }
}
