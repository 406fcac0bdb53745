//! numpy arrays and scalars in pickles: `_reconstruct` + `BUILD`,
//! `_frombuffer` and `scalar` read as data, and how numpy 2 hands an
//! array's memory to a `PickleBuffer` when it writes one.

use bytes::Bytes;

use super::{count, dims, dtype_of, int, message, text, tuple, NATIVE, R};
use crate::pickle::read::node::{unexpected, Arena, Node, ObjectArrayNode, Ref};
use crate::pytype::PyType;
use crate::value::dtype::{DType, DTypeField, Layout};
use crate::value::ndarray::NdArray;
use crate::value::Value;

/// The spellings of `numpy.ndarray` accepted as `_reconstruct`'s class.
const NDARRAY_CLASSES: &[(&str, &str)] = &[
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "ndarray"),
    ("numpy._core.multiarray", "ndarray"),
    ("numpy.core._multiarray_umath", "ndarray"),
    ("numpy._core._multiarray_umath", "ndarray"),
];

/// Whether `t` names `numpy.ndarray` (one of [`NDARRAY_CLASSES`]).
fn is_ndarray_class(t: &PyType) -> bool {
    NDARRAY_CLASSES
        .iter()
        .any(|(m, n)| t.module() == *m && t.qualname() == *n)
}

// ----- reading -----

/// `_reconstruct(numpy.ndarray, shape, dtype)`: an empty array waiting for
/// its `BUILD` state. Subclasses are refused (their methods would run).
pub(crate) fn reduce_reconstruct(a: &mut Arena, args: &[Ref]) -> R<Node> {
    const EXPECTED: &str = "(numpy.ndarray, (0,), b'b')";
    let [cls, shape, _dtype] = args else {
        return Err(unexpected(a, args, EXPECTED));
    };
    match a.global(*cls) {
        Some(t) if is_ndarray_class(t) => {}
        Some(t) => {
            return Err(format!(
                "{t} is not numpy.ndarray: reconstructing another class is refused"
            ))
        }
        None => return Err(unexpected(a, args, EXPECTED)),
    }
    if tuple(a, *shape).is_none() {
        return Err(unexpected(a, args, EXPECTED));
    }
    Ok(Node::NdArrayPending)
}

/// `_frombuffer(buffer, dtype, shape, order[, axis_order])`: an array over
/// the buffer's bytes, shared (an out-of-band buffer is not copied).
/// `bytes` give a read-only array, `bytearray` a writeable one, an
/// out-of-band buffer its own flag.
pub(crate) fn reduce_frombuffer(a: &mut Arena, args: &[Ref]) -> R<Node> {
    const EXPECTED: &str = "(buffer, dtype, shape, order) or (buffer, dtype, shape, 'K', axis_order)";
    let (buf, dt, shape, order, axis_order) = match args {
        [b, d, s, o] => (*b, *d, *s, *o, None),
        [b, d, s, o, x] => (*b, *d, *s, *o, Some(*x)),
        _ => return Err(unexpected(a, args, EXPECTED)),
    };
    let (data, writeable) = match a.node(buf) {
        Node::Bytes(b) => (b.clone(), false),
        Node::ByteArray(b) => (b.clone(), true),
        Node::Buffer(b) => (b.data.clone(), b.writeable),
        other => return Err(format!("the buffer must be bytes-like, found {}", other.a_kind())),
    };
    let (dtype, _) = dtype_of(a, dt, "the dtype")?;
    if dtype.has_object() {
        return Err("an object array cannot be made from a buffer".into());
    }
    let itemsize = dtype.itemsize();
    if itemsize == 0 {
        return Err(format!("the item size of {} is zero", dtype.str()));
    }
    if data.len() % itemsize != 0 {
        return Err(format!(
            "a buffer of {} bytes is not a multiple of the item size {itemsize}",
            data.len()
        ));
    }
    let n = data.len() / itemsize;
    let shape = dims(a, shape, "the shape", true)?;
    if count(&shape) != Some(n) {
        return Err(format!(
            "cannot reshape an array of size {n} into shape {shape:?}"
        ));
    }
    let order = text(a, order).unwrap_or_default();
    let array = match (order.as_str(), axis_order) {
        ("C" | "A", None) => NdArray::from_c_order(dtype, shape, data),
        ("F", None) => NdArray::from_f_order(dtype, shape, data),
        ("K", Some(x)) => {
            let perm = dims(a, x, "the axis order", false)?;
            let mut seen = vec![false; shape.len()];
            if perm.len() != shape.len()
                || !perm
                    .iter()
                    .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true))
            {
                return Err(format!(
                    "{perm:?} is not an axis order of {} dimensions",
                    shape.len()
                ));
            }
            // the buffer holds the C-order array of `shape`, transposed by `perm`
            let mut strides = vec![0isize; shape.len()];
            if n > 0 {
                let mut acc = itemsize;
                for i in (0..shape.len()).rev() {
                    strides[i] = isize::try_from(acc).map_err(|_| "the array is too large".to_owned())?;
                    acc = acc.saturating_mul(shape[i]);
                }
            }
            let out_shape = perm.iter().map(|&p| shape[p]).collect();
            let out_strides = perm.iter().map(|&p| strides[p]).collect();
            NdArray::new(dtype, out_shape, out_strides, 0, data)
        }
        _ => return Err(unexpected(a, args, EXPECTED)),
    }
    .map_err(message)?;
    Ok(Node::Built(Box::new(Value::from(
        array.with_writeable(writeable),
    ))))
}

