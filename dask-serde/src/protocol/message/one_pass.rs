//! The one-pass decoder of frame 0: msgpack straight into a [`Value`],
//! giving up ([`Fallback`]) on anything the reference decoder must judge.

use bytes::Bytes;

use crate::msgpack::head::{fixed, head, Head};
use crate::value::Value;

use super::decode::{classify, is_special_key, Decoder, Special};

/// The one-pass decoder gave up: the reference path decides.
pub(super) struct Fallback;

/// Deepest container nesting the one-pass decoder handles (it recurses,
/// two small frames per level); deeper messages take the iterative
/// reference path.
const ONE_PASS_MAX_DEPTH: usize = 64;

/// A container marker read by [`Cursor::scalar`].
enum Open {
    Array(usize),
    Map(usize),
}

/// Position in frame 0.
struct Cursor<'a> {
    /// frame 0, for zero-copy `bin` slices
    input: &'a Bytes,
    bytes: &'a [u8],
    pos: usize,
}

type OnePassResult<T> = std::result::Result<T, Fallback>;

impl Cursor<'_> {
    /// Decodes the next value's head (through the crate's one marker
    /// decoder) into `slot` (in place: a [`Value`] is large, and moving
    /// whole values costs more than writing the variant where it belongs),
    /// or returns the container it opens. Malformed input, ext types and
    /// invalid UTF-8 are the reference path's to report.
    #[inline(always)]
    fn scalar(&mut self, slot: &mut Value) -> OnePassResult<Option<Open>> {
        // the one-byte forms most messages are made of, tested first (the
        // shortcuts of the marker decoder, so no marker is decoded here)
        let m = *self.bytes.get(self.pos).ok_or(Fallback)?;
        let v = if let Some(n) = fixed::str_len(m) {
            let start = self.pos + 1;
            let raw = self.bytes.get(start..start + n).ok_or(Fallback)?;
            self.pos = start + n;
            Value::Str(std::str::from_utf8(raw).map_err(|_| Fallback)?.to_owned())
        } else if let Some(i) = fixed::uint(m) {
            self.pos += 1;
            Value::Int(i128::from(i))
        } else if let Some(len) = fixed::map_len(m) {
            self.pos += 1;
            return Ok(Some(Open::Map(len)));
        } else if let Some(len) = fixed::array_len(m) {
            self.pos += 1;
            return Ok(Some(Open::Array(len)));
        } else if fixed::nil(m) {
            self.pos += 1;
            Value::None
        } else {
            return self.other(slot);
        };
        put(slot, v);
        Ok(None)
    }

    /// Every other form, through the marker decoder.
    #[inline(never)]
    fn other(&mut self, slot: &mut Value) -> OnePassResult<Option<Open>> {
        let (h, next) = head(self.bytes, self.pos).map_err(|_| Fallback)?;
        self.pos = next;
        let v = match h {
            Head::Int(i) => Value::Int(i),
            Head::Str(s) => Value::Str(std::str::from_utf8(s).map_err(|_| Fallback)?.to_owned()),
            Head::Map { len } => return Ok(Some(Open::Map(len))),
            Head::Array { len } => return Ok(Some(Open::Array(len))),
            Head::Nil => Value::None,
            Head::Bool(b) => Value::Bool(b),
            Head::Float(f) => Value::Float(f),
            Head::Bin(b) => Value::Bytes(self.input.slice_ref(b)),
        };
        put(slot, v);
        Ok(None)
    }
}

/// Writes `v` into a placeholder `slot` (a `Value::None`, which owns
/// nothing) without running the drop glue on the placeholder.
#[inline(always)]
fn put(slot: &mut Value, v: Value) {
    debug_assert!(matches!(slot, Value::None));
    std::mem::forget(std::mem::replace(slot, v));
}

/// State of [`Decoder::one_pass`].
struct OnePass<'a, 'd> {
    dec: &'d Decoder<'a>,
    cur: Cursor<'a>,
    /// containers may nest this deep (the smaller of both limits and
    /// [`ONE_PASS_MAX_DEPTH`])
    max_depth: usize,
    /// maps with a special key seen so far
    specials: usize,
}

