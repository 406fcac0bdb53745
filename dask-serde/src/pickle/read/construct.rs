//! The interpretation of known constructs: what `GLOBAL`/`STACK_GLOBAL`,
//! `REDUCE`, `NEWOBJ`/`NEWOBJ_EX` and `BUILD` of the allow-listed classes
//! and functions become — data, never a call.

use std::collections::HashMap;

use super::node::{Arena, Node, ObjectNode, Ref};
use super::stdlib::{
    plain_class, reduce_bytearray, reduce_bytes, reduce_codecs_encode, reduce_dict, reduce_frozenset,
    reduce_getattr, reduce_list, reduce_reconstructor, reduce_set, reduce_tuple,
};
use super::Reader;
use crate::error::{Error, Result};
use crate::pickle::numpy::{array, dtype};
use crate::pickle::{compat, op};
use crate::pytype::PyType;

/// Interprets `callable(*args)` as data. Gets the arena and the argument
/// tuple's items; returns the resulting node, or a message saying what
/// arguments were expected.
pub(crate) type ReduceFn = fn(&mut Arena, &[Ref]) -> std::result::Result<Node, String>;

/// A global whose call (`REDUCE`) the reader interprets as data.
pub(crate) struct AllowedGlobal {
    /// Module (after the Python 2 renaming of protocol < 3 pickles).
    pub(crate) module: &'static str,
    /// Qualified name in the module.
    pub(crate) name: &'static str,
    /// What a call means.
    pub(crate) reduce: ReduceFn,
}

/// The allow-list: the only globals the reader lets a pickle call, each
/// interpreted as data by its handler — nothing is imported or executed.
/// Every other `REDUCE` is refused. Add rows here (with their handlers) to
/// read more constructors.
///
/// numpy's constructors are listed under their numpy 2 (`numpy._core`) and
/// numpy 1 (`numpy.core`) module names; see [`crate::pickle::numpy`].
pub(crate) static ALLOWED_GLOBALS: &[AllowedGlobal] = &[
    allow("builtins", "set", reduce_set),
    allow("builtins", "frozenset", reduce_frozenset),
    allow("builtins", "list", reduce_list),
    allow("builtins", "tuple", reduce_tuple),
    allow("builtins", "dict", reduce_dict),
    allow("builtins", "bytes", reduce_bytes),
    allow("builtins", "bytearray", reduce_bytearray),
    allow("builtins", "getattr", reduce_getattr),
    allow("_codecs", "encode", reduce_codecs_encode),
    allow("copyreg", "_reconstructor", reduce_reconstructor),
    allow("numpy", "dtype", dtype::reduce_dtype),
    allow("numpy._core.multiarray", "dtype", dtype::reduce_dtype),
    allow("numpy.core.multiarray", "dtype", dtype::reduce_dtype),
    allow(
        "numpy._core.multiarray",
        "_reconstruct",
        array::reduce_reconstruct,
    ),
    allow("numpy.core.multiarray", "_reconstruct", array::reduce_reconstruct),
    allow(
        "numpy._core._multiarray_umath",
        "_reconstruct",
        array::reduce_reconstruct,
    ),
    allow(
        "numpy.core._multiarray_umath",
        "_reconstruct",
        array::reduce_reconstruct,
    ),
    allow("numpy._core.numeric", "_frombuffer", array::reduce_frombuffer),
    allow("numpy.core.numeric", "_frombuffer", array::reduce_frombuffer),
    allow("numpy._core.multiarray", "scalar", array::reduce_scalar),
    allow("numpy.core.multiarray", "scalar", array::reduce_scalar),
];

/// A row of [`ALLOWED_GLOBALS`].
const fn allow(module: &'static str, name: &'static str, reduce: ReduceFn) -> AllowedGlobal {
    AllowedGlobal { module, name, reduce }
}

impl<'a> Reader<'a> {
    /// `Unpickler.find_class` without the import: only names the global.
    pub(super) fn find_class(&self, module: &str, name: &str, at: usize) -> Result<PyType> {
        if module.is_empty() || name.is_empty() {
            return Err(self.err(at, "a global with an empty module or name"));
        }
        let (module, name) = if self.proto < 3 {
            compat::to_python3(module, name)
        } else {
            (module.to_owned(), name.to_owned())
        };
        Ok(PyType::new(module, name))
    }

    /// `REDUCE`: only allow-listed globals, interpreted as data.
    pub(super) fn reduce(&mut self, callable: Ref, args: Ref, at: usize) -> Result<Node> {
        let Some(t) = self.arena.global(callable).cloned() else {
            return Err(self.err(
                at,
                format!("REDUCE: the callable is {}, not a global", self.kind(callable)),
            ));
        };
        let Some(allowed) = ALLOWED_GLOBALS
            .iter()
            .find(|g| g.module == t.module() && g.name == t.qualname())
        else {
            return Err(self.err(
                at,
                format!(
                    "refusing to call global {t}: calling it would execute code \
                     (only plain data and a short allow-list of data constructors are read)"
                ),
            ));
        };
        let args = match self.arena.node(args) {
            Node::Tuple(items) => items.clone(),
            other => {
                return Err(self.err(
                    at,
                    format!("REDUCE: the arguments of {t} are {}, not a tuple", other.a_kind()),
                ))
            }
        };
        self.arena.charge(args.len()).map_err(|m| self.err(at, m))?;
        (allowed.reduce)(&mut self.arena, &args).map_err(|m| {
            self.err(
                at,
                format!("refusing to call global {t}: {m} (any other call would execute code)"),
            )
        })
    }

