//! The placement traits: where a field's type goes by default
//! ([`SerializeField`] / [`DeserializeField`]) and how the items of its
//! lists and maps go ([`SerializeElem`] / [`DeserializeElem`]).

use super::header_values::{expected, FromMsgpack, MsgpackListItem, ToMsgpack};
use super::reader::FieldValue;
use super::writer::FieldWriter;
use crate::error::Result;
use crate::msgpack::MsgValue;
use crate::traits::{DaskDeserialize, DaskSerialize};

// Placement

/// How a value is written as an attribute of a derived struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no default placement in a derived dask struct",
    label = "dask-serde does not know where to put this field",
    note = "use #[dask(header)] (msgpack header), #[dask(frame)] (its own DaskSerialize value), #[dask(with = \"module\")] or #[dask(skip)], or derive DaskSerialize for the type"
)]
pub trait SerializeField {
    /// Writes the attribute `name`.
    ///
    /// # Errors
    ///
    /// The value cannot be encoded.
    fn serialize_field<'a>(&'a self, name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()>;
}

/// How an attribute of a derived struct is read back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no default placement in a derived dask struct",
    label = "dask-serde does not know how to read this field",
    note = "use #[dask(header)], #[dask(frame)], #[dask(with = \"module\")] or #[dask(skip)], or derive DaskDeserialize for the type"
)]
pub trait DeserializeField: Sized {
    /// Reads the attribute.
    ///
    /// # Errors
    ///
    /// The attribute has another type.
    fn deserialize_field(value: FieldValue<'_>) -> Result<Self>;

    /// The value of an absent attribute, if the type has one (`None` for
    /// `Option`); otherwise a missing attribute is an error.
    fn missing() -> Option<Self> {
        None
    }
}

/// How `Vec<Self>` and `String`-keyed maps of `Self` are written.
#[diagnostic::on_unimplemented(
    message = "lists and maps of `{Self}` have no default placement in a derived dask struct",
    note = "items must be header values, numbers, bytes, arrays or derived structs; use #[dask(with = \"module\")] otherwise"
)]
pub trait SerializeElem: Sized {
    /// Writes `items` as attribute `name`.
    ///
    /// # Errors
    ///
    /// The items cannot be encoded.
    fn serialize_vec<'a>(items: &'a [Self], name: &str, w: &mut FieldWriter<'a, '_>) -> Result<()>;
    /// Writes a map attribute (a simple dict, or a `nested-dict`).
    ///
    /// # Errors
    ///
    /// The values cannot be encoded.
    fn serialize_map<'a>(
        entries: Vec<(&'a str, &'a Self)>,
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> Result<()>;
}

/// How `Vec<Self>` and `String`-keyed maps of `Self` are read back.
#[diagnostic::on_unimplemented(
    message = "lists and maps of `{Self}` have no default placement in a derived dask struct",
    note = "items must be header values, numbers, bytes, arrays or derived structs; use #[dask(with = \"module\")] otherwise"
)]
pub trait DeserializeElem: Sized {
    /// Reads a list attribute.
    ///
    /// # Errors
    ///
    /// The attribute has another type.
    fn deserialize_vec(value: FieldValue<'_>) -> Result<Vec<Self>>;
    /// Reads a map attribute.
    ///
    /// # Errors
    ///
    /// The attribute has another type.
    fn deserialize_map(value: FieldValue<'_>) -> Result<Vec<(String, Self)>>;
}

/// Helpers for [`SerializeElem`]/[`DeserializeElem`] implementations of header values.
pub mod simple_elem {
    use super::*;

    /// A list of header values into `simple`.
    ///
    /// # Errors
    ///
    /// An item msgpack cannot carry.
    pub fn serialize_vec<'a, T: MsgpackListItem>(
        items: &'a [T],
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> Result<()> {
        w.simple(name, items.to_msgpack()?);
        Ok(())
    }
    /// A list from `simple`.
    ///
    /// # Errors
    ///
    /// Not a list of `T`.
    pub fn deserialize_vec<T: FromMsgpack>(value: FieldValue<'_>) -> Result<Vec<T>> {
        let m = value.simple()?;
        m.as_array()
            .ok_or_else(|| expected("a list", m))?
            .iter()
            .map(T::from_msgpack)
            .collect()
    }
    /// A dict of header values into `simple`.
    ///
    /// # Errors
    ///
    /// A value msgpack cannot carry.
    pub fn serialize_map<'a, T: ToMsgpack>(
        entries: Vec<(&'a str, &'a T)>,
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> Result<()> {
        let m = entries
            .into_iter()
            .map(|(k, v)| Ok((MsgValue::Str(k.to_owned()), v.to_msgpack()?)))
            .collect::<Result<_>>()?;
        w.simple(name, MsgValue::Map(m));
        Ok(())
    }
    /// A dict from `simple` (or a nested dict whose values are simple).
    ///
    /// # Errors
    ///
    /// Not a dict of `T`.
    pub fn deserialize_map<T: FromMsgpack>(value: FieldValue<'_>) -> Result<Vec<(String, T)>> {
        value
            .dict_entries()?
            .into_iter()
            .map(|(k, v)| Ok((k, T::from_msgpack(v.simple()?)?)))
            .collect()
    }
}

/// Helpers for [`SerializeElem`]/[`DeserializeElem`] implementations of serialized (complex) values.
pub mod complex_elem {
    use super::*;

    /// A list of serialized values: a collection header (`type-serialized`
    /// `"list"`), one item after another.
    ///
    /// # Errors
    ///
    /// An item cannot be serialized.
    pub fn serialize_vec<'a, T: DaskSerialize>(
        items: &'a [T],
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> Result<()> {
        if items.is_empty() {
            // what register_generic does with an empty list
            w.simple(name, MsgValue::Array(Vec::new()));
            return Ok(());
        }
        w.complex_with(name, |frames| {
            Ok(crate::collection::serialize_seq("list", items.iter(), frames)?.into_value())
        })
    }
    /// A list from a collection header.
    ///
    /// # Errors
    ///
    /// Not a collection of `T`.
    pub fn deserialize_vec<T: DaskDeserialize>(value: FieldValue<'_>) -> Result<Vec<T>> {
        match value {
            // Python's register_generic puts an empty list into `simple`
            FieldValue::Simple(MsgValue::Array(items)) if items.is_empty() => Ok(Vec::new()),
            other => other.decode::<Vec<T>>(),
        }
    }
    /// A dict of serialized values: a `nested-dict`.
    ///
    /// # Errors
    ///
    /// A value cannot be serialized.
    pub fn serialize_map<'a, T: DaskSerialize>(
        entries: Vec<(&'a str, &'a T)>,
        name: &str,
        w: &mut FieldWriter<'a, '_>,
    ) -> Result<()> {
        if entries.is_empty() {
            // what register_generic does with an empty dict
            w.simple(name, MsgValue::Map(Vec::new()));
            return Ok(());
        }
        w.nested_dict(name, |inner| {
            for (k, v) in entries {
                inner.complex(k, v)?;
            }
            Ok(())
        })
    }
    /// A dict from a `nested-dict`.
    ///
    /// # Errors
    ///
    /// Not a nested dict of `T`.
    pub fn deserialize_map<T: DaskDeserialize>(value: FieldValue<'_>) -> Result<Vec<(String, T)>> {
        value
            .dict_entries()?
            .into_iter()
            .map(|(k, v)| Ok((k, v.decode::<T>()?)))
            .collect()
    }
}
