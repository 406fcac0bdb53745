//! numpy dtypes: plain (`dtype.str`), object, unstructured void,
//! structured (fields at offsets) and sub-array dtypes.

use std::borrow::Cow;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A numpy dtype.
///
/// Plain dtypes are identified by numpy's `dtype.str` (`"<f8"`, `"|b1"`,
/// `">i4"`, `"<M8[ns]"`, `"<U3"`, `"|S5"`, `"|V4"`, `"|O"`). Structured
/// dtypes carry their fields (name, dtype, byte offset) and sub-array
/// dtypes their base dtype and shape; both have `dtype.str` `"|V<size>"`
/// and travel on the wire as a pickle of the dtype (PROTOCOL.md §5.5), written
/// and read by the safe pickle module without executing anything.
///
/// # Examples
///
/// ```
/// use dask_serde::DType;
///
/// let f8 = DType::parse("<f8")?;
/// assert_eq!((f8.kind(), f8.itemsize()), ('f', 8));
/// let rec = DType::structured(vec![("a".into(), DType::parse("<i4")?), ("b".into(), f8)], false)?;
/// assert_eq!(rec.str(), "|V12");
/// assert_eq!(rec.fields().unwrap()[1].offset, 4);
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DType {
    str_: Cow<'static, str>,
    byteorder: char,
    kind: char,
    itemsize: usize,
    layout: Option<Arc<Layout>>,
}

/// The inner structure of a void dtype.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// A structured dtype.
    Fields {
        /// The fields in `dtype.names` order.
        fields: Vec<DTypeField>,
        /// `align=True` (C struct layout).
        aligned: bool,
    },
    /// A sub-array dtype such as `("<f4", (2,))`.
    SubArray {
        /// The element dtype.
        base: DType,
        /// The sub-array shape.
        shape: Vec<usize>,
    },
}

/// One field of a structured dtype.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DTypeField {
    /// The field name.
    pub name: String,
    /// Its dtype.
    pub dtype: DType,
    /// Byte offset inside the record.
    pub offset: usize,
    /// Optional title (numpy's `(title, name)` form).
    pub title: Option<String>,
}

/// Largest item size accepted (numpy's own limit is `INT_MAX`).
const MAX_ITEMSIZE: usize = i32::MAX as usize;

impl DType {
    /// Parses a plain `dtype.str`.
    ///
    /// # Errors
    ///
    /// Anything that is not `<byteorder><kind><size>[unit]` with a known
    /// kind (`b i u f c M m S U V O`) and size.
    pub fn parse(descr: &str) -> Result<Self> {
        let bad = |why: &str| Error::Encode(format!("invalid numpy dtype {descr:?}: {why}"));
        let mut chars = descr.chars();
        let byteorder = chars.next().ok_or_else(|| bad("empty"))?;
        if !matches!(byteorder, '<' | '>' | '|' | '=') {
            return Err(bad("must start with a byte order '<', '>' or '|'"));
        }
        let kind = chars.next().ok_or_else(|| bad("missing kind"))?;
        let rest = chars.as_str();
        let (size, unit) = match rest.find('[') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if kind == 'O' {
            if !(size.is_empty() || size == "8") || !unit.is_empty() {
                return Err(bad("object dtype is \"|O\""));
            }
            return Ok(DType::object());
        }
        let n: usize = size.parse().map_err(|_| bad("missing or invalid item size"))?;
        let itemsize = match kind {
            'b' if n == 1 => 1,
            'i' | 'u' if matches!(n, 1 | 2 | 4 | 8) => n,
            'f' if matches!(n, 2 | 4 | 8 | 16) => n,
            'c' if matches!(n, 8 | 16 | 32) => n,
            'M' | 'm' if n == 8 => {
                if !unit.is_empty() && !valid_datetime_unit(unit) {
                    return Err(bad("invalid datetime unit"));
                }
                8
            }
            'S' | 'V' => n,
            'U' => n.checked_mul(4).ok_or_else(|| bad("size overflows"))?,
            _ => return Err(bad("unsupported kind or item size")),
        };
        if itemsize > MAX_ITEMSIZE {
            return Err(bad("item size too large"));
        }
        if !unit.is_empty() && !matches!(kind, 'M' | 'm') {
            return Err(bad("only datetimes take a unit"));
        }
        Ok(DType {
            str_: Cow::Owned(descr.to_owned()),
            byteorder,
            kind,
            itemsize,
            layout: None,
        })
    }