/// `scalar(dtype, bytes)`: a numpy scalar as the matching plain value
/// (bool, int, float, bytes, str); other kinds are refused.
pub(crate) fn reduce_scalar(a: &mut Arena, args: &[Ref]) -> R<Node> {
    const EXPECTED: &str = "(dtype, bytes)";
    let [dt, data] = args else {
        return Err(unexpected(a, args, EXPECTED));
    };
    let (dtype, _) = dtype_of(a, *dt, "the dtype of a scalar")?;
    let b = match a.node(*data) {
        Node::Bytes(b) => b.clone(),
        // Python 2 pickles hold the bytes as a latin-1 str
        Node::Str(s) if s.chars().all(|c| u32::from(c) < 256) => {
            s.chars().map(|c| u32::from(c) as u8).collect::<Vec<u8>>().into()
        }
        other => {
            return Err(format!(
                "a numpy scalar of dtype {} holding {} is not supported",
                dtype.str(),
                other.a_kind()
            ))
        }
    };
    if b.len() != dtype.itemsize() {
        return Err(format!(
            "a scalar of dtype {} needs {} bytes, got {}",
            dtype.str(),
            dtype.itemsize(),
            b.len()
        ));
    }
    Ok(Node::from_value(scalar_value(&dtype, &b)?))
}

/// The plain value of a numpy scalar's bytes.
fn scalar_value(dtype: &DType, b: &[u8]) -> R<Value> {
    let big = dtype.byteorder() == '>';
    let uint = |b: &[u8]| -> u64 {
        let mut x = 0u64;
        for i in 0..b.len() {
            let byte = if big { b[i] } else { b[b.len() - 1 - i] };
            x = (x << 8) | u64::from(byte);
        }
        x
    };
    let n = b.len();
    Ok(match (dtype.kind(), n) {
        ('b', 1) => Value::Bool(b[0] != 0),
        ('u', 1 | 2 | 4 | 8) => Value::Int(i128::from(uint(b))),
        ('i', 1 | 2 | 4 | 8) => {
            let shift = 64 - 8 * n as u32;
            Value::Int(i128::from(((uint(b) << shift) as i64) >> shift))
        }
        ('f', 2) => Value::Float(half_to_f64(uint(b) as u16)),
        ('f', 4) => Value::Float(f64::from(f32::from_bits(uint(b) as u32))),
        ('f', 8) => Value::Float(f64::from_bits(uint(b))),
        ('S', _) => {
            let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            Value::Bytes(Bytes::copy_from_slice(&b[..end]))
        }
        ('U', _) => {
            let mut s = String::new();
            for c in b.chunks_exact(4) {
                let v = uint(c) as u32;
                s.push(char::from_u32(v).ok_or_else(|| format!("U+{v:X} is not a character"))?);
            }
            Value::Str(s.trim_end_matches('\0').to_owned())
        }
        _ => {
            return Err(format!(
                "a numpy scalar of dtype {} has no plain value (bool, int, float, bytes and str scalars are read)",
                dtype.str()
            ))
        }
    })
}

