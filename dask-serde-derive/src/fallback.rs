//! Stub impls emitted after an error.
//!
//! When the input has a mistake, the derive reports it and emits, instead
//! of the real code, an impl of every trait it would have generated with
//! bodies that are never run. Uses of the type elsewhere (as a field, a
//! list item, an argument of `serialize`) then still type-check, so the
//! user sees only the real mistake rather than a cascade of "trait not
//! implemented" errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::Which;

/// After an error, stub impls of every trait the derive would have
/// generated, so that uses of the type elsewhere do not add follow-up
/// errors: the user sees only the real mistake.
pub fn expand(input: &DeriveInput, which: Which, krate: &syn::Path) -> TokenStream {
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
