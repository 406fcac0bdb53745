//! The safe pickle subset: a reader that interprets a pickle opcode stream
//! as **data**, and a writer that produces CPython 3.11's exact bytes for
//! plain values.
//!
//! This is what the `pickle` serialization family uses; it is public so
//! that pickles can be read and written without a Python interpreter:
//! [`loads`] and [`dumps`] (with [`dumps_with_buffers`] and
//! [`dumps_with_oob`] for protocol 5's out-of-band buffers, and
//! [`can_dump`] to know beforehand whether a value can be written), and
//! [`load_dtype`] / [`dump_dtype`] for the pickles of numpy dtypes.
//!
//! ```
//! use dask_serde::{pickle, Limits, Value};
//!
//! let value = Value::List(vec![Value::Int(1), Value::Str("a".into()), Value::Bytes(vec![0].into())]);
//! // what CPython's `pickle.dumps([1, 'a', b'\x00'], protocol=4)` writes
//! let bytes = b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01a\x94C\x01\x00\x94e.";
//! assert_eq!(pickle::dumps(&value, 4)?, bytes);
//! assert_eq!(pickle::loads(bytes, &[], &Limits::default())?, value);
//!
//! // calls of anything but a few data constructors are refused
//! let evil = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02ls\x85R.";
//! assert!(pickle::loads(evil, &[], &Limits::default()).is_err());
//! # Ok::<(), dask_serde::Error>(())
//! ```
//!
//! # Nothing is ever executed
//!
//! [`loads`] is not a pickle virtual machine: it never imports a module and
//! never calls anything. A `GLOBAL`/`STACK_GLOBAL` opcode only *names* a
//! Python object; what may happen to that name is decided here:
//!
//! * `REDUCE` (a call) is interpreted only for the globals of the allow-list
//!   of the reader (`ALLOWED_GLOBALS`) — `set`, `frozenset`, `bytearray`, `bytes`,
//!   `list`, `tuple`, `dict` of plain arguments, `_codecs.encode(str,
//!   "latin1")`, `copyreg._reconstructor(cls, object, None)` and
//!   `getattr(class, name)` — each turned into data by a small handler.
//!   Every other call is refused with an
//!   [`Error::Pickle`](crate::Error::Pickle) naming `module.name`.
//! * `NEWOBJ`/`NEWOBJ_EX` with empty arguments followed by `BUILD` with a
//!   `__dict__` state is the plain-object pattern `copyreg.__reduce_ex__`
//!   writes; it becomes a [`Value::Object`] whose class is only named.
//! * A class reference that would end up as a value is refused.
//! * numpy's constructors are interpreted as data too (the private
//!   `numpy` module): `numpy.dtype(typestr, False, True)` + `BUILD` state is a
//!   [`DType`](crate::DType) (structured, sub-array, datetime, object
//!   included; object *fields* refused); `_reconstruct(numpy.ndarray, (0,),
//!   b'b')` + `BUILD (1, shape, dtype, is_fortran, data)` and
//!   `_frombuffer(buffer, dtype, shape, order[, axis_order])` are
//!   [`NdArray`](crate::NdArray)s over the pickle's bytes or the
//!   out-of-band buffer (shared, not copied); `scalar(dtype, bytes)` is the
//!   matching plain value. A dtype on its own is not a value (it is read by
//!   [`load_dtype`]); a subclass of `ndarray` is refused.
//!
//! The allow-list is the extension point for more data constructors: a row
//! in `ALLOWED_GLOBALS` (`read/construct.rs`), a handler, and — for objects
//! that take a `BUILD` state — a variant of the reader's `Node`
//! (`read/node.rs`).
//!
//! # Bounded
//!
//! Every length is checked against the remaining input before anything is
//! allocated; memoized objects are shared in an arena while reading and
//! expanded into copies only at `STOP`, with the number of produced values
//! bounded by `16 × input length + 1024` (so a "billion laughs" pickle fails
//! fast) and the nesting depth by [`Limits::max_nesting`] (numpy dtypes
//! nested in dtypes too). Recursive (self-containing) structures are
//! refused. Wire input never causes a
//! panic, and neither reader nor writer recurses.
//!
//! # How values are read
//!
//! * Memo semantics are Python's: a container memoized while empty and
//!   filled later is seen filled through every `GET`; `set(list)` and
//!   `BUILD` copy their argument's items at that moment.
//! * Dict keys and set items that Python would merge are merged (`1`,
//!   `1.0` and `True` are one key; the first key object and the last value
//!   stay); unhashable ones are kept as they come.
//! * Python 2 strings (`STRING`, `BINSTRING`, `SHORT_BINSTRING`) are read as
//!   `bytes`; Python 2 names are mapped to Python 3 (`fix_imports`) in
//!   pickles of protocol < 3.
//! * Objects are read as their `__dict__` (and slots): a class's own
//!   `__setstate__`/`__reduce__` logic is not run.
//! * Trailing bytes after `STOP` are an error.
//! * A numpy array is what numpy's unpickler makes: `_reconstruct` data in
//!   the non-native byte order is byte-swapped to a native dtype (numpy's
//!   `array_setstate`), `_frombuffer` arrays keep their dtype and share the
//!   buffer; `bytes` and `READONLY_BUFFER` give read-only arrays.
//!
//! # Byte-compatible writer
//!
//! [`dumps`] writes what `pickle.dumps(v, protocol=p)` (CPython 3.11's C
//! pickler) writes for protocols 2–5 when the Python value shares no
//! objects: same opcodes, memo numbering, framing and batching. CPython's
//! identity sharing is modelled where it is a property of the interpreter
//! rather than of the value: `''`, one-character latin-1 strings, `b''` and
//! one-byte `bytes` are singletons, and class names, attribute names and
//! `'latin1'` are interned, so repeated ones are written as memo `GET`s just
//! as CPython writes them.
//!
//! numpy arrays and dtypes are written as numpy 2.4's `__reduce_ex__`
//! makes CPython write them: from protocol 5 on, an array contiguous in
//! some axis order whose dtype numpy can export as a buffer (no datetimes,
//! fields in order) is `_frombuffer` over a `PickleBuffer` — in-band with
//! [`dumps`], out-of-band with [`dumps_with_buffers`]; every other array
//! (and every array below protocol 5) is `_reconstruct` with the bytes, or
//! for object arrays the list of items; dtypes are `numpy.dtype` + state.
//! numpy's builtin descriptors (native-order numbers, bool, object) are
//! singletons and are shared through the memo as in numpy; field names
//! and titles made of identifier characters are taken to be interned, as
//! CPython interns such literals (in CPython 3.11 an interned
//! one-character name is not the latin-1 singleton of the same
//! character), and numpy's class and function names are fresh strings.

