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

mod ast;
mod attr;
mod bound;
mod check;
mod ctxt;
mod de;
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

#[derive(Clone, Copy)]
enum Which {
    Serialize,
    Deserialize,
}

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
            let stub = fallback(input, which, &krate);
            quote!(#errors #stub)
        }
        (Ok(()), None) => {
            syn::Error::new_spanned(&input.ident, "dask-serde cannot derive for this type").to_compile_error()
        }
    }
}

/// After an error, stub impls of every trait the derive would have
/// generated, so that uses of the type elsewhere do not add follow-up
/// errors: the user sees only the real mistake.
fn fallback(input: &DeriveInput, which: Which, krate: &syn::Path) -> TokenStream2 {
    let ident = &input.ident;
    let (impl_g, ty_g, where_c) = input.generics.split_for_impl();
    let p = quote!(#krate::__private);
    let unreachable = quote!(::core::unreachable!());
    let body = match (&input.data, which) {
        (syn::Data::Union(_), _) => return quote!(),
        (syn::Data::Struct(_), Which::Serialize) => quote! {
            impl #impl_g #krate::DaskSerialize for #ident #ty_g #where_c {
                fn serialize_into<'__a>(&'__a self, _: &mut #p::Vec<#krate::Frame<'__a>>) -> #krate::Result<#krate::Header> {
                    #unreachable
                }
            }
            impl #impl_g #p::SerializeField for #ident #ty_g #where_c {
                fn serialize_field<'__a>(&'__a self, _: &::core::primitive::str, _: &mut #p::FieldWriter<'__a, '_>) -> #krate::Result<()> {
                    #unreachable
                }
            }
            impl #impl_g #p::SerializeElem for #ident #ty_g #where_c {
                fn serialize_vec<'__a>(_: &'__a [Self], _: &::core::primitive::str, _: &mut #p::FieldWriter<'__a, '_>) -> #krate::Result<()> {
                    #unreachable
                }
                fn serialize_map<'__a>(_: #p::Vec<(&'__a ::core::primitive::str, &'__a Self)>, _: &::core::primitive::str, _: &mut #p::FieldWriter<'__a, '_>) -> #krate::Result<()> {
                    #unreachable
                }
            }
        },
        (syn::Data::Struct(_), Which::Deserialize) => quote! {
            impl #impl_g #krate::DaskDeserialize for #ident #ty_g #where_c {
                fn deserialize_from(_: &#krate::Header, _: &[#krate::bytes::Bytes], _: &#krate::Limits) -> #krate::Result<Self> {
                    #unreachable
                }
            }
            impl #impl_g #p::DeserializeField for #ident #ty_g #where_c {
                fn deserialize_field(_: #p::FieldValue<'_>) -> #krate::Result<Self> {
                    #unreachable
                }
            }
            impl #impl_g #p::DeserializeElem for #ident #ty_g #where_c {
                fn deserialize_vec(_: #p::FieldValue<'_>) -> #krate::Result<#p::Vec<Self>> {
                    #unreachable
                }
                fn deserialize_map(_: #p::FieldValue<'_>) -> #krate::Result<#p::Vec<(#p::String, Self)>> {
                    #unreachable
                }
            }
        },
        (syn::Data::Enum(_), Which::Serialize) => quote! {
            impl #impl_g #p::ToMsgpack for #ident #ty_g #where_c {
                fn to_msgpack(&self) -> #krate::Result<#krate::MsgValue> {
                    #unreachable
                }
            }
            impl #impl_g #p::MsgpackListItem for #ident #ty_g #where_c {}
            impl #impl_g #p::SerializeField for #ident #ty_g #where_c {
                fn serialize_field<'__a>(&'__a self, _: &::core::primitive::str, _: &mut #p::FieldWriter<'__a, '_>) -> #krate::Result<()> {
                    #unreachable
                }
            }
            impl #impl_g #p::SerializeElem for #ident #ty_g #where_c {
                fn serialize_vec<'__a>(_: &'__a [Self], _: &::core::primitive::str, _: &mut #p::FieldWriter<'__a, '_>) -> #krate::Result<()> {
                    #unreachable
                }
                fn serialize_map<'__a>(_: #p::Vec<(&'__a ::core::primitive::str, &'__a Self)>, _: &::core::primitive::str, _: &mut #p::FieldWriter<'__a, '_>) -> #krate::Result<()> {
                    #unreachable
                }
            }
        },
        (syn::Data::Enum(_), Which::Deserialize) => quote! {
            impl #impl_g #p::FromMsgpack for #ident #ty_g #where_c {
                fn from_msgpack(_: &#krate::MsgValue) -> #krate::Result<Self> {
                    #unreachable
                }
            }
            impl #impl_g #p::DeserializeField for #ident #ty_g #where_c {
                fn deserialize_field(_: #p::FieldValue<'_>) -> #krate::Result<Self> {
                    #unreachable
                }
            }
            impl #impl_g #p::DeserializeElem for #ident #ty_g #where_c {
                fn deserialize_vec(_: #p::FieldValue<'_>) -> #krate::Result<#p::Vec<Self>> {
                    #unreachable
                }
                fn deserialize_map(_: #p::FieldValue<'_>) -> #krate::Result<#p::Vec<(#p::String, Self)>> {
                    #unreachable
                }
            }
        },
    };
    quote! {
        #[allow(unused_qualifications)]
        const _: () = {
            #body
        };
    }
}
