//! How numpy arrays and dtypes are written, as numpy 2.4's
//! `__reduce_ex__` has CPython write them (`_frombuffer` over a
//! `PickleBuffer`, `_reconstruct` + state, `numpy.dtype` + state).

use bytes::Bytes;

use super::pickler::{batched, call, int_tuple, Shared, StrKind, Task, Writer, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::pickle::numpy::array::{buffer_exportable, buffer_layout, memory, BufferLayout};
use crate::pickle::numpy::dtype::{dtype_problem, dtype_state, is_interned_name};
use crate::pickle::numpy::{MULTIARRAY, NUMERIC};
use crate::pickle::{op, OobBuffer};
use crate::value::dtype::{DType, Layout};
use crate::value::ndarray::NdArray;

impl<'a> Writer<'a> {
    /// A numpy array, as numpy 2.4's `ndarray.__reduce_ex__(protocol)` has
    /// CPython write it: from protocol 5 on, a plain array contiguous in
    /// some axis order is `_frombuffer(PickleBuffer, dtype, shape, order[,
    /// axis_order])`; every other array is `_reconstruct(ndarray, (0,),
    /// b'b')` with the state `(1, shape, dtype, is_fortran, data)`, data
    /// being the bytes in Fortran order for a Fortran (not C) contiguous
    /// array, else in C order, or the list of an object array's items.
    pub(super) fn save_ndarray(&mut self, a: &'a NdArray, depth: usize) -> Result<()> {
        if let Some(problem) = dtype_problem(a.dtype(), MAX_DEPTH) {
            return Err(Error::Encode(format!(
                "cannot pickle an array of dtype {}: {problem}",
                a.dtype().str()
            )));
        }
        if let Some(items) = a.objects() {
            self.save_reconstruct(a, Task::List(items, depth), false);
            return Ok(());
        }
        if self.proto >= 5 && a.dtype().itemsize() > 0 && buffer_exportable(a.dtype()) {
            if let Some(layout) = buffer_layout(a) {
                self.save_frombuffer(a, layout);
                return Ok(());
            }
        }
        let fortran = a.is_f_contiguous() && !a.is_c_contiguous();
        let data = if fortran || a.size() == 0 {
            memory(a)
        } else {
            a.to_c_bytes()
        };
        self.save_reconstruct(a, Task::OwnedBytes(data, true), fortran);
        Ok(())
    }

    /// `_reconstruct(numpy.ndarray, (0,), b'b')`, memoized, and the `BUILD`
    /// state with `data`.
    fn save_reconstruct(&mut self, a: &'a NdArray, data: Task<'a>, fortran: bool) {
        let mut t = call(
            MULTIARRAY,
            "_reconstruct",
            3,
            vec![
                Task::Global("numpy", "ndarray"),
                Task::TupleStart(1),
                Task::Int(0),
                Task::TupleEnd(1),
                Task::OwnedBytes(Bytes::from_static(b"b"), true),
            ],
        );
        t.push(Task::MemoPut(None));
        t.push(Task::TupleStart(5));
        t.push(Task::Int(1));
        int_tuple(&mut t, a.shape());
        t.push(Task::DType(a.dtype()));
        t.push(Task::Atom(if fortran { op::NEWTRUE } else { op::NEWFALSE }));
        t.push(data);
        t.push(Task::TupleEnd(5));
        t.push(Task::Op(op::BUILD));
        self.then(t);
    }

    /// `_frombuffer(PickleBuffer(memory), dtype, shape, order[,
    /// axis_order])`, memoized.
    fn save_frombuffer(&mut self, a: &'a NdArray, layout: BufferLayout) {
        let (shape, order, axis_order) = match layout {
            BufferLayout::C => (a.shape().to_vec(), "C", None),
            BufferLayout::F => (a.shape().to_vec(), "F", None),
            BufferLayout::K { shape, axis_order } => (shape, "K", Some(axis_order)),
        };
        let n = if axis_order.is_some() { 5 } else { 4 };
        let mut args = vec![
            Task::PickleBuffer(memory(a), !a.is_writeable()),
            Task::DType(a.dtype()),
        ];
        int_tuple(&mut args, &shape);
        args.push(Task::Str(order, StrKind::Data));
        if let Some(x) = axis_order {
            int_tuple(&mut args, &x);
        }
        let mut t = call(NUMERIC, "_frombuffer", n, args);
        t.push(Task::MemoPut(None));
        self.then(t);
    }

    /// `save_picklebuffer`: out-of-band (`NEXT_BUFFER`, `READONLY_BUFFER`
    /// if read-only) when buffers are collected, else in-band as `bytes`
    /// (read-only) or `bytearray`, memoized.
    pub(super) fn save_picklebuffer(&mut self, b: Bytes, readonly: bool) -> Result<()> {
        self.boundary();
        if let Some(buffers) = self.buffers.as_mut() {
            buffers.push(OobBuffer {
                data: b,
                writeable: !readonly,
            });
            self.write(&[op::NEXT_BUFFER]);
            if readonly {
                self.write(&[op::READONLY_BUFFER]);
            }
            return Ok(());
        }
        if readonly {
            self.write_bytes_data(&b)?;
        } else {
            let mut h = [op::BYTEARRAY8; 9];
            h[1..].copy_from_slice(&(b.len() as u64).to_le_bytes());
            self.write_payload(&h, &b);
        }
        self.memo_put(None)
    }

    /// A numpy dtype, as `dtype.__reduce__()` has CPython write it:
    /// `numpy.dtype(typestr, False, True)`, memoized (numpy's builtin
    /// descriptors are singletons: written once, then fetched from the
    /// memo), and the `BUILD` state.
    pub(super) fn save_dtype(&mut self, d: &'a DType) -> Result<()> {
        self.boundary();
        let st = dtype_state(d)?;
        let key = st.singleton.map(Shared::DType);
        if let Some(k) = &key {
            if self.memo_get(k) {
                return Ok(());
            }
        }
        let mut t = call(
            "numpy",
            "dtype",
            3,
            vec![
                Task::OwnedStr(st.typestr, StrKind::Data),
                Task::Atom(op::NEWFALSE),
                Task::Atom(op::NEWTRUE),
            ],
        );
        t.push(Task::MemoPut(key));
        let n = if st.version == 4 { 9 } else { 8 };
        t.push(Task::TupleStart(n));
        t.push(Task::Int(st.version.into()));
        t.push(Task::OwnedStr(st.endian.to_string(), StrKind::Data));
        match d.layout() {
            Some(Layout::SubArray { base, shape }) => {
                t.push(Task::TupleStart(2));
                t.push(Task::DType(base));
                int_tuple(&mut t, shape);
                t.push(Task::TupleEnd(2));
                t.push(Task::Atom(op::NONE));
                t.push(Task::Atom(op::NONE));
            }
            Some(Layout::Fields { fields, .. }) => {
                t.push(Task::Atom(op::NONE));
                self.fields(&mut t, fields);
            }
            None => t.extend([Task::Atom(op::NONE), Task::Atom(op::NONE), Task::Atom(op::NONE)]),
        }
        t.push(Task::Int(st.elsize.into()));
        t.push(Task::Int(st.alignment.into()));
        t.push(Task::Int(st.flags.into()));
        if let Some((unit, num)) = st.datetime {
            t.push(Task::TupleStart(2));
            t.push(Task::Atom(op::NONE));
            t.push(Task::TupleStart(4));
            t.push(Task::OwnedBytes(Bytes::from(unit), true));
            t.extend([Task::Int(num.into()), Task::Int(1), Task::Int(1)]);
            t.push(Task::TupleEnd(4));
            t.push(Task::TupleEnd(2));
        }
        t.push(Task::TupleEnd(n));
        t.push(Task::Op(op::BUILD));
        self.then(t);
        Ok(())
    }

    /// The `names` tuple and `fields` dict of a structured dtype's state.
    /// numpy's dict holds `name: (dtype, offset[, title])` and, for a
    /// titled field, `title: <the same tuple>`; its keys are the very
    /// objects of `names`, so they are memo `GET`s here.
    fn fields(&mut self, t: &mut Vec<Task<'a>>, fields: &'a [crate::value::dtype::DTypeField]) {
        let n = fields.len();
        let base = self.slots.len();
        // per field: name, title, value tuple
        self.slots.resize(base + 3 * n, 0);
        t.push(Task::TupleStart(n));
        for (i, f) in fields.iter().enumerate() {
            t.push(Task::StrSlot(&f.name, name_kind(&f.name), base + 3 * i));
        }
        t.push(Task::TupleEnd(n));
        t.push(Task::StateDict);
        let entries: Vec<(usize, bool)> = fields
            .iter()
            .enumerate()
            .flat_map(|(i, f)| std::iter::once((i, false)).chain(f.title.as_ref().map(|_| (i, true))))
            .collect();
        t.extend(batched(
            entries.len(),
            Some(op::SETITEM),
            op::SETITEMS,
            true,
            |j, t| {
                let (i, is_title) = entries[j];
                let slot = base + 3 * i;
                if is_title {
                    t.push(Task::GetSlot(slot + 1));
                    t.push(Task::GetSlot(slot + 2));
                    return;
                }
                let f = &fields[i];
                t.push(Task::GetSlot(slot));
                let k = if f.title.is_some() { 3 } else { 2 };
                t.push(Task::TupleStart(k));
                t.push(Task::DType(&f.dtype));
                t.push(Task::Int(f.offset as i128));
                if let Some(title) = &f.title {
                    t.push(Task::StrSlot(title, name_kind(title), slot + 1));
                }
                t.push(Task::TupleEndSlot(k, slot + 2));
            },
        ));
    }
}

/// How CPython shares a numpy field name or title: interned when made of
/// identifier characters (as literals in code are), else as data.
fn name_kind(s: &str) -> StrKind {
    if is_interned_name(s) {
        StrKind::Name
    } else {
        StrKind::Data
    }
}