    /// [`DType::parse`] of a `'static` string, which the dtype then borrows
    /// instead of copying (the typed arrays' dtypes: no allocation per
    /// array).
    pub(crate) fn parse_static(descr: &'static str) -> Result<Self> {
        let mut d = DType::parse(descr)?;
        if d.str_ == descr {
            d.str_ = Cow::Borrowed(descr);
        }
        Ok(d)
    }

    /// numpy's object dtype `"|O"`.
    pub fn object() -> Self {
        DType {
            str_: Cow::Borrowed("|O"),
            byteorder: '|',
            kind: 'O',
            itemsize: 8,
            layout: None,
        }
    }

    /// A structured dtype with fields packed one after another (numpy's
    /// `np.dtype([(name, dtype), ...], align=aligned)`).
    ///
    /// # Errors
    ///
    /// Duplicate or empty names, or an object field.
    pub fn structured(fields: Vec<(String, DType)>, aligned: bool) -> Result<Self> {
        let mut offset = 0usize;
        let mut max_align = 1usize;
        let mut out = Vec::with_capacity(fields.len());
        for (name, dtype) in fields {
            if aligned {
                let a = dtype.alignment();
                max_align = max_align.max(a);
                offset = offset.div_ceil(a) * a;
            }
            let size = dtype.itemsize;
            out.push(DTypeField {
                name,
                dtype,
                offset,
                title: None,
            });
            offset = offset
                .checked_add(size)
                .ok_or_else(|| Error::Encode("structured dtype too large".into()))?;
        }
        if aligned {
            offset = offset.div_ceil(max_align) * max_align;
        }
        DType::with_fields(out, offset, aligned)
    }

    /// A structured dtype with explicit offsets and item size.
    ///
    /// # Errors
    ///
    /// Empty or duplicate names, fields outside the item size, object
    /// fields.
    pub fn with_fields(fields: Vec<DTypeField>, itemsize: usize, aligned: bool) -> Result<Self> {
        let mut names = std::collections::HashSet::new();
        for f in &fields {
            if f.name.is_empty() || !names.insert(f.name.as_str()) {
                return Err(Error::Encode(format!(
                    "structured dtype: empty or duplicate field name {:?}",
                    f.name
                )));
            }
            if f.dtype.has_object() {
                return Err(Error::Encode(format!(
                    "structured dtype: field {:?} holds Python objects",
                    f.name
                )));
            }
            let end = f.offset.checked_add(f.dtype.itemsize);
            if end.is_none_or(|e| e > itemsize) {
                return Err(Error::Encode(format!(
                    "structured dtype: field {:?} at offset {} does not fit in {itemsize} bytes",
                    f.name, f.offset
                )));
            }
        }
        if itemsize > MAX_ITEMSIZE {
            return Err(Error::Encode("structured dtype too large".into()));
        }
        Ok(DType {
            str_: Cow::Owned(format!("|V{itemsize}")),
            byteorder: '|',
            kind: 'V',
            itemsize,
            layout: Some(Arc::new(Layout::Fields { fields, aligned })),
        })
    }

    /// A sub-array dtype (`np.dtype((base, shape))`).
    ///
    /// # Errors
    ///
    /// A size that overflows, or an object base.
    pub fn subarray(base: DType, shape: Vec<usize>) -> Result<Self> {
        if base.has_object() {
            return Err(Error::Encode("sub-array of Python objects".into()));
        }
        let n = shape
            .iter()
            .try_fold(base.itemsize, |a, d| a.checked_mul(*d))
            .filter(|n| *n <= MAX_ITEMSIZE)
            .ok_or_else(|| Error::Encode("sub-array dtype too large".into()))?;
        Ok(DType {
            str_: Cow::Owned(format!("|V{n}")),
            byteorder: '|',
            kind: 'V',
            itemsize: n,
            layout: Some(Arc::new(Layout::SubArray { base, shape })),
        })
    }