impl OnePass<'_, '_> {
    /// Decodes the next value into `slot`, at nesting `depth` (its
    /// parents).
    #[inline(always)]
    fn fill(&mut self, slot: &mut Value, depth: usize) -> OnePassResult<()> {
        match self.cur.scalar(slot)? {
            None => Ok(()),
            Some(open) => self.container(open, slot, depth),
        }
    }

    fn container(&mut self, open: Open, slot: &mut Value, depth: usize) -> OnePassResult<()> {
        let (n, min_bytes) = match open {
            Open::Array(n) => (n, 1),
            Open::Map(n) => (n, 2),
        };
        // the nesting, and `n` items of at least `min_bytes` each must fit
        // in the rest of the input (before anything is allocated)
        if depth >= self.max_depth || n.saturating_mul(min_bytes) > self.cur.bytes.len() - self.cur.pos {
            return Err(Fallback);
        }
        match open {
            Open::Array(n) => {
                // placeholders first, then each item decoded in place
                let mut items: Vec<Value> = Vec::with_capacity(n);
                items.extend((0..n).map(|_| Value::None));
                for item in &mut items {
                    self.fill(item, depth + 1)?;
                }
                put(slot, Value::Tuple(items));
            }
            Open::Map(n) => {
                let before = self.specials;
                let mut special = false;
                let mut entries: Vec<(Value, Value)> = Vec::with_capacity(n);
                entries.extend((0..n).map(|_| (Value::None, Value::None)));
                for (k, v) in &mut entries {
                    self.fill(k, depth + 1)?;
                    special |= matches!(k, Value::Str(s) if is_special_key(s));
                    self.fill(v, depth + 1)?;
                }
                let v = if special {
                    self.special(entries, before)?
                } else {
                    Value::Dict(entries)
                };
                put(slot, v);
            }
        }
        Ok(())
    }

    fn root(&mut self) -> OnePassResult<Value> {
        let mut v = Value::None;
        self.fill(&mut v, 0)?;
        if self.cur.pos != self.cur.bytes.len() {
            return Err(Fallback);
        }
        Ok(v)
    }

    /// A map with a special key: what [`Decoder::special`] makes of it,
    /// provided no special map was inside (its children were converted
    /// first here, while the reference path looks at the map before its
    /// children and may never convert them).
    #[cold]
    #[inline(never)]
    fn special(&mut self, mut entries: Vec<(Value, Value)>, before: usize) -> OnePassResult<Value> {
        if self.specials != before {
            return Err(Fallback);
        }
        self.specials += 1;
        let dec = self.dec;
        let result = match classify(&entries).map_err(|_| Fallback)? {
            Special::No => Ok(Value::Dict(entries)),
            Special::Serialized(k) => dec.serialized(k),
            Special::Pickled(k) => dec.pickled(k),
            Special::Enum(e) => Ok(Value::from(e)),
            Special::Set(i) => match std::mem::replace(&mut entries[i].1, Value::None) {
                // the items hold no special map: already what the
                // reference path's conversion gives
                Value::Tuple(items) => Ok(Value::Set(items)),
                _ => return Err(Fallback),
            },
        };
        result.map_err(|_| Fallback)
    }
}

impl Decoder<'_> {
    /// Decodes frame 0 in one pass straight into a [`Value`].
    ///
    /// Gives up ([`Fallback`]) on anything it does not handle exactly as
    /// the reference path ([`MsgValue::decode`], the nesting check, then
    /// [`Decoder::value`]) would: malformed msgpack, nesting past the
    /// limits (or past [`ONE_PASS_MAX_DEPTH`], as it recurses), a special
    /// map inside another special map, and any error of a special map.
    /// The reference path then produces the result or the error, so the
    /// outcome never depends on which path ran.
    pub(super) fn one_pass(&self, input: &Bytes) -> std::result::Result<Value, Fallback> {
        let limits = &self.opts.limits;
        let mut r = OnePass {
            dec: self,
            cur: Cursor {
                input,
                bytes: input,
                pos: 0,
            },
            max_depth: limits.max_depth.min(limits.max_nesting).min(ONE_PASS_MAX_DEPTH),
            specials: 0,
        };
        r.root()
    }
}

