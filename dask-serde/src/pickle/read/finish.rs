//! The value at `STOP`: the arena becomes one [`Value`] — cycles refused,
//! the expansion of shared objects and the depth bounded — with dict keys
//! and set items merged as Python would merge them.

use std::collections::HashMap;

use num_bigint::BigInt;

use super::node::{Node, ObjectArrayNode, ObjectNode, Ref, BUDGET_BASE, BUDGET_PER_BYTE};
use super::Reader;
use crate::error::{Error, Result};
use crate::value::ndarray::NdArray;
use crate::value::{Object, Value};

impl<'a> Reader<'a> {
    /// Builds the final value of `root`: refuses cycles, bounds the
    /// expansion of shared objects and the depth, then converts the arena
    /// bottom-up, moving each node's value into its last user and cloning
    /// it for the others.
    pub(super) fn finish(mut self, root: Ref, stop_at: usize) -> Result<Value> {
        let order = self.post_order(root)?;
        let uses = self.count_uses(root, &order, stop_at)?;
        self.check_depth(&order)?;
        build_values(&mut self.arena.nodes, &order, uses, root, stop_at)
    }

    /// The post-order of the nodes reachable from `root`; a node met again
    /// while on the path is a cycle, refused.
    fn post_order(&self, root: Ref) -> Result<Vec<Ref>> {
        let n = self.arena.nodes.len();
        const WHITE: u8 = 0;
        const GRAY: u8 = 1;
        const BLACK: u8 = 2;
        let mut color = vec![WHITE; n];
        let mut order: Vec<Ref> = Vec::new();
        let mut path: Vec<(Ref, usize)> = vec![(root, 0)];
        color[root.0] = GRAY;
        while let Some(top) = path.last_mut() {
            let (node, i) = *top;
            match self.arena.node(node).child(i) {
                Some(c) => {
                    top.1 += 1;
                    match color[c.0] {
                        WHITE => {
                            color[c.0] = GRAY;
                            path.push((c, 0));
                            if path.len() > self.limits.max_nesting.saturating_add(1) {
                                self.limits.check_nesting(path.len() - 1)?;
                            }
                        }
                        GRAY => {
                            return Err(self.err(
                                self.arena.offsets[c.0],
                                format!(
                                    "recursive structure: {} contains itself, which cannot be represented as a value",
                                    self.kind(c)
                                ),
                            ))
                        }
                        _ => {}
                    }
                }
                None => {
                    color[node.0] = BLACK;
                    order.push(node);
                    path.pop();
                }
            }
        }
        Ok(order)
    }

    /// How many parents use each node, after checking that no node is a
    /// bare global, dtype or unbuilt array and that the copies of shared
    /// nodes (`visits`) stay within the budget.
    fn count_uses(&self, root: Ref, order: &[Ref], stop_at: usize) -> Result<Vec<usize>> {
        let n = self.arena.nodes.len();
        let budget = self.arena.budget;
        let mut visits = vec![0u64; n];
        let mut uses = vec![0usize; n];
        visits[root.0] = 1;
        uses[root.0] = 1;
        let mut total_values: u64 = 0;
        let mut total_bytes: u64 = 0;
        for &r in order.iter().rev() {
            let node = self.arena.node(r);
            if let Node::Global(t) = node {
                return Err(self.err(
                    self.arena.offsets[r.0],
                    format!(
                        "a reference to {t} cannot be read as a value: \
                         loading it would import code (only plain data is read)"
                    ),
                ));
            }
            if let Node::DType(d) = node {
                return Err(self.err(
                    self.arena.offsets[r.0],
                    format!(
                        "a numpy dtype is not a value (found {:?} outside an array)",
                        d.dtype.str()
                    ),
                ));
            }
            if let Node::NdArrayPending = node {
                return Err(self.err(self.arena.offsets[r.0], "a numpy array without its BUILD state"));
            }
            let v = visits[r.0];
            total_values = total_values.saturating_add(v);
            total_bytes = total_bytes.saturating_add(v.saturating_mul(node.heap_bytes() as u64));
            let mut i = 0;
            while let Some(c) = node.child(i) {
                visits[c.0] = visits[c.0].saturating_add(v);
                uses[c.0] += 1;
                i += 1;
            }
        }
        if total_values > budget as u64 || total_bytes > budget as u64 {
            return Err(self.err(
                stop_at,
                format!(
                    "shared references expand to more than {budget} values or bytes \
                     (the limit is {BUDGET_PER_BYTE} per input byte + {BUDGET_BASE})"
                ),
            ));
        }
        Ok(uses)
    }

    /// The nesting depth of every container of `order`, checked against
    /// the limit.
    fn check_depth(&self, order: &[Ref]) -> Result<()> {
        let n = self.arena.nodes.len();
        let mut height = vec![0usize; n];
        for &r in order {
            let node = self.arena.node(r);
            if !node.is_container() {
                continue;
            }
            let mut h = 0;
            let mut i = 0;
            while let Some(c) = node.child(i) {
                h = h.max(height[c.0]);
                i += 1;
            }
            height[r.0] = h + 1;
            self.limits.check_nesting(h + 1)?;
        }
        Ok(())
    }
}