    /// numpy's `dtype.str`.
    pub fn str(&self) -> &str {
        &self.str_
    }
    /// numpy's `dtype.str` (alias of [`DType::str`]).
    pub fn descr(&self) -> &str {
        &self.str_
    }
    /// The kind character (`'f'`, `'i'`, `'V'`, `'O'`, ...).
    pub fn kind(&self) -> char {
        self.kind
    }
    /// The byte-order character.
    pub fn byteorder(&self) -> char {
        self.byteorder
    }
    /// Bytes per element.
    pub fn itemsize(&self) -> usize {
        self.itemsize
    }
    /// The layout of a structured or sub-array dtype.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_deref()
    }
    /// The fields of a structured dtype.
    pub fn fields(&self) -> Option<&[DTypeField]> {
        match self.layout() {
            Some(Layout::Fields { fields, .. }) => Some(fields),
            _ => None,
        }
    }
    /// `true` for the object dtype.
    pub fn has_object(&self) -> bool {
        self.kind == 'O'
    }
    /// `true` when Dask sends the dtype as a pickle (`[1, <pickle>]`): every
    /// dtype of kind `V`.
    pub fn needs_pickle(&self) -> bool {
        self.kind == 'V'
    }

    /// C alignment of the dtype (numpy's `dtype.alignment` for aligned
    /// structs).
    pub fn alignment(&self) -> usize {
        match self.layout() {
            Some(Layout::Fields { fields, .. }) => {
                fields.iter().map(|f| f.dtype.alignment()).max().unwrap_or(1)
            }
            Some(Layout::SubArray { base, .. }) => base.alignment(),
            None => match self.kind {
                'S' | 'V' | 'b' => 1,
                'U' => 4,
                'c' => self.itemsize / 2,
                _ => self.itemsize.clamp(1, 8),
            },
        }
    }

    /// The item size numpy uses to view this dtype's frame (PROTOCOL.md §5.5:
    /// structured dtypes and dtypes wider than 8 bytes are viewed as
    /// `u{gcd(itemsize, 8)}`); it decides where frame splitting cuts.
    pub fn frame_itemsize(&self) -> usize {
        if self.layout.is_some() || self.itemsize > 8 {
            gcd(self.itemsize, 8).max(1)
        } else {
            self.itemsize.max(1)
        }
    }

    /// numpy's `dtype.descr` as canonical JSON: a string for plain dtypes,
    /// a list of `[name, format]` / `[name, format, shape]` entries (with
    /// `["", "|V<n>"]` padding) for structured ones.
    #[cfg(feature = "json")]
    pub fn to_descr_json(&self) -> serde_json::Value {
        use serde_json::{json, Value as Json};
        let Some(fields) = self.fields() else {
            return Json::String(self.str_.to_string());
        };
        let mut out = Vec::new();
        let mut sorted: Vec<&DTypeField> = fields.iter().collect();
        sorted.sort_by_key(|f| f.offset);
        let mut pos = 0usize;
        for f in sorted {
            if f.offset > pos {
                out.push(json!(["", format!("|V{}", f.offset - pos)]));
            }
            let name = match &f.title {
                Some(t) => json!([t, f.name]),
                None => json!(f.name),
            };
            match f.dtype.layout() {
                Some(Layout::SubArray { base, shape }) => {
                    out.push(json!([name, base.to_descr_json(), shape]))
                }
                _ => out.push(json!([name, f.dtype.to_descr_json()])),
            }
            pos = f.offset + f.dtype.itemsize;
        }
        if self.itemsize > pos {
            out.push(json!(["", format!("|V{}", self.itemsize - pos)]));
        }
        Json::Array(out)
    }

    /// Parses canonical JSON `dtype`: a `dtype.str`, or a `dtype.descr`
    /// list (fields packed in order, `""` names being padding).
    ///
    /// # Errors
    ///
    /// Malformed descriptions.
    #[cfg(feature = "json")]
    pub fn from_descr_json(j: &serde_json::Value) -> Result<Self> {
        use serde_json::Value as Json;
        let bad = |m: &str| Error::Encode(format!("invalid dtype description {j}: {m}"));
        match j {
            Json::String(s) => DType::parse(s),
            Json::Array(entries) => {
                let mut fields = Vec::new();
                let mut offset = 0usize;
                for e in entries {
                    let e = e.as_array().ok_or_else(|| bad("entries must be lists"))?;
                    let (name, title) = match e.first() {
                        Some(Json::String(n)) => (n.clone(), None),
                        Some(Json::Array(tn)) => match tn.as_slice() {
                            [Json::String(t), Json::String(n)] => (n.clone(), Some(t.clone())),
                            _ => return Err(bad("a titled name is [title, name]")),
                        },
                        _ => return Err(bad("missing field name")),
                    };
                    let base = DType::from_descr_json(e.get(1).ok_or_else(|| bad("missing field format"))?)?;
                    let dtype = match e.get(2) {
                        Some(Json::Array(shape)) => DType::subarray(
                            base,
                            shape
                                .iter()
                                .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| bad("bad shape")))
                                .collect::<Result<_>>()?,
                        )?,
                        Some(_) => return Err(bad("a sub-array shape is a list")),
                        None => base,
                    };
                    let size = dtype.itemsize;
                    if !name.is_empty() {
                        fields.push(DTypeField {
                            name,
                            dtype,
                            offset,
                            title,
                        });
                    }
                    offset = offset.checked_add(size).ok_or_else(|| bad("too large"))?;
                }
                DType::with_fields(fields, offset, false)
            }
            _ => Err(bad("expected a string or a list")),
        }
    }
}

