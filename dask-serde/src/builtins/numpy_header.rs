//! Dask's numpy serializer (PROTOCOL.md §5.5) for [`NdArray`]: the
//! sub-header and frame of an array, written as a tree or straight to
//! msgpack, and read back with the extent checked against the frame.
//! Object arrays and dtypes numpy pickles go through the safe pickle
//! reader and writer.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::{as_array, as_index_with, MsgExt};
use crate::msgpack::MsgValue;
use crate::value::dtype::DType;
use crate::value::ndarray::{check_extent, Dims, NdArray};
use crate::value::Value;

/// Encodes as Dask's numpy serializer does: the sub-header and one
/// frame. Contiguous arrays are sent without copying.
pub(crate) fn encode(a: &NdArray) -> Result<(MsgValue, Vec<Frame<'static>>)> {
    encode_with(a, None)
}

/// [`encode`] with the context's `pickle-protocol` (used
/// for object arrays, default 5, and pickled dtypes, default 4 — the
/// defaults of Dask on Python 3.11).
pub(crate) fn encode_with(
    a: &NdArray,
    pickle_protocol: Option<u8>,
) -> Result<(MsgValue, Vec<Frame<'static>>)> {
    if a.objects.is_some() {
        let pickle = crate::pickle::dumps(
            &Value::from(a.clone()),
            pickle_protocol.unwrap_or(crate::pickle::HIGHEST_PROTOCOL),
        )?;
        let sub = MsgValue::Map(vec![("pickle".into(), MsgValue::Bool(true))]);
        return Ok((sub, vec![Frame::from(pickle)]));
    }
    let dtype_header = if a.dtype.needs_pickle() {
        let p = crate::pickle::dump_dtype(
            &a.dtype,
            pickle_protocol.unwrap_or(crate::pickle::DEFAULT_PROTOCOL),
        )?;
        MsgValue::Array(vec![MsgValue::Int(1), MsgValue::Bin(Bytes::from(p))])
    } else {
        MsgValue::Array(vec![MsgValue::Int(0), MsgValue::from(a.dtype.str())])
    };
    let isz = a.dtype.itemsize();
    let mut x = a.clone();
    let mut broadcast_to = None;
    if x.strides.contains(&0) {
        broadcast_to = Some(x.shape.clone());
        let zero_axes: Vec<bool> = x.strides.iter().map(|s| *s == 0).collect();
        for (d, z) in x.shape.iter_mut().zip(&zero_axes) {
            if *z {
                *d = (*d).min(1);
            }
        }
        if !x.is_c_contiguous() && !x.is_f_contiguous() {
            let w = x.writeable;
            x = x.compacted()?;
            for (s, z) in x.strides.iter_mut().zip(&zero_axes) {
                if *z {
                    *s = 0;
                }
            }
            x.writeable = w;
        }
    }
    let (strides, frame): (Dims<isize>, Bytes) = if x.shape.is_empty() {
        (Dims::new(), x.data.slice(x.offset..x.offset + isz))
    } else if x.is_c_contiguous() || x.is_f_contiguous() {
        let n = x.size() * isz;
        let start = x.min_offset();
        (x.strides.clone(), x.data.slice(start..start + n))
    } else {
        let c = x.compacted()?;
        let n = c.size() * isz;
        (c.strides.clone(), c.data.slice(0..n))
    };
    let mut sub = vec![
        (MsgValue::from("dtype"), dtype_header),
        (
            "shape".into(),
            MsgValue::Array(x.shape.iter().map(|d| MsgValue::from(*d)).collect()),
        ),
        (
            "strides".into(),
            MsgValue::Array(strides.iter().map(|s| MsgValue::from(*s)).collect()),
        ),
        (
            "writeable".into(),
            MsgValue::Array(vec![MsgValue::Bool(x.writeable)]),
        ),
    ];
    if let Some(b) = broadcast_to {
        sub.push((
            "broadcast_to".into(),
            MsgValue::Array(b.iter().map(|d| MsgValue::from(*d)).collect()),
        ));
    }
    Ok((MsgValue::Map(sub), vec![Frame::Shared(frame)]))
}

/// The common case of [`encode_with`] (a contiguous
/// array of a plain dtype without zero strides) written straight to
/// msgpack: appends the whole `dask`-family header to `out`, byte for
/// byte what encoding its tree gives, and returns the frame. `None`
/// (nothing written) when the general path is needed.
#[inline]
pub(crate) fn header_fast<'a>(a: &'a NdArray, out: &mut Vec<u8>) -> Result<Option<Frame<'a>>> {
    if a.objects.is_some()
        || a.dtype.needs_pickle()
        || a.shape.is_empty()
        || a.strides.contains(&0)
        || !(a.is_c_contiguous() || a.is_f_contiguous())
    {
        return Ok(None);
    }
    if !write_dask_header(out, a.dtype.str(), &a.shape, &a.strides, a.writeable)? {
        return Ok(None);
    }
    let start = a.min_offset();
    let n = a.size() * a.dtype.itemsize();
    Ok(Some(if start == 0 && n == a.data.len() {
        // the whole buffer: borrowed, no reference count taken
        Frame::SharedRef(&a.data)
    } else {
        Frame::Shared(a.data.slice(start..start + n))
    }))
}

