//! [`FieldWriter`]: builds a derived struct's `register_generic` header
//! attribute by attribute.

use bytes::Bytes;

use crate::error::Result;
use crate::frame::Frame;
use crate::msgpack::MsgValue;
use crate::pytype::cached_type_serialized;
use crate::pytype::PyType;
use crate::traits::DaskSerialize;

// Writing fields

/// Collects the `simple` and `complex` maps of a `register_generic` header
/// while frames are appended.
#[derive(Debug)]
pub struct FieldWriter<'a, 'f> {
    frames: &'f mut Vec<Frame<'a>>,
    base: usize,
    simple: Vec<(MsgValue, MsgValue)>,
    complex: Vec<(MsgValue, MsgValue)>,
}

impl<'a, 'f> FieldWriter<'a, 'f> {
    /// A writer appending to `frames`; `start`/`stop` are relative to the
    /// frames' length now.
    pub fn new(frames: &'f mut Vec<Frame<'a>>) -> Self {
        let base = frames.len();
        FieldWriter {
            frames,
            base,
            simple: Vec::new(),
            complex: Vec::new(),
        }
    }

    /// Puts a value into `simple`.
    pub fn simple(&mut self, name: &str, value: MsgValue) {
        self.simple.push((MsgValue::Str(name.to_owned()), value));
    }

    /// Serializes `value` into frames and records it in `complex`.
    ///
    /// # Errors
    ///
    /// The value's serialization failed.
    pub fn complex<T: DaskSerialize + ?Sized>(&mut self, name: &str, value: &'a T) -> Result<()> {
        self.complex_with(name, |frames| Ok(value.serialize_into(frames)?.into_value()))
    }

    /// Records a complex attribute whose header `f` produces while
    /// appending its frames.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns.
    pub fn complex_with(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Vec<Frame<'a>>) -> Result<MsgValue>,
    ) -> Result<()> {
        let start = self.frames.len() - self.base;
        let header = f(self.frames)?;
        let stop = self.frames.len() - self.base;
        self.complex.push((
            MsgValue::Str(name.to_owned()),
            MsgValue::Map(vec![
                ("header".into(), header),
                ("start".into(), MsgValue::from(start)),
                ("stop".into(), MsgValue::from(stop)),
            ]),
        ));
        Ok(())
    }

    /// Records a `nested-dict` attribute whose entries `f` writes.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns.
    pub fn nested_dict(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut FieldWriter<'a, '_>) -> Result<()>,
    ) -> Result<()> {
        self.complex_with(name, |frames| {
            let mut inner = FieldWriter::new(frames);
            f(&mut inner)?;
            Ok(MsgValue::Map(vec![(
                "nested-dict".into(),
                inner.finish(&PyType::dict()),
            )]))
        })
    }

    /// The generic sub-header `{serializer, type-serialized, simple,
    /// complex}` for `class`.
    pub fn finish(self, class: &PyType) -> MsgValue {
        self.finish_with(cached_type_serialized(class))
    }

    /// Like [`FieldWriter::finish`] with precomputed `type-serialized`.
    pub fn finish_with(self, type_serialized: Bytes) -> MsgValue {
        MsgValue::Map(vec![
            ("serializer".into(), "dask".into()),
            ("type-serialized".into(), MsgValue::Bin(type_serialized)),
            ("simple".into(), MsgValue::Map(self.simple)),
            ("complex".into(), MsgValue::Map(self.complex)),
        ])
    }
}