/// numpy's datetime unit suffix: `[unit]` or `[<count>unit]`, with the
/// units numpy knows.
fn valid_datetime_unit(unit: &str) -> bool {
    let Some(inner) = unit.strip_prefix('[').and_then(|u| u.strip_suffix(']')) else {
        return false;
    };
    let digits = inner.chars().take_while(char::is_ascii_digit).count();
    let (count, name) = inner.split_at(digits);
    if count.starts_with('0') || count.len() > 9 {
        return false;
    }
    matches!(
        name,
        "Y" | "M" | "W" | "D" | "h" | "m" | "s" | "ms" | "us" | "μs" | "ns" | "ps" | "fs" | "as" | "generic"
    )
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Anything that names a dtype: a `dtype.str` (`&str`, `String`) or a
/// [`DType`].
pub trait IntoDType {
    /// The dtype.
    ///
    /// # Errors
    ///
    /// An invalid `dtype.str`.
    fn into_dtype(self) -> Result<DType>;
}

impl IntoDType for DType {
    fn into_dtype(self) -> Result<DType> {
        Ok(self)
    }
}
impl IntoDType for &DType {
    fn into_dtype(self) -> Result<DType> {
        Ok(self.clone())
    }
}
impl IntoDType for &str {
    fn into_dtype(self) -> Result<DType> {
        DType::parse(self)
    }
}
impl IntoDType for String {
    fn into_dtype(self) -> Result<DType> {
        DType::parse(&self)
    }
}
impl IntoDType for &String {
    fn into_dtype(self) -> Result<DType> {
        DType::parse(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        for ok in [
            "<f8", "|b1", ">i4", "<M8[ns]", "<m8", "<U3", "|S5", "|V4", "<c16", "<f2", "|O", "|O8",
        ] {
            DType::parse(ok).unwrap();
        }
        assert_eq!(DType::parse("<U3").unwrap().itemsize(), 12);
        for bad in [
            "",
            "f8",
            "<x8",
            "<i3",
            "<f8[s]",
            "<i",
            "<U99999999999999999999",
            "|V99999999999",
            "|O4",
        ] {
            assert!(DType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn structured_layouts() {
        let i4 = DType::parse("<i4").unwrap();
        let f8 = DType::parse("<f8").unwrap();
        let packed =
            DType::structured(vec![("a".into(), i4.clone()), ("b".into(), f8.clone())], false).unwrap();
        assert_eq!(packed.itemsize(), 12);
        let aligned = DType::structured(vec![("a".into(), i4), ("b".into(), f8)], true).unwrap();
        assert_eq!(aligned.itemsize(), 16);
        assert_eq!(aligned.fields().unwrap()[1].offset, 8);
        assert_eq!(aligned.frame_itemsize(), 8);
        assert!(DType::structured(vec![("a".into(), DType::object())], false).is_err());
        assert!(DType::structured(vec![("a".into(), DType::parse("|u1").unwrap()); 2], false).is_err());
    }

    #[cfg(feature = "json")]
    #[test]
    fn descr_json_round_trip() {
        let j = serde_json::json!([["a", "<i4"], ["", "|V4"], ["xy", "<f4", [2]], [["T", "t"], "|u1"]]);
        let d = DType::from_descr_json(&j).unwrap();
        assert_eq!(d.itemsize(), 17);
        assert_eq!(d.to_descr_json(), j);
    }
}