    /// `NEWOBJ` / `NEWOBJ_EX`: `cls.__new__(cls)` of a plain object, as
    /// data. Arguments would be passed to a `__new__`, so none are allowed.
    pub(super) fn newobj(
        &mut self,
        cls: Ref,
        args: Ref,
        kwargs: Option<Ref>,
        at: usize,
        code: u8,
    ) -> Result<Node> {
        let name = op::name(code).unwrap_or("?");
        let Some(t) = self.arena.global(cls).cloned() else {
            return Err(self.err(
                at,
                format!("{name}: the class is {}, not a global", self.kind(cls)),
            ));
        };
        let empty_args = matches!(self.arena.node(args), Node::Tuple(v) if v.is_empty());
        let empty_kwargs = match kwargs {
            None => true,
            Some(k) => matches!(self.arena.node(k), Node::Dict(v) if v.is_empty()),
        };
        if !empty_args || !empty_kwargs {
            return Err(self.err(
                at,
                format!(
                    "{name}: refusing to create a {t} with arguments: \
                     its __new__ would execute code (only plain objects are read)"
                ),
            ));
        }
        let class = plain_class(&t).map_err(|m| self.err(at, format!("{name}: {m}")))?;
        Ok(Node::Object(Box::new(ObjectNode {
            class,
            fields: Vec::new(),
        })))
    }

    /// `BUILD`: sets the `__dict__` (and slot) state of a plain object, or
    /// the state of a numpy dtype or array.
    pub(super) fn build(&mut self, inst: Ref, state: Ref, at: usize) -> Result<()> {
        match self.arena.node(inst) {
            Node::DType(_) => return self.build_dtype(inst, state, at),
            Node::NdArrayPending => {
                let node = array::build_array(&mut self.arena, state)
                    .map_err(|m| self.err(at, format!("BUILD of a numpy array: {m}")))?;
                *self.arena.node_mut(inst) = node;
                return Ok(());
            }
            Node::Object(_) => {}
            _ => {
                let kind = self.kind(inst);
                return Err(self.err(
                    at,
                    format!(
                        "BUILD on {kind} is refused: only plain objects take a state \
                         (anything else would call __setstate__)"
                    ),
                ));
            }
        }
        let parts = match self.arena.node(state) {
            Node::Tuple(t) if t.len() == 2 => vec![t[0], t[1]],
            _ => vec![state],
        };
        let mut update: Vec<(String, Ref)> = Vec::new();
        for part in parts {
            match self.arena.node(part) {
                Node::None => {}
                Node::Dict(pairs) => {
                    for &(k, v) in pairs {
                        let Some(k) = self.arena.str(k) else {
                            return Err(self.err(
                                at,
                                format!("BUILD: attribute names must be str, found {}", self.kind(k)),
                            ));
                        };
                        update.push((k.to_owned(), v));
                    }
                }
                other => {
                    return Err(self.err(
                        at,
                        format!(
                            "BUILD: the state must be a dict, None or a (dict, slots dict) tuple, found {}",
                            other.a_kind()
                        ),
                    ))
                }
            }
        }
        let Node::Object(object) = self.arena.node_mut(inst) else {
            return Ok(());
        };
        let fields = &mut object.fields;
        let work = fields.len() + update.len();
        if !update.is_empty() {
            let mut index: HashMap<String, usize> = fields
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            for (k, v) in update {
                match index.get(&k) {
                    Some(&i) => fields[i].1 = v,
                    None => {
                        index.insert(k.clone(), fields.len());
                        fields.push((k, v));
                    }
                }
            }
        }
        self.arena.charge(work).map_err(|m| self.err(at, m))
    }

    /// `BUILD` of a numpy dtype: its state is interpreted now (the dtypes
    /// of fields and sub-arrays are complete by then), bounded in depth.
    fn build_dtype(&mut self, inst: Ref, state: Ref, at: usize) -> Result<()> {
        let node = dtype::build_dtype(&mut self.arena, inst, state)
            .map_err(|m| self.err(at, format!("BUILD of a numpy dtype: {m}")))?;
        if node.depth > self.limits.max_nesting {
            return Err(Error::Limit {
                what: "nesting of numpy dtypes",
                limit: self.limits.max_nesting as u64,
                got: node.depth as u64,
            });
        }
        *self.arena.node_mut(inst) = Node::DType(Box::new(node));
        Ok(())
    }
}
