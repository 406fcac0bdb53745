//! Where-clauses: bounds on the field types that mention a type parameter,
//! unless the container gives its own with `bound = "..."`.

use std::collections::HashSet;

use syn::visit::Visit;

use crate::ast::{Container, Data, Field};

/// Does `ty` mention one of the type parameters?
fn mentions(ty: &syn::Type, params: &HashSet<syn::Ident>) -> bool {
    struct Finder<'p> {
        params: &'p HashSet<syn::Ident>,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_path(&mut self, p: &'ast syn::Path) {
            if let Some(first) = p.segments.first() {
                if self.params.contains(&first.ident) {
                    self.found = true;
                }
            }
            syn::visit::visit_path(self, p);
        }
    }
    let mut f = Finder { params, found: false };
    f.visit_type(ty);
    f.found
}

/// The generics of the impl: the container's, plus one predicate per
/// generic field computed by `pred` (`None` for no bound).
pub fn with_bounds(
    cont: &Container<'_>,
    pred: impl Fn(&Field<'_>) -> Option<syn::WherePredicate>,
) -> syn::Generics {
    let mut generics = cont.generics.clone();
    let clause = generics.make_where_clause();
    if let Some(custom) = &cont.attrs.bound {
        clause.predicates.extend(custom.iter().cloned());
        return generics;
    }
    let params: HashSet<syn::Ident> = cont.generics.type_params().map(|p| p.ident.clone()).collect();
    if params.is_empty() {
        return generics;
    }
    if let Data::Struct(fields) = &cont.data {
        for f in fields {
            if mentions(f.ty, &params) {
                if let Some(p) = pred(f) {
                    clause.predicates.push(p);
                }
            }
        }
    }
    generics
}
