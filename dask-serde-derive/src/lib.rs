//! `#[derive(DaskSerialize, DaskDeserialize)]` for [dask-serde]: per-type
//! code producing exactly the header Python's `register_generic` produces,
//! with buffer and array fields as zero-copy frames.
//!
//! Use it through `dask_serde` (feature `derive`, on by default), which
//! re-exports both macros. The derive for structs generates
//! `DaskSerialize`/`DaskDeserialize` plus the placement traits that let the
//! struct be a field (nested object) or an item of a list or map of another
//! derived struct. For enums whose variants are all unit variants, it
//! generates the traits that send a value as its variant name (a Python
//! `str`).
//!
//! # Attributes
//!
//! Container (`#[dask(...)]` on the struct or enum):
//!
//! | attribute | effect |
//! |---|---|
//! | `python = "pkg.mod.Class"` | the Python class (module and class name) named by `type-serialized`; default: the Rust module path with `::` replaced by `.`, plus the type name |
//! | `rename_all = "..."` | rename every field (or variant): `lowercase`, `UPPERCASE`, `PascalCase`, `camelCase`, `snake_case`, `SCREAMING_SNAKE_CASE`, `kebab-case`, `SCREAMING-KEBAB-CASE` |
//! | `crate = "path"` | path of the `dask_serde` crate (default `::dask_serde`) |
//! | `deny_unknown_fields` | decoding fails on attributes the struct does not have (default: ignored) |
//! | `bound = "T: Trait, ..."` | replace the inferred where-clause |
//!
//! Field:
//!
//! | attribute | effect |
//! |---|---|
//! | `frame` | serialize the field as its own `dask` value into frames (`complex`); the type must implement `DaskSerialize`/`DaskDeserialize` |
//! | `header` | keep the field in the header (`simple`, msgpack); the type must implement `ToMsgpack`/`FromMsgpack` (`Vec<u8>` becomes msgpack `bin`) |
//! | `rename = "name"` | the attribute name on the wire |
//! | `skip` | not sent; rebuilt with `Default::default()` (or `default = "path"`) |
//! | `default` / `default = "path"` | value to use when the attribute is absent |
//! | `with = "module"` | `module::serialize_field(&value, name, writer)` and `module::deserialize_field(field_value)` decide the placement |
//!
//! Variant: `rename = "name"`.
//!
//! Placement without attributes: numbers, `bool`, `String`, `Option`,
//! lists and string-keyed maps of those go in the header; `Bytes` and
//! `Vec<u8>` become bytes frames; numeric `Vec<T>`, `Array<T>`, `NdArray`
//! numpy frames; nested derived structs nested headers; maps of those a
//! `nested-dict`.
//!
//! [dask-serde]: https://docs.rs/dask-serde

#![warn(clippy::missing_docs_in_private_items)]

mod ast;
mod attr;
mod bound;
mod case;
mod check;
mod ctxt;
mod de;
mod fallback;
mod ser;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{parse_macro_input, DeriveInput};

/// Derives `DaskSerialize` (structs) or the header-value traits (unit
/// enums). See the crate documentation for the attributes.
#[proc_macro_derive(DaskSerialize, attributes(dask))]
pub fn derive_dask_serialize(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Which::Serialize).into()
}

/// Derives `DaskDeserialize` (structs) or the header-value traits (unit
/// enums). See the crate documentation for the attributes.
#[proc_macro_derive(DaskDeserialize, attributes(dask))]
pub fn derive_dask_deserialize(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input, Which::Deserialize).into()
}

/// Which of the two derives is expanding.
#[derive(Clone, Copy)]
enum Which {
    /// `#[derive(DaskSerialize)]`.
    Serialize,
    /// `#[derive(DaskDeserialize)]`.
    Deserialize,
}

/// The whole pipeline: parse (`ast`, `attr`), validate (`check`), then
/// generate (`ser`/`de`) or, after any error, the errors plus stub impls
/// (`fallback`).
fn expand(input: &DeriveInput, which: Which) -> TokenStream2 {
    let cx = ctxt::Ctxt::new();
    let cont = ast::Container::from_ast(&cx, input);
    if let Some(cont) = &cont {
        check::check(&cx, cont);
    }
    let krate: syn::Path = cont
        .as_ref()
        .and_then(|c| c.attrs.krate.clone())
        .unwrap_or_else(|| syn::parse_quote!(::dask_serde));
    let result = cx.check();
    match (result, cont) {
        (Ok(()), Some(cont)) => {
            let body = match which {
                Which::Serialize => ser::expand(&cont, &krate),
                Which::Deserialize => de::expand(&cont, &krate),
            };
            quote! {
                #[allow(non_upper_case_globals, unused_qualifications, clippy::needless_question_mark)]
                const _: () = {
                    #body
                };
            }
        }
        (Err(e), _) => {
            let errors = e.to_compile_error();
            let stub = fallback::expand(input, which, &krate);
            quote!(#errors #stub)
        }
        (Ok(()), None) => {
            syn::Error::new_spanned(&input.ident, "dask-serde cannot derive for this type").to_compile_error()
        }
    }
}