#[cfg(test)]
mod one_pass_tests {
    //! The one-pass decoder against the reference path: whenever it
    //! returns a value, the reference path returns the same value, and
    //! `loads` always gives what the reference path gives.

    use super::*;
    use crate::context::Context;
    use crate::error::Error;
    use crate::limits::Limits;
    use crate::msgpack::MsgValue;
    use crate::options::{DeserializeOptions, SerializeOptions};
    use crate::protocol::message::dumps;
    use crate::pytype::PyType;
    use crate::registry::Registry;
    use crate::value::EnumMember;

    fn check(frames: &[Bytes], opts: &DeserializeOptions) -> bool {
        let registry = Registry::global();
        let dec = Decoder {
            registry: &registry,
            frames,
            opts,
        };
        let reference = dec.reference(&frames[0]);
        let one_pass = dec.one_pass(&frames[0]);
        let took_one_pass = one_pass.is_ok();
        if let Ok(v) = one_pass {
            match &reference {
                Ok(r) => assert_eq!(format!("{v:?}"), format!("{r:?}"), "{:x?}", &frames[0][..]),
                Err(e) => panic!("one pass: {v:?}, reference: {e}; input {:x?}", &frames[0][..]),
            }
        }
        let got = crate::protocol::message::loads_with(&registry, frames, opts);
        assert_eq!(
            format!("{got:?}"),
            format!("{reference:?}"),
            "{:x?}",
            &frames[0][..]
        );
        took_one_pass
    }

    fn s(x: &str) -> MsgValue {
        MsgValue::from(x)
    }

    fn map(entries: Vec<(MsgValue, MsgValue)>) -> MsgValue {
        MsgValue::Map(entries)
    }

    fn enc(m: &MsgValue) -> Bytes {
        Bytes::from(m.encode().unwrap())
    }

    /// Messages with payloads, written by `dumps`.
    fn dumped() -> Vec<Vec<Bytes>> {
        let opts = SerializeOptions::new().context(Context::new().with("compression", Value::None));
        let ser = |v: Value| Value::Serialize(Box::new(v));
        let msgs = [
            Value::Dict(vec![
                (Value::from("op"), Value::from("task-finished")),
                (Value::from("nbytes"), Value::Int(8_000_128)),
                (
                    Value::from("startstops"),
                    Value::List(vec![Value::Dict(vec![
                        (Value::from("action"), Value::from("compute")),
                        (Value::from("start"), Value::Float(1.5)),
                    ])]),
                ),
            ]),
            Value::Dict(vec![
                (Value::from("data"), ser(Value::from(vec![1u8, 2, 3]))),
                (Value::from("p"), Value::ToPickle(Box::new(Value::from(7)))),
                (
                    Value::from("s"),
                    Value::Set(vec![Value::from(1), Value::from("a")]),
                ),
                (
                    Value::from("e"),
                    Value::from(EnumMember {
                        class: PyType::new("distributed.core", "Status"),
                        name: "running".into(),
                    }),
                ),
                (
                    Value::from("l"),
                    Value::List(vec![
                        ser(Value::from("x")),
                        Value::Bytes(Bytes::from_static(b"raw")),
                    ]),
                ),
            ]),
            Value::Set(vec![ser(Value::from(1))]),
        ];
        msgs.iter().map(|m| dumps(m, &opts).unwrap()).collect()
    }

