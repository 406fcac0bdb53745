//! Code generation for `#[derive(DaskSerialize)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Container, Data, Field, Variant};
use crate::attr::Placement;
use crate::bound;

/// The impls of `#[derive(DaskSerialize)]` for `cont`.
pub fn expand(cont: &Container<'_>, krate: &syn::Path) -> TokenStream {
    match &cont.data {
        Data::Struct(fields) => expand_struct(cont, fields, krate),
        Data::Enum(variants) => expand_enum(cont, variants, krate),
    }
}

/// The `ClassInfo` of the container, cached in a static.
pub fn class_info(cont: &Container<'_>, krate: &syn::Path) -> TokenStream {
    let init = match &cont.attrs.python {
        Some((path, _)) => {
            let (module, class) = crate::attr::split_python_path(path).unwrap_or(("", path));
            quote!(#krate::__private::ClassInfo::new(#module, #class))
        }
        None => {
            let name = cont.ident.to_string();
            quote!(#krate::__private::ClassInfo::from_rust(::core::module_path!(), #name))
        }
    };
    quote! {
        static __DASK_CLASS: #krate::__private::OnceLock<#krate::__private::ClassInfo> =
            #krate::__private::OnceLock::new();
        let __info: &#krate::__private::ClassInfo = #krate::__private::OnceLock::get_or_init(&__DASK_CLASS, || #init);
    }
}

/// The statement writing field `f` into the `FieldWriter` `__w`; nothing
/// for a skipped field.
fn write_field(f: &Field<'_>, krate: &syn::Path) -> TokenStream {
    let member = &f.member;
    let name = &f.name;
    let ty = f.ty;
    let span = ty.span();
    match &f.attrs.placement {
        Placement::With(with) => {
            quote_spanned!(span=> #with::serialize_field(&self.#member, #name, &mut __w)?;)
        }
        Placement::Frame => {
            quote_spanned!(span=> #krate::__private::FieldWriter::complex::<#ty>(&mut __w, #name, &self.#member)?;)
        }
        Placement::Header => {
            quote_spanned!(span=> #krate::__private::FieldWriter::simple(&mut __w, #name, <#ty as #krate::__private::ToMsgpack>::to_msgpack(&self.#member)?);)
        }
        Placement::Auto => {
            quote_spanned!(span=> <#ty as #krate::__private::SerializeField>::serialize_field(&self.#member, #name, &mut __w)?;)
        }
        Placement::Skip => TokenStream::new(),
    }
}

/// The bound a generic field's type needs for the field to be written.
fn field_bound(f: &Field<'_>, krate: &syn::Path) -> Option<syn::WherePredicate> {
    let ty = f.ty;
    match &f.attrs.placement {
        Placement::Skip | Placement::With(_) => None,
        Placement::Frame => Some(syn::parse_quote!(#ty: #krate::DaskSerialize)),
        Placement::Header => Some(syn::parse_quote!(#ty: #krate::__private::ToMsgpack)),
        Placement::Auto => Some(syn::parse_quote!(#ty: #krate::__private::SerializeField)),
    }
}

/// `DaskSerialize`, `SerializeField` and `SerializeElem` for a struct.
fn expand_struct(cont: &Container<'_>, fields: &[Field<'_>], krate: &syn::Path) -> TokenStream {
    let ident = cont.ident;
    let generics = bound::with_bounds(cont, |f| field_bound(f, krate));
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let writes = fields.iter().map(|f| write_field(f, krate));
    let info = class_info(cont, krate);
    quote! {
        #[automatically_derived]
        impl #impl_g #krate::DaskSerialize for #ident #ty_g #where_c {
            fn serialize_into<'__a>(
                &'__a self,
                __frames: &mut #krate::__private::Vec<#krate::Frame<'__a>>,
            ) -> #krate::Result<#krate::Header> {
                #info
                let mut __w = #krate::__private::FieldWriter::new(__frames);
                #(#writes)*
                #krate::__private::Ok(#krate::__private::ClassInfo::header(__info, __w))
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::SerializeField for #ident #ty_g #where_c {
            fn serialize_field<'__a>(
                &'__a self,
                __name: &::core::primitive::str,
                __w: &mut #krate::__private::FieldWriter<'__a, '_>,
            ) -> #krate::Result<()> {
                #krate::__private::FieldWriter::complex(__w, __name, self)
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::SerializeElem for #ident #ty_g #where_c {
            fn serialize_vec<'__a>(
                __items: &'__a [Self],
                __name: &::core::primitive::str,
                __w: &mut #krate::__private::FieldWriter<'__a, '_>,
            ) -> #krate::Result<()> {
                #krate::__private::complex_elem::serialize_vec(__items, __name, __w)
            }
            fn serialize_map<'__a>(
                __entries: #krate::__private::Vec<(&'__a ::core::primitive::str, &'__a Self)>,
                __name: &::core::primitive::str,
                __w: &mut #krate::__private::FieldWriter<'__a, '_>,
            ) -> #krate::Result<()> {
                #krate::__private::complex_elem::serialize_map(__entries, __name, __w)
            }
        }
    }
}

/// `ToMsgpack`, `MsgpackListItem`, `SerializeField` and `SerializeElem`
/// for a unit enum: a value is sent as its variant's name.
fn expand_enum(cont: &Container<'_>, variants: &[Variant<'_>], krate: &syn::Path) -> TokenStream {
    let ident = cont.ident;
    let (impl_g, ty_g, where_c) = cont.generics.split_for_impl();
    let arms = variants.iter().map(|v| {
        let vi = v.ident;
        let name = &v.name;
        quote!(#ident::#vi => #name,)
    });
    let body = if variants.is_empty() {
        quote!(match *self {})
    } else {
        quote! {
            let __s: &::core::primitive::str = match self { #(#arms)* };
            #krate::__private::Ok(#krate::MsgValue::Str(#krate::__private::String::from(__s)))
        }
    };
    quote! {
        #[automatically_derived]
        impl #impl_g #krate::__private::ToMsgpack for #ident #ty_g #where_c {
            fn to_msgpack(&self) -> #krate::Result<#krate::MsgValue> {
                #body
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::MsgpackListItem for #ident #ty_g #where_c {}

        #[automatically_derived]
        impl #impl_g #krate::__private::SerializeField for #ident #ty_g #where_c {
            fn serialize_field<'__a>(
                &'__a self,
                __name: &::core::primitive::str,
                __w: &mut #krate::__private::FieldWriter<'__a, '_>,
            ) -> #krate::Result<()> {
                #krate::__private::FieldWriter::simple(__w, __name, #krate::__private::ToMsgpack::to_msgpack(self)?);
                #krate::__private::Ok(())
            }
        }

        #[automatically_derived]
        impl #impl_g #krate::__private::SerializeElem for #ident #ty_g #where_c {
            fn serialize_vec<'__a>(
                __items: &'__a [Self],
                __name: &::core::primitive::str,
                __w: &mut #krate::__private::FieldWriter<'__a, '_>,
            ) -> #krate::Result<()> {
                #krate::__private::simple_elem::serialize_vec(__items, __name, __w)
            }
            fn serialize_map<'__a>(
                __entries: #krate::__private::Vec<(&'__a ::core::primitive::str, &'__a Self)>,
                __name: &::core::primitive::str,
                __w: &mut #krate::__private::FieldWriter<'__a, '_>,
            ) -> #krate::Result<()> {
                #krate::__private::simple_elem::serialize_map(__entries, __name, __w)
            }
        }
    }
}
