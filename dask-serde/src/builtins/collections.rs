//! Lists, tuples, sets and dicts on the typed path: `Vec<T>`, `HashSet`,
//! `BTreeSet`, `HashMap`, `BTreeMap` and tuples of typed values, each item
//! serialized on its own (PROTOCOL.md §6).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::Header;
use crate::limits::Limits;
use crate::msgpack::MsgValue;

use super::keys::MsgpackKey;
use crate::collection::{
    collection_header, collection_items, expect_kind, seq_one_frame, serialize_seq, SeqWriter, SEQ_KINDS,
};
use crate::traits::{DaskDeserialize, DaskSerialize};

/// A list of dask-serializable values.
impl<T: DaskSerialize> DaskSerialize for Vec<T> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_seq("list", self.iter(), frames)
    }
}

impl<T: DaskDeserialize> DaskDeserialize for Vec<T> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        if let Some((kind, items)) = seq_one_frame(header, frames, limits) {
            expect_kind(kind, SEQ_KINDS, "a list")?;
            return Ok(items);
        }
        let (kind, items) = collection_items(header, frames, limits)?;
        expect_kind(kind, SEQ_KINDS, "a list")?;
        items
            .into_iter()
            .map(|(h, f)| T::deserialize_from(&h, f, &limits.descend()?))
            .collect()
    }
}

/// A set of any kind from a list/tuple/set collection (Python decodes
/// each into its own type; a Rust set accepts all three).
fn deserialize_set<T: DaskDeserialize, C: FromIterator<T>>(
    header: &Header,
    frames: &[Bytes],
    limits: &Limits,
) -> Result<C> {
    if let Some((kind, items)) = seq_one_frame::<T>(header, frames, limits) {
        expect_kind(kind, SEQ_KINDS, "a set")?;
        return Ok(items.into_iter().collect());
    }
    let (kind, items) = collection_items(header, frames, limits)?;
    expect_kind(kind, SEQ_KINDS, "a set")?;
    items
        .into_iter()
        .map(|(h, f)| T::deserialize_from(&h, f, &limits.descend()?))
        .collect()
}

impl<T: DaskSerialize, S> DaskSerialize for HashSet<T, S> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_seq("set", self.iter(), frames)
    }
}

impl<T: DaskDeserialize + Eq + Hash, S: BuildHasher + Default> DaskDeserialize for HashSet<T, S> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        deserialize_set(header, frames, limits)
    }
}

impl<T: DaskSerialize> DaskSerialize for BTreeSet<T> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_seq("set", self.iter(), frames)
    }
}

impl<T: DaskDeserialize + Ord> DaskDeserialize for BTreeSet<T> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        deserialize_set(header, frames, limits)
    }
}

fn serialize_map<'a, K: MsgpackKey + 'a, V: DaskSerialize + 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    frames: &mut Vec<Frame<'a>>,
) -> Result<Header> {
    let mut subs = Vec::new();
    let mut lengths = Vec::new();
    for (k, v) in entries {
        let before = frames.len();
        let mut h = v.serialize_into(frames)?;
        h.insert("key", k.to_key());
        subs.push(h.into_value());
        lengths.push(MsgValue::from(frames.len() - before));
    }
    Ok(collection_header("dict", subs, lengths))
}

fn deserialize_map<K: MsgpackKey, V: DaskDeserialize>(
    header: &Header,
    frames: &[Bytes],
    limits: &Limits,
) -> Result<Vec<(K, V)>> {
    let (kind, items) = collection_items(header, frames, limits)?;
    expect_kind(kind, &["dict"], "a dict")?;
    items
        .into_iter()
        .map(|(mut h, f)| {
            let k = h
                .remove("key")
                .ok_or_else(|| Error::header("sub-headers", "dict item without \"key\""))?;
            Ok((K::from_key(&k)?, V::deserialize_from(&h, f, &limits.descend()?)?))
        })
        .collect()
}

impl<K: MsgpackKey, V: DaskSerialize, S> DaskSerialize for HashMap<K, V, S> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_map(self.iter(), frames)
    }
}

impl<K: MsgpackKey + Eq + Hash, V: DaskDeserialize, S: BuildHasher + Default> DaskDeserialize
    for HashMap<K, V, S>
{
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Ok(deserialize_map(header, frames, limits)?.into_iter().collect())
    }
}

impl<K: MsgpackKey, V: DaskSerialize> DaskSerialize for BTreeMap<K, V> {
    fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
        serialize_map(self.iter(), frames)
    }
}

impl<K: MsgpackKey + Ord, V: DaskDeserialize> DaskDeserialize for BTreeMap<K, V> {
    fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
        Ok(deserialize_map(header, frames, limits)?.into_iter().collect())
    }
}

macro_rules! tuple_impls {
    ($( ($($name:ident $idx:tt),+) )+) => {$(
        impl<$($name: DaskSerialize),+> DaskSerialize for ($($name,)+) {
            fn serialize_into<'a>(&'a self, frames: &mut Vec<Frame<'a>>) -> Result<Header> {
                let mut w = SeqWriter::new([$($idx),+].len())?;
                $( w.item(&self.$idx, frames)?; )+
                w.finish("tuple")
            }
        }

        impl<$($name: DaskDeserialize),+> DaskDeserialize for ($($name,)+) {
            fn deserialize_from(header: &Header, frames: &[Bytes], limits: &Limits) -> Result<Self> {
                let (kind, items) = collection_items(header, frames, limits)?;
                expect_kind(kind, &["tuple", "list"], "a tuple")?;
                let n = [$($idx),+].len();
                if items.len() != n {
                    return Err(Error::mismatch(format!("a tuple of {n} items"), format!("{} items", items.len())));
                }
                let mut it = items.into_iter();
                Ok(($(
                    {
                        let _ = $idx;
                        match it.next() {
                            Some((h, f)) => $name::deserialize_from(&h, f, &limits.descend()?)?,
                            None => return Err(Error::frames("tuple item missing")),
                        }
                    },
                )+))
            }
        }
    )+};
}

tuple_impls! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}