    /// Hand-made frame 0s: special maps of every shape, odd keys, every
    /// msgpack marker.
    fn handmade() -> Vec<Bytes> {
        let enum_map = |name: MsgValue| {
            map(vec![
                (s("__Enum__"), true.into()),
                (s("__module__"), s("m")),
                (s("__name__"), s("C")),
                (s("name"), name),
            ])
        };
        let ms = vec![
            map(vec![(s("__Serialized__"), 0.into()), (s("a"), 1.into())]),
            map(vec![(s("__Serialized__"), MsgValue::Nil)]),
            map(vec![
                (s("__Serialized__"), false.into()),
                (s("__Pickled__"), (-3).into()),
            ]),
            map(vec![(s("__Serialized__"), true.into())]),
            map(vec![(s("__Serialized__"), 1.5.into())]),
            map(vec![(s("__Serialized__"), (-1.5).into())]),
            map(vec![(s("__Serialized__"), s("1"))]),
            map(vec![(s("__Serialized__"), MsgValue::Array(vec![1.into()]))]),
            map(vec![(s("__Serialized__"), map(vec![]))]),
            map(vec![(
                s("__Serialized__"),
                MsgValue::Bin(Bytes::from_static(b"x")),
            )]),
            map(vec![(s("__Pickled__"), 99.into())]),
            map(vec![(s("__Pickled__"), MsgValue::Int(u64::MAX.into()))]),
            map(vec![
                (s("__Serialized__"), 1.into()),
                (s("x"), map(vec![(s("__Pickled__"), 99.into())])),
            ]),
            map(vec![
                (s("__Serialized__"), 0.into()),
                (s("x"), map(vec![(s("__Pickled__"), 99.into())])),
            ]),
            enum_map(s("running")),
            enum_map(5.into()),
            enum_map(enum_map(s("inner"))),
            map(vec![(s("__Enum__"), true.into()), (s("name"), s("x"))]),
            map(vec![
                (s("__Set__"), true.into()),
                (s("as-list"), MsgValue::Array(vec![1.into(), s("a")])),
            ]),
            map(vec![(s("__Set__"), true.into()), (s("as-list"), s("no"))]),
            map(vec![(s("__Set__"), true.into())]),
            map(vec![
                (s("__Set__"), true.into()),
                (s("as-list"), MsgValue::Array(vec![enum_map(s("a"))])),
            ]),
            map(vec![
                (s("__Set__"), true.into()),
                (s("as-list"), MsgValue::Array(vec![1.into()])),
                (s("as-list"), MsgValue::Array(vec![2.into()])),
            ]),
            MsgValue::Array(vec![
                enum_map(s("a")),
                enum_map(s("b")),
                map(vec![(s("k"), enum_map(s("c")))]),
            ]),
            map(vec![
                (1.into(), 2.into()),
                (MsgValue::Array(vec![1.into()]), map(vec![])),
                (MsgValue::Nil, MsgValue::Bin(Bytes::from_static(b"bin"))),
                (map(vec![(s("__Set__"), 1.into())]), 1.into()),
            ]),
            MsgValue::Array(vec![
                MsgValue::Int(-1),
                MsgValue::Int(-33),
                MsgValue::Int(200),
                MsgValue::Int(-200),
                MsgValue::Int(70_000),
                MsgValue::Int(-70_000),
                MsgValue::Int(5_000_000_000),
                MsgValue::Int(-5_000_000_000),
                MsgValue::Int(u64::MAX.into()),
                MsgValue::Float(f64::NAN),
                MsgValue::Float(-0.0),
                s(&"y".repeat(40)),
                s(&"z".repeat(300)),
                s(&"w".repeat(70_000)),
                MsgValue::Bin(Bytes::from(vec![7u8; 300])),
                MsgValue::Bin(Bytes::from(vec![7u8; 70_000])),
                MsgValue::Array((0..20).map(MsgValue::from).collect()),
                MsgValue::Array((0..70_000).map(|_| MsgValue::Nil).collect()),
                map((0..20).map(|i| (MsgValue::from(i), MsgValue::Nil)).collect()),
                map((0..70_000).map(|i| (MsgValue::from(i), MsgValue::Nil)).collect()),
            ]),
        ];
        let mut out: Vec<Bytes> = ms.iter().map(enc).collect();
        // markers msgpack-python never writes but reads: float32, ext,
        // the reserved byte, invalid UTF-8, trailing data
        out.push(Bytes::from_static(&[0x92, 0xca, 0x3f, 0xc0, 0, 0, 0xc0]));
        out.push(Bytes::from_static(&[0x91, 0xd4, 0x01, 0x00]));
        out.push(Bytes::from_static(&[0x91, 0xc1]));
        out.push(Bytes::from_static(&[0x81, 0xa2, 0xff, 0xfe, 0x01]));
        out.push(Bytes::from_static(&[0x01, 0x02]));
        out.push(Bytes::from_static(&[0xdd, 0xff, 0xff, 0xff, 0xff]));
        out.push(Bytes::from_static(&[0xdf, 0x00, 0x00, 0x00, 0x01, 0x01]));
        out.push(Bytes::from_static(&[0xc6, 0xff, 0xff, 0xff, 0xff]));
        out
    }