mod compat;
mod numpy;
mod op;
mod read;
mod write;

/// Python's `pickle.HIGHEST_PROTOCOL` (3.11): what Dask uses for the
/// `pickle` family, object arrays and the comm handshake's offer.
pub const HIGHEST_PROTOCOL: u8 = 5;

/// Python's `pickle.DEFAULT_PROTOCOL` (3.11): what a plain
/// `pickle.dumps(x)` writes, e.g. the dtype pickle of Dask's numpy
/// serializer.
pub const DEFAULT_PROTOCOL: u8 = 4;

use bytes::Bytes;

use crate::error::Result;
use crate::limits::Limits;
use crate::value::Value;

/// An out-of-band buffer handed to the reader (protocol 5 `NEXT_BUFFER`),
/// with Dask's `writeable` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OobBuffer {
    /// The buffer's bytes (shared, never copied by the reader).
    pub data: Bytes,
    /// `true` if Python would hand the buffer over writeable; a
    /// `READONLY_BUFFER` opcode clears it.
    pub writeable: bool,
}

/// Reads a pickle as plain data, without executing anything.
///
/// `buffers` are the out-of-band buffers consumed in order by protocol 5
/// `NEXT_BUFFER` opcodes; a buffer that ends up as a value becomes a
/// one-dimensional `memoryview` of format `"B"` sharing the buffer's bytes.
///
/// # Errors
///
/// [`Error::Pickle`](crate::Error::Pickle), with the byte offset of the
/// offending opcode, for malformed or truncated input, trailing bytes after
/// `STOP`, unsupported opcodes, globals outside the allow-list (refused
/// because calling them would execute code), recursive structures, and
/// shared references that expand beyond the value budget;
/// [`Error::Limit`](crate::Error::Limit) when the value nests deeper than
/// `limits.max_nesting` or a string is longer than `limits.max_frame_bytes`.
pub fn loads(data: &[u8], buffers: &[OobBuffer], limits: &Limits) -> Result<Value> {
    read::loads(data, buffers, limits)
}

