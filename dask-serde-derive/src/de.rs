//! Code generation for `#[derive(DaskDeserialize)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Container, Data, Field, Variant};
use crate::attr::{FieldDefault, Placement};
use crate::bound;

/// The impls of `#[derive(DaskDeserialize)]` for `cont`.
pub fn expand(cont: &Container<'_>, krate: &syn::Path) -> TokenStream {
    match &cont.data {
        Data::Struct(fields) => expand_struct(cont, fields, krate),
        Data::Enum(variants) => expand_enum(cont, variants, krate),
    }
}

/// The expression decoding sent field `f` from the `FieldValue` `__value`.
fn read_field(f: &Field<'_>, krate: &syn::Path) -> TokenStream {
    let ty = f.ty;
    let span = ty.span();
    match &f.attrs.placement {
        Placement::With(with) => quote_spanned!(span=> #with::deserialize_field(__value)),
        Placement::Frame => quote_spanned!(span=> #krate::__private::FieldValue::decode::<#ty>(__value)),
        Placement::Header => {
            quote_spanned!(span=> #krate::__private::FieldValue::simple(__value).and_then(<#ty as #krate::__private::FromMsgpack>::from_msgpack))
        }
        Placement::Auto => {
            quote_spanned!(span=> <#ty as #krate::__private::DeserializeField>::deserialize_field(__value))
        }
        Placement::Skip => unreachable!("a skipped field is not read"),
    }
}

/// The value of a skipped field: its `default`, else `Default::default()`.
fn skipped_value(f: &Field<'_>) -> TokenStream {
    let ty = f.ty;
    let span = ty.span();
    match &f.attrs.default {
        FieldDefault::Path(p) => quote_spanned!(p.span()=> #p()),
        FieldDefault::Trait | FieldDefault::None => {
            quote_spanned!(span=> <#ty as ::core::default::Default>::default())
        }
    }
}

/// The value of sent field `f` when its attribute is absent: its
/// `default`, else (placement by trait) `DeserializeField::missing`, else
/// a "missing attribute" error returned from `deserialize_from`.
fn missing_field(f: &Field<'_>, krate: &syn::Path) -> TokenStream {
    let ty = f.ty;
    let name = &f.name;
    let span = ty.span();
    match (&f.attrs.default, &f.attrs.placement) {
        (FieldDefault::Trait, _) => quote_spanned!(span=> <#ty as ::core::default::Default>::default()),
        (FieldDefault::Path(p), _) => quote_spanned!(p.span()=> #p()),
        (FieldDefault::None, Placement::Auto) => {
            quote_spanned! {span=>
                match <#ty as #krate::__private::DeserializeField>::missing() {
                    #krate::__private::Some(__v) => __v,
                    #krate::__private::None => return #krate::__private::Err(#krate::__private::ClassInfo::missing(__info, #name)),
                }
            }
        }
        (FieldDefault::None, Placement::Header | Placement::Frame | Placement::With(_)) => {
            quote!(return #krate::__private::Err(#krate::__private::ClassInfo::missing(__info, #name)))
        }
        (FieldDefault::None, Placement::Skip) => unreachable!("a skipped field is never missing"),
    }
}

/// The bound a generic field's type needs for the field to be read (or,
/// skipped, defaulted).
fn field_bound(f: &Field<'_>, krate: &syn::Path) -> Option<syn::WherePredicate> {
    let ty = f.ty;
    match (&f.attrs.placement, &f.attrs.default) {
        (Placement::Skip, FieldDefault::Path(_)) => None,
        (Placement::Skip, FieldDefault::Trait | FieldDefault::None) => {
            Some(syn::parse_quote!(#ty: ::core::default::Default))
        }
        (Placement::With(_), _) => None,
        (Placement::Frame, _) => Some(syn::parse_quote!(#ty: #krate::DaskDeserialize)),
        (Placement::Header, _) => Some(syn::parse_quote!(#ty: #krate::__private::FromMsgpack)),
        (Placement::Auto, _) => Some(syn::parse_quote!(#ty: #krate::__private::DeserializeField)),
    }
}

/// `DaskDeserialize`, `DeserializeField` and `DeserializeElem` for a
/// struct.
fn expand_struct(cont: &Container<'_>, fields: &[Field<'_>], krate: &syn::Path) -> TokenStream {
    let ident = cont.ident;
    let generics = bound::with_bounds(cont, |f| field_bound(f, krate));
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let info = crate::ser::class_info(cont, krate);

    let sent: Vec<&Field<'_>> = fields
        .iter()
        .filter(|f| !matches!(f.attrs.placement, Placement::Skip))
        .collect();
    let vars: Vec<syn::Ident> = (0..sent.len()).map(|i| format_ident!("__f{}", i)).collect();
    let decls = sent.iter().zip(&vars).map(|(f, v)| {
        let ty = f.ty;
        quote!(let mut #v: #krate::__private::Option<#ty> = #krate::__private::None;)
    });
    let arms = sent.iter().zip(&vars).map(|(f, v)| {
        let name = &f.name;
        let read = read_field(f, krate);
        quote! {
            #name => {
                #v = #krate::__private::Some(#read.map_err(|__e| #krate::__private::ClassInfo::field_error(__info, #name, __e))?);
            }
        }
    });
    let names: Vec<&str> = sent.iter().map(|f| f.name.as_str()).collect();
    let unknown = if cont.attrs.deny_unknown_fields.is_some() {
        quote!(__other => return #krate::__private::Err(#krate::__private::ClassInfo::unknown(__info, __other, &[#(#names),*])),)
    } else {
        quote!(_ => {})
    };
    let mut sent_iter = sent.iter().zip(&vars);
    let inits = fields.iter().map(|f| {
        let member = &f.member;
        if let Placement::Skip = f.attrs.placement {
            let value = skipped_value(f);
            return quote!(#member: #value,);
        }
        let (f2, v) = match sent_iter.next() {
            Some(x) => x,
            None => return quote!(),
        };
        let missing = missing_field(f2, krate);
        quote! {
            #member: match #v {
                #krate::__private::Some(__v) => __v,
                #krate::__private::None => { #missing }
            },
        }
    });
    let match_fields = if sent.is_empty() {
        quote! {
            for __item in #krate::__private::GenericReader::fields(&__r) {
                let (__name, _) = __item?;
                match __name { #unknown }
            }
        }
    } else {
        quote! {
            for __item in #krate::__private::GenericReader::fields(&__r) {
                let (__name, __value) = __item?;
                match __name {
                    #(#arms)*
                    #unknown
                }
            }
        }
    };
    quote! {
        #[automatically_derived]
        impl #impl_g #krate::DaskDeserialize for #ident #ty_g #where_c {
            fn deserialize_from(
                __header: &#krate::Header,
                __frames: &[#krate::bytes::Bytes],
                __limits: &#krate::Limits,
            ) -> #krate::Result<Self> {
                #info
                let __r = #krate::__private::GenericReader::new(__header, &__info.class, __frames, __limits)?;
                #(#decls)*
                #match_fields
                #krate::__private::Ok(#ident { #(#inits)* })
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::DeserializeField for #ident #ty_g #where_c {
            fn deserialize_field(__value: #krate::__private::FieldValue<'_>) -> #krate::Result<Self> {
                #krate::__private::FieldValue::decode(__value)
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::DeserializeElem for #ident #ty_g #where_c {
            fn deserialize_vec(
                __value: #krate::__private::FieldValue<'_>,
            ) -> #krate::Result<#krate::__private::Vec<Self>> {
                #krate::__private::complex_elem::deserialize_vec(__value)
            }
            fn deserialize_map(
                __value: #krate::__private::FieldValue<'_>,
            ) -> #krate::Result<#krate::__private::Vec<(#krate::__private::String, Self)>> {
                #krate::__private::complex_elem::deserialize_map(__value)
            }
        }
    }
}

/// `FromMsgpack`, `DeserializeField` and `DeserializeElem` for a unit
/// enum: a value is read from its variant's name.
fn expand_enum(cont: &Container<'_>, variants: &[Variant<'_>], krate: &syn::Path) -> TokenStream {
    let ident = cont.ident;
    let ty_name = ident.to_string();
    let (impl_g, ty_g, where_c) = cont.generics.split_for_impl();
    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    let arms = variants.iter().map(|v| {
        let vi = v.ident;
        let name = &v.name;
        quote!(#krate::__private::Some(#name) => #krate::__private::Ok(#ident::#vi),)
    });
    quote! {
        #[automatically_derived]
        impl #impl_g #krate::__private::FromMsgpack for #ident #ty_g #where_c {
            fn from_msgpack(__m: &#krate::MsgValue) -> #krate::Result<Self> {
                match #krate::MsgValue::as_str(__m) {
                    #(#arms)*
                    _ => #krate::__private::Err(#krate::__private::unknown_variant(#ty_name, __m, &[#(#names),*])),
                }
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::DeserializeField for #ident #ty_g #where_c {
            fn deserialize_field(__value: #krate::__private::FieldValue<'_>) -> #krate::Result<Self> {
                <Self as #krate::__private::FromMsgpack>::from_msgpack(#krate::__private::FieldValue::simple(__value)?)
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::DeserializeElem for #ident #ty_g #where_c {
            fn deserialize_vec(
                __value: #krate::__private::FieldValue<'_>,
            ) -> #krate::Result<#krate::__private::Vec<Self>> {
                #krate::__private::simple_elem::deserialize_vec(__value)
            }
            fn deserialize_map(
                __value: #krate::__private::FieldValue<'_>,
            ) -> #krate::Result<#krate::__private::Vec<(#krate::__private::String, Self)>> {
                #krate::__private::simple_elem::deserialize_map(__value)
            }
        }
    }
}