    /// Containers nested `d` deep (arrays and single-entry maps alternating).
    fn nested(d: usize) -> Bytes {
        let mut v = Vec::new();
        for i in 0..d {
            if i % 2 == 0 {
                v.push(0x91);
            } else {
                v.extend_from_slice(&[0x81, 0x01]);
            }
        }
        v.push(0xc0);
        Bytes::from(v)
    }

    fn all_opts() -> Vec<DeserializeOptions> {
        vec![
            DeserializeOptions::new(),
            DeserializeOptions::new().keep_serialized(true),
            DeserializeOptions::new().deserializers(["msgpack"]),
        ]
    }

    #[test]
    fn agrees_with_the_reference_path() {
        for (i, frames) in dumped().iter().enumerate() {
            for opts in all_opts() {
                let one_pass = check(frames, &opts);
                // specials side by side take the one pass; a payload
                // inside a set, or a refused payload, the reference path
                let refused = opts.deserializers.is_some() && i == 1;
                assert_eq!(one_pass, i < 2 && !refused, "message {i}");
            }
        }
        for first in handmade() {
            for opts in all_opts() {
                check(std::slice::from_ref(&first), &opts);
            }
        }
    }

    #[test]
    fn agrees_on_damaged_input() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut inputs: Vec<Vec<Bytes>> = dumped();
        inputs.extend(handmade().into_iter().filter(|b| b.len() < 1000).map(|b| vec![b]));
        let opts = DeserializeOptions::new();
        for frames in inputs {
            let first = frames[0].clone();
            for cut in 0..first.len() {
                let mut f = frames.clone();
                f[0] = first.slice(..cut);
                check(&f, &opts);
            }
            for _ in 0..300 {
                let mut b = first.to_vec();
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
                let mut f = frames.clone();
                f[0] = Bytes::from(b);
                check(&f, &opts);
            }
        }
    }

    #[test]
    fn dumps_refuses_leaves_past_511_levels() {
        for leaf in [Value::from("s"), Value::from(1), Value::None, Value::Float(0.5)] {
            let mut v = leaf;
            for _ in 0..511 {
                v = Value::List(vec![v]);
            }
            let opts = SerializeOptions::new();
            let frames = dumps(&v, &opts).unwrap();
            assert!(frames[0][..511].iter().all(|b| *b == 0x91));
            let deeper = Value::List(vec![v]);
            assert!(matches!(dumps(&deeper, &opts), Err(Error::Encode(_))));
        }
    }

    #[test]
    fn nesting_limits_give_the_same_errors() {
        for d in [1, 2, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 100_000] {
            check(&[nested(d)], &DeserializeOptions::new());
        }
        for (max_depth, max_nesting) in [(0, 0), (1, 5), (5, 1), (3, 3), (70, 200), (200, 70)] {
            let opts = DeserializeOptions::new().limits(Limits {
                max_depth,
                max_nesting,
                ..Limits::default()
            });
            for d in 0..8 {
                check(&[nested(d)], &opts);
            }
            check(&[nested(69)], &opts);
            check(&[nested(71)], &opts);
        }
        // the one-pass decoder takes everything within its own bound
        assert!(check(&[nested(64)], &DeserializeOptions::new()));
        assert!(!check(&[nested(65)], &DeserializeOptions::new()));
    }
}