/// Builds bottom-up: each container of `order` becomes a `Built` value in
/// place; a value is moved into its last user and cloned for the others
/// (`uses`: the users left per node).
fn build_values(
    nodes: &mut [Node],
    order: &[Ref],
    mut uses: Vec<usize>,
    root: Ref,
    stop_at: usize,
) -> Result<Value> {
    let mut take = |nodes: &mut [Node], c: Ref| -> Value {
        uses[c.0] = uses[c.0].saturating_sub(1);
        nodes[c.0].leaf_value(uses[c.0] == 0).unwrap_or(Value::None)
    };
    for &r in order {
        if !nodes[r.0].is_container() {
            continue;
        }
        let value = match std::mem::replace(&mut nodes[r.0], Node::None) {
            Node::List(items) => Value::List(items.into_iter().map(|c| take(nodes, c)).collect()),
            Node::Tuple(items) => Value::Tuple(items.into_iter().map(|c| take(nodes, c)).collect()),
            Node::Set(items) => Value::Set(dedup_items(items.into_iter().map(|c| take(nodes, c)).collect())),
            Node::FrozenSet(items) => {
                Value::FrozenSet(dedup_items(items.into_iter().map(|c| take(nodes, c)).collect()))
            }
            Node::Dict(pairs) => Value::Dict(dedup_pairs(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let k = take(nodes, k);
                        (k, take(nodes, v))
                    })
                    .collect(),
            )),
            Node::Object(o) => {
                let ObjectNode { class, fields } = *o;
                Value::from(Object {
                    class,
                    fields: fields.into_iter().map(|(k, c)| (k, take(nodes, c))).collect(),
                })
            }
            Node::ObjectArray(o) => {
                let ObjectArrayNode { shape, items } = *o;
                let items = items.into_iter().map(|c| take(nodes, c)).collect();
                // the item count was checked at BUILD
                match NdArray::from_objects(shape, items) {
                    Ok(a) => Value::from(a),
                    Err(e) => {
                        return Err(Error::Pickle {
                            offset: stop_at,
                            message: e.to_string(),
                        })
                    }
                }
            }
            // not a container (checked above)
            mut other => other.leaf_value(true).unwrap_or(Value::None),
        };
        nodes[r.0] = Node::Built(Box::new(value));
    }
    Ok(take(nodes, root))
}

/// A dict key or set item as Python hashes and compares it, for the
/// types where that is modelled (numbers compare across int, float and
/// bool). `None` for values Python cannot hash (lists, dicts, sets,
/// bytearrays), NaN, and types not modelled: those are never merged.
#[derive(PartialEq, Eq, Hash)]
enum HashKey<'a> {
    None,
    Int(i128),
    Big(BigInt),
    Float(u64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Tuple(Vec<HashKey<'a>>),
}

/// The [`HashKey`] of a value, `None` if it is never merged.
fn hash_key(v: &Value) -> Option<HashKey<'_>> {
    Some(match v {
        Value::None => HashKey::None,
        Value::Bool(b) => HashKey::Int(i128::from(*b)),
        Value::Int(i) => HashKey::Int(*i),
        Value::BigInt(b) => match i128::try_from(b) {
            Ok(i) => HashKey::Int(i),
            Err(_) => HashKey::Big(b.clone()),
        },
        Value::Float(f) => float_key(*f)?,
        Value::Str(s) => HashKey::Str(s),
        Value::Bytes(b) => HashKey::Bytes(b),
        Value::Tuple(items) => HashKey::Tuple(items.iter().map(hash_key).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// The [`HashKey`] of a float: an integral float is the key of the equal
/// `int`.
fn float_key(f: f64) -> Option<HashKey<'static>> {
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() || f.fract() != 0.0 {
        return Some(HashKey::Float(f.to_bits()));
    }
    // an integral float equals the int of the same value
    if f.abs() < 2f64.powi(127) {
        return Some(HashKey::Int(f as i128));
    }
    let bits = f.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as usize;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    // |f| >= 2^127, so the exponent is far above the bias + 52
    let magnitude = BigInt::from(mantissa) << (exponent - 1075);
    Some(HashKey::Big(if f < 0.0 { -magnitude } else { magnitude }))
}

/// For each item, the index of the first item with an equal key (itself if
/// none), or `None` when no two keys are equal.
fn first_equal<'a>(keys: impl Iterator<Item = &'a Value>, len: usize) -> Option<Vec<usize>> {
    if len < 2 {
        return None;
    }
    let mut seen: HashMap<HashKey<'a>, usize> = HashMap::new();
    let first: Vec<usize> = keys
        .enumerate()
        .map(|(i, k)| match hash_key(k) {
            Some(h) => *seen.entry(h).or_insert(i),
            None => i,
        })
        .collect();
    if first.iter().enumerate().all(|(i, &f)| i == f) {
        None
    } else {
        Some(first)
    }
}

/// Python's `dict[k] = v` in order: a repeated key keeps its first
/// position and key object and takes the last value.
pub(super) fn dedup_pairs(pairs: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    let Some(first) = first_equal(pairs.iter().map(|(k, _)| k), pairs.len()) else {
        return pairs;
    };
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(pairs.len());
    let mut position = vec![0usize; pairs.len()];
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if first[i] == i {
            position[i] = out.len();
            out.push((k, v));
        } else {
            out[position[first[i]]].1 = v;
        }
    }
    out
}

/// Python's `set.add` in order: a repeated item is dropped.
pub(super) fn dedup_items(items: Vec<Value>) -> Vec<Value> {
    let Some(first) = first_equal(items.iter(), items.len()) else {
        return items;
    };
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| first[*i] == *i)
        .map(|(_, v)| v)
        .collect()
}