/// An IEEE half-precision float.
pub(super) fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// The array a `BUILD` state `(1, shape, dtype, is_fortran, data)` makes of
/// `_reconstruct(...)` (numpy's `array_setstate`): a plain array over the
/// data's bytes — byte-swapped to the native order when its dtype is not
/// native, as numpy does when unpickling — or an object array of the
/// list's items.
pub(crate) fn build_array(a: &mut Arena, state: Ref) -> R<Node> {
    const EXPECTED: &str = "(1, shape, dtype, is_fortran, data)";
    let items = tuple(a, state).ok_or_else(|| {
        format!(
            "the state of a numpy array must be a tuple {EXPECTED}, found {}",
            a.node(state).a_kind()
        )
    })?;
    let (shape, dt, fortran, raw) = match items[..] {
        [v, s, d, f, r] => match int(a, v) {
            Some(1) => (s, d, f, r),
            _ => {
                return Err(format!(
                    "unsupported numpy array state version: expected {EXPECTED}"
                ))
            }
        },
        // version 0
        [s, d, f, r] => (s, d, f, r),
        _ => return Err(format!("a numpy array state must be {EXPECTED}")),
    };
    if tuple(a, shape).is_none() {
        return Err("the shape of an array must be a tuple".into());
    }
    let shape = dims(a, shape, "the shape", false)?;
    let (dtype, _) = dtype_of(a, dt, "the dtype of an array")?;
    let fortran = int(a, fortran).ok_or("is_fortran must be a bool")? != 0;
    let n = count(&shape).ok_or_else(|| format!("an array of shape {shape:?} is too large"))?;
    if dtype.has_object() {
        if !matches!(a.node(raw), Node::List(_)) {
            return Err(format!(
                "the data of an object array must be a list, found {}",
                a.node(raw).a_kind()
            ));
        }
        let items = a.items(raw)?;
        if items.len() != n {
            return Err(format!(
                "an object array of shape {shape:?} needs {n} items, the list has {}",
                items.len()
            ));
        }
        return Ok(Node::ObjectArray(Box::new(ObjectArrayNode { shape, items })));
    }
    let data = match a.node(raw) {
        Node::Bytes(b) => b.clone(),
        // Python 2 pickles hold the data as a latin-1 str
        Node::Str(s) if s.chars().all(|c| u32::from(c) < 256) => {
            s.chars().map(|c| u32::from(c) as u8).collect::<Vec<u8>>().into()
        }
        other => {
            return Err(format!(
                "the data of an array must be bytes, found {}",
                other.a_kind()
            ))
        }
    };
    let nbytes = n
        .checked_mul(dtype.itemsize())
        .ok_or_else(|| format!("an array of shape {shape:?} is too large"))?;
    if data.len() != nbytes {
        return Err(format!(
            "an array of shape {shape:?} and dtype {} needs {nbytes} bytes, the data has {}",
            dtype.str(),
            data.len()
        ));
    }
    let (dtype, data) = to_native(dtype, data)?;
    let array = if fortran {
        NdArray::from_f_order(dtype, shape, data)
    } else {
        NdArray::from_c_order(dtype, shape, data)
    }
    .map_err(message)?;
    Ok(Node::Built(Box::new(Value::from(array))))
}