/// Pickles a plain value with the given protocol (2..=5), byte for byte as
/// CPython 3.11's `pickle.dumps(value, protocol=protocol)` would for a value
/// without shared objects.
///
/// Arrays are written in-band, as `pickle.dumps` without a
/// `buffer_callback` writes them; see [`dumps_with_buffers`].
///
/// # Errors
///
/// [`Error::Encode`](crate::Error::Encode) for a protocol outside 2..=5, a
/// value [`can_dump`] rejects, nesting deeper than 1024 levels, and what
/// CPython itself refuses (a non-ASCII class name with protocol 2, a `str`
/// or `bytes` of 4 GiB or more below protocol 4).
pub fn dumps(value: &Value, protocol: u8) -> Result<Vec<u8>> {
    write::dumps(value, protocol)
}

/// [`dumps`], with numpy arrays of protocol 5 written the way
/// `pickle.dumps(value, protocol=5, buffer_callback=buffers.append)` writes
/// them: the memory of each C-, Fortran- or otherwise contiguous plain
/// array is an out-of-band buffer (`NEXT_BUFFER`, plus `READONLY_BUFFER`
/// for a read-only array) returned in order, shared with the array, not
/// copied. Other arrays, and every array below protocol 5, are written
/// in-band; values without arrays give no buffers.
///
/// # Errors
///
/// As [`dumps`].
pub fn dumps_with_buffers(value: &Value, protocol: u8) -> Result<(Vec<u8>, Vec<Bytes>)> {
    let (pickle, buffers) = write::dumps_oob(value, protocol)?;
    Ok((pickle, buffers.into_iter().map(|b| b.data).collect()))
}

/// [`dumps_with_buffers`] with each buffer's `writeable` flag (false for
/// the memory of a read-only array), as Dask's pickle family sends it.
///
/// # Errors
///
/// As [`dumps`].
pub fn dumps_with_oob(value: &Value, protocol: u8) -> Result<(Vec<u8>, Vec<OobBuffer>)> {
    write::dumps_oob(value, protocol)
}

/// True if [`dumps`] supports this value: plain data (None, bool, int,
/// float, str, bytes, bytearray, list, tuple, set, frozenset, dict),
/// objects of importable, non-builtin classes whose fields are plain data,
/// and numpy arrays (object arrays of such data), nested at most 1024
/// levels deep. Memoryviews, `array.array`s, wrappers and enum members are
/// not plain data.
///
/// The pickle family uses it to decline a value early; [`dumps`] can still
/// fail for protocol-specific reasons (see its errors).
pub fn can_dump(value: &Value) -> bool {
    write::can_dump(value)
}

/// Reads the pickle of a numpy dtype (the `[1, <pickle>]` form of
/// structured and void dtypes, PROTOCOL.md §5.5): `numpy.dtype(typestr, False,
/// True)` and its `BUILD` state, interpreted as data. `'='` is the native
/// byte order; byte-order-free types get `'|'`.
///
/// # Errors
///
/// [`Error::Pickle`](crate::Error::Pickle) for what [`loads`] refuses, a
/// pickle that is not of a dtype, object fields, state versions other than
/// 3 and 4, and inconsistent states (names without fields, offsets or
/// sub-arrays outside the item size, unknown datetime units);
/// [`Error::Limit`](crate::Error::Limit) for dtypes nested deeper than
/// `limits.max_nesting`.
pub fn load_dtype(data: &[u8], limits: &Limits) -> Result<crate::DType> {
    read::load_dtype(data, limits)
}

/// Pickles a numpy dtype as CPython's `pickle.dumps(dtype, protocol)`
/// does with numpy 2.4 (Dask uses the default protocol, 4 on Python 3.11,
/// for structured and void dtypes).
///
/// # Errors
///
/// [`Error::Encode`](crate::Error::Encode) for a protocol outside 2..=5 and
/// datetime dtypes with a unit numpy does not know.
pub fn dump_dtype(dtype: &crate::DType, protocol: u8) -> Result<Vec<u8>> {
    write::dump_dtype(dtype, protocol)
}