/// Decodes Dask's numpy sub-header over one frame, validating the
/// extent against the frame before making the view.
pub(crate) fn decode(sub: &MsgValue, frames: &[Bytes], limits: &crate::limits::Limits) -> Result<NdArray> {
    if sub
        .get("pickle")
        .is_some_and(|p| matches!(p, MsgValue::Bool(true)))
    {
        // an object array (or another dtype numpy pickles): read by the
        // safe pickle reader, never executed
        let Some((pickle, buffers)) = frames.split_first() else {
            return Err(Error::frames("a pickled numpy array needs at least one frame"));
        };
        let oob: Vec<crate::pickle::OobBuffer> = buffers
            .iter()
            .map(|b| crate::pickle::OobBuffer {
                data: b.clone(),
                writeable: true,
            })
            .collect();
        return match crate::pickle::loads(pickle, &oob, limits)? {
            Value::NdArray(a) => Ok(*a),
            other => Err(Error::mismatch("a pickled numpy array", other.type_name())),
        };
    }
    let frame = match frames {
        [f] => f.clone(),
        _ => {
            return Err(Error::frames(format!(
                "a numpy array needs exactly one frame, got {}",
                frames.len()
            )))
        }
    };
    let dt = as_array(sub.req("dtype", "sub-header")?, "sub-header.dtype")?;
    let dtype = match dt {
        [MsgValue::Int(0), MsgValue::Str(s)] => {
            DType::parse(s).map_err(|e| Error::header("sub-header.dtype", e.to_string()))?
        }
        // Dask's fallback for void dtypes that fail to pickle: the descr list
        [MsgValue::Int(0), MsgValue::Array(_)] => {
            return Err(Error::header(
                "sub-header.dtype",
                "a [0, descr-list] dtype (Dask's fallback for unpicklable void dtypes) is not supported",
            ))
        }
        [MsgValue::Int(1), MsgValue::Bin(p)] => crate::pickle::load_dtype(p, limits)?,
        _ => {
            return Err(Error::header(
                "sub-header.dtype",
                "expected [0, dtype.str] or [1, <pickle>]",
            ))
        }
    };
    if dtype.has_object() {
        return Err(Error::header(
            "sub-header.dtype",
            "object dtypes travel as pickles, not as raw frames",
        ));
    }
    let dims = |key: &str| -> Result<Dims<usize>> {
        as_array(sub.req(key, "sub-header")?, key)?
            .iter()
            .enumerate()
            .map(|(i, v)| as_index_with(v, || format!("sub-header.{key}[{i}]")))
            .collect()
    };
    let mut shape = dims("shape")?;
    if let Some(b) = sub.get("broadcast_to") {
        if let Some(items) = b.as_array() {
            if !items.is_empty() {
                shape = dims("broadcast_to")?;
            }
        }
    }
    let strides: Dims<isize> = as_array(sub.req("strides", "sub-header")?, "sub-header.strides")?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            MsgValue::Int(s) => isize::try_from(*s).map_err(|_| {
                Error::header(format!("sub-header.strides[{i}]"), format!("{s} is out of range"))
            }),
            other => Err(Error::header(
                format!("sub-header.strides[{i}]"),
                format!("expected an integer, found {}", other.kind()),
            )),
        })
        .collect::<Result<_>>()?;
    if strides.len() != shape.len() {
        return Err(Error::header(
            "sub-header.strides",
            format!("{} strides for {} dimensions", strides.len(), shape.len()),
        ));
    }
    let writeable = match sub.get("writeable").and_then(MsgValue::as_array) {
        Some([MsgValue::Bool(w)]) => *w,
        _ => return Err(Error::header("sub-header.writeable", "expected [bool]")),
    };
    check_extent(dtype.itemsize(), &shape, &strides, 0, frame.len())?;
    Ok(NdArray::view_parts(dtype, shape, strides, frame, writeable))
}

/// Writes the `dask`-family header of a numpy array sent as one raw frame
/// (`{sub-header: {dtype: [0, str], shape, strides, writeable: [w]}, type,
/// type-serialized, serializer}`, Dask's key order) to `out`. Returns
/// `false`, with nothing written, if the header cannot be written this way.
pub(crate) fn write_dask_header(
    out: &mut Vec<u8>,
    dtype: &str,
    shape: &[usize],
    strides: &[isize],
    writeable: bool,
) -> Result<bool> {
    use crate::msgpack::{put_array_len, put_int, put_str};
    let tail = ndarray_header_tail();
    if tail.is_empty() {
        return Ok(false);
    }
    let mark = out.len();
    out.reserve(64 + tail.len() + 9 * (shape.len() + strides.len()));
    let write = |out: &mut Vec<u8>| -> Result<()> {
        out.extend_from_slice(b"\x84\xaasub-header\x84\xa5dtype\x92\x00");
        put_str(out, dtype)?;
        out.extend_from_slice(b"\xa5shape");
        put_array_len(out, shape.len())?;
        for d in shape {
            put_int(out, *d as i128)?;
        }
        out.extend_from_slice(b"\xa7strides");
        put_array_len(out, strides.len())?;
        for s in strides {
            put_int(out, *s as i128)?;
        }
        out.extend_from_slice(b"\xa9writeable\x91");
        out.push(if writeable { 0xc3 } else { 0xc2 });
        out.extend_from_slice(tail);
        Ok(())
    };
    match write(out) {
        Ok(()) => Ok(true),
        Err(e) => {
            out.truncate(mark);
            Err(e)
        }
    }
}

/// `type`, `type-serialized` and `serializer` of a numpy header, encoded
/// once (empty if that failed, which disables the direct writer).
pub(crate) fn ndarray_header_tail() -> &'static [u8] {
    static TAIL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TAIL.get_or_init(|| {
        let mut t = b"\xa4type\xadnumpy.ndarray\xaftype-serialized".to_vec();
        let ts = crate::pytype::cached_type_serialized(&crate::pytype::PyType::ndarray());
        if crate::msgpack::write_bin(&mut t, &ts).is_err() {
            return Vec::new();
        }
        t.extend_from_slice(b"\xaaserializer\xa4dask");
        t
    })
}