/// numpy's byte swap on pickle read: data of a plain dtype in the
/// non-native byte order becomes native data of the native dtype.
fn to_native(dtype: DType, data: Bytes) -> R<(DType, Bytes)> {
    let order = dtype.byteorder();
    if dtype.layout().is_some() || !matches!(order, '<' | '>') || order == NATIVE {
        return Ok((dtype, data));
    }
    let unit = match dtype.kind() {
        'c' => dtype.itemsize() / 2,
        'U' => 4,
        _ => dtype.itemsize(),
    };
    let mut v = data.to_vec();
    if unit > 1 {
        for chunk in v.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
    let native = DType::parse(&format!("{NATIVE}{}", &dtype.str()[1..])).map_err(message)?;
    Ok((native, Bytes::from(v)))
}

// ----- writing -----

/// Whether numpy can export an array of this dtype through the buffer
/// protocol (`_buffer_format_string`): not with datetimes, with fields out
/// of order or overlapping, with `':'` in a field name, or with a
/// non-native `long double`. When it cannot, `PickleBuffer(array)` fails
/// and numpy pickles the array in-band.
pub(crate) fn buffer_exportable(root: &DType) -> bool {
    buffer_extent(root).is_some()
}

/// The end offset `_buffer_format_string` reaches for `root`, `None` if it
/// fails (computed without recursion).
fn buffer_extent(root: &DType) -> Option<usize> {
    enum Frame<'a> {
        Sub {
            start: usize,
            count: usize,
        },
        Struct {
            fields: &'a [DTypeField],
            i: usize,
            start: usize,
        },
    }
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some((root, 0usize));
    // the end of what was formatted last (inside a struct: its cursor)
    let mut end = 0usize;
    loop {
        if let Some((d, start)) = next.take() {
            match d.layout() {
                None => {
                    let long_double = matches!((d.kind(), d.itemsize()), ('f', 16) | ('c', 32));
                    let native = !matches!(d.byteorder(), '<' | '>') || d.byteorder() == NATIVE;
                    if matches!(d.kind(), 'M' | 'm') || (long_double && !native) {
                        return None;
                    }
                    end = start.checked_add(d.itemsize())?;
                }
                Some(Layout::SubArray { base, shape }) => {
                    stack.push(Frame::Sub {
                        start,
                        count: count(shape)?,
                    });
                    next = Some((base, start));
                    continue;
                }
                Some(Layout::Fields { fields, .. }) => {
                    stack.push(Frame::Struct { fields, i: 0, start });
                    end = start;
                }
            }
        }
        match stack.last_mut() {
            None => return Some(end),
            Some(Frame::Sub { start, count }) => {
                end = start.checked_add(end.checked_sub(*start)?.checked_mul(*count)?)?;
                stack.pop();
            }
            Some(Frame::Struct { fields, i, start }) => {
                let Some(f) = fields.get(*i) else {
                    stack.pop();
                    continue;
                };
                *i += 1;
                let at = start.checked_add(f.offset)?;
                if end > at || f.name.contains(':') {
                    return None;
                }
                next = Some((&f.dtype, at));
            }
        }
    }
}

/// How numpy 2's `__reduce_ex__(5)` hands an array's memory to a
/// `PickleBuffer`.
pub(crate) enum BufferLayout {
    /// C-contiguous: `order='C'`.
    C,
    /// Fortran-contiguous: `order='F'`.
    F,
    /// Contiguous with permuted axes: `order='K'`, the shape of the
    /// C-ordered memory and the axis order that transposes it back.
    K {
        /// The shape of the memory in C order.
        shape: Vec<usize>,
        /// The `transpose` argument that gives the array back.
        axis_order: Vec<usize>,
    },
}

/// numpy's choice in `array_reduce_ex_picklebuffer`: `None` when the array
/// is not contiguous in any axis order (then it is pickled in-band with
/// `_reconstruct`).
pub(crate) fn buffer_layout(a: &NdArray) -> Option<BufferLayout> {
    if a.is_c_contiguous() {
        return Some(BufferLayout::C);
    }
    if a.is_f_contiguous() {
        return Some(BufferLayout::F);
    }
    // sort the axes by |stride|, descending, ties by axis (numpy's
    // PyArray_CreateSortedStridePerm), and check the transposed array
    let strides = a.strides();
    let mut perm: Vec<usize> = (0..strides.len()).collect();
    perm.sort_by_key(|&i| std::cmp::Reverse(strides[i].unsigned_abs()));
    let shape: Vec<usize> = perm.iter().map(|&p| a.shape()[p]).collect();
    let mut expected = a.dtype().itemsize() as isize;
    for &p in perm.iter().rev() {
        let d = a.shape()[p];
        if d != 1 {
            if strides[p] != expected {
                return None;
            }
            expected = expected.checked_mul(d as isize)?;
        }
    }
    let mut axis_order = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        axis_order[p] = i;
    }
    Some(BufferLayout::K { shape, axis_order })
}

/// The memory of a contiguous array (in any axis order), shared.
pub(crate) fn memory(a: &NdArray) -> Bytes {
    let n = a.size() * a.dtype().itemsize();
    if n == 0 {
        return Bytes::new();
    }
    a.buffer().slice(a.offset()..a.offset() + n)
}
