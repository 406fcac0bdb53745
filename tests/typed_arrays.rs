//! Typed numeric arrays: numpy headers, zero-copy both ways, byte order,
//! alignment.

use dask_serde::bytes::Bytes;
use dask_serde::{
    deserialize_any, Array, DaskDeserialize, DaskSerialize, DeserializeOptions, Error, Frame, MsgValue,
    NdArray, Serialized, Value,
};

fn sub(s: &Serialized<'_>) -> MsgValue {
    s.header.get("sub-header").unwrap().clone()
}

#[test]
fn vec_f64_header_is_numpys() {
    let v = vec![0.0f64, 1.0, 2.0, 3.0];
    let s = v.dask_serialize().unwrap();
    // the exact sub-header bytes of PROTOCOL.md §5.5 (vector ser_ndarray_f8_1d)
    let expected: &[u8] =
        b"\x84\xa5dtype\x92\x00\xa3<f8\xa5shape\x91\x04\xa7strides\x91\x08\xa9writeable\x91\xc3";
    assert_eq!(sub(&s).encode().unwrap(), expected);
    assert_eq!(s.header.get("type").unwrap().as_str(), Some("numpy.ndarray"));
    // zero-copy: the frame is the vector's memory
    assert!(matches!(s.frames[0], Frame::Borrowed(_)));
    assert_eq!(s.frames[0].as_ptr(), v.as_ptr().cast::<u8>());
    assert_eq!(s.frames[0].len(), 32);
    // and the same bytes as the dynamic NdArray path
    let nd = NdArray::from_c_order("<f8", vec![4], Bytes::copy_from_slice(&s.frames[0])).unwrap();
    assert_eq!(
        nd.dask_serialize().unwrap().to_packed().unwrap(),
        s.to_packed().unwrap()
    );
}

#[test]
fn every_element_type_round_trips() {
    fn check<T>(v: Vec<T>, dtype: &str)
    where
        T: dask_serde::Element,
        Vec<T>: DaskSerialize + DaskDeserialize,
    {
        let s = v.dask_serialize().unwrap();
        assert_eq!(
            sub(&s).get("dtype").unwrap().as_array().unwrap()[1].as_str(),
            Some(dtype)
        );
        let frames = s.frame_bytes();
        assert_eq!(Vec::<T>::dask_deserialize(&s.header, &frames).unwrap(), v);
        let a = Array::<T>::dask_deserialize(&s.header, &frames).unwrap();
        assert_eq!(a.to_vec(), v);
        let dynamic = deserialize_any(&s.header, &frames, &DeserializeOptions::new()).unwrap();
        assert!(matches!(dynamic, Value::NdArray(ref n) if n.dtype().descr() == dtype));
    }
    check(vec![true, false, true], "|b1");
    check(vec![-1i8, 2], "|i1");
    check(vec![-1i16, 300], "<i2");
    check(vec![-1i32, 70000], "<i4");
    check(vec![i64::MIN, i64::MAX], "<i8");
    check(vec![65535u16], "<u2");
    check(vec![u32::MAX], "<u4");
    check(vec![u64::MAX, 0], "<u8");
    check(vec![1.5f32, -0.0], "<f4");
    check(vec![f64::INFINITY, 1e-300], "<f8");
    check(Vec::<f64>::new(), "<f8");
    check(vec![half::f16::from_f32(1.5)], "<f2");
    check(vec![num_complex::Complex::new(1.0f32, -2.0)], "<c8");
    check(vec![num_complex::Complex::new(1.0f64, -2.0)], "<c16");
}

#[test]
fn array_decoding_shares_the_frame_when_aligned() {
    let a = Array::from_shape_vec(vec![2, 3], (0..6).map(f64::from).collect()).unwrap();
    let s = a.dask_serialize().unwrap();
    assert_eq!(
        s.frames[0].as_ptr(),
        a.as_slice().unwrap().as_ptr().cast::<u8>(),
        "serialize shares"
    );
    let frames = s.frame_bytes(); // Shared frames: no copy
    assert_eq!(frames[0].as_ptr(), s.frames[0].as_ptr());
    let back = Array::<f64>::dask_deserialize(&s.header, &frames).unwrap();
    assert!(back.shares_frame(&frames[0]), "aligned frame must be shared");
    assert_eq!(back.as_slice().unwrap().as_ptr().cast::<u8>(), frames[0].as_ptr());
    assert_eq!(back.get(&[1, 0]), Some(3.0));
}

#[test]
fn misaligned_frames_cost_exactly_one_copy() {
    let v: Vec<f64> = vec![1.0, 2.0, 3.0];
    let s = v.dask_serialize().unwrap().into_owned();
    // put the frame at an odd address inside a bigger buffer
    let mut raw = vec![0u8; 1];
    raw.extend_from_slice(&s.frames[0]);
    let big = Bytes::from(raw);
    let odd = big.slice(1..);
    assert_ne!(odd.as_ptr() as usize % std::mem::align_of::<f64>(), 0);
    let back = Array::<f64>::dask_deserialize(&s.header, std::slice::from_ref(&odd)).unwrap();
    assert!(!back.shares_frame(&odd), "a misaligned frame is copied");
    assert_eq!(back.to_vec(), v);
    assert_eq!(
        back.as_slice().unwrap().as_ptr() as usize % std::mem::align_of::<f64>(),
        0
    );
}

#[test]
fn big_endian_and_fortran_arrays_decode() {
    // >i4 [1, 2]
    let nd = NdArray::from_c_order(">i4", vec![2], Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 2])).unwrap();
    let s = nd.dask_serialize().unwrap();
    assert_eq!(
        Vec::<i32>::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(),
        vec![1, 2]
    );
    // Fortran (2, 3) float32: stays a view, logical C order on read
    let f = Array::from_shape_vec_f(vec![2, 3], vec![0f32, 3.0, 1.0, 4.0, 2.0, 5.0]).unwrap();
    let s = f.dask_serialize().unwrap();
    let strides: Vec<i128> = sub(&s)
        .get("strides")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_int().unwrap())
        .collect();
    assert_eq!(strides, [4, 8]);
    let back = Array::<f32>::dask_deserialize(&s.header, &s.frame_bytes()).unwrap();
    assert_eq!(back.to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(back.as_slice().is_none(), "not C-contiguous");
    // wrong dtype and wrong rank are errors
    assert!(matches!(
        Vec::<f64>::dask_deserialize(&s.header, &s.frame_bytes()),
        Err(Error::TypeMismatch { .. })
    ));
    let s2 = Array::from_shape_vec(vec![1, 2], vec![1f32, 2.0]).unwrap();
    let s2 = s2.dask_serialize().unwrap();
    assert!(Vec::<f32>::dask_deserialize(&s2.header, &s2.frame_bytes()).is_err());
}

mod with_ndarray {
    use super::*;
    use ndarray::{arr2, s, Array1, Array2, ShapeBuilder};

    #[test]
    fn c_and_fortran_arrays_are_borrowed() {
        let c = arr2(&[[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let s = c.dask_serialize().unwrap();
        assert!(matches!(s.frames[0], Frame::Borrowed(_)));
        assert_eq!(s.frames[0].as_ptr(), c.as_ptr().cast::<u8>());
        let f = Array2::from_shape_vec((2, 3).f(), vec![1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0]).unwrap();
        let sf = f.dask_serialize().unwrap();
        assert_eq!(sf.frames[0].as_ptr(), f.as_ptr().cast::<u8>());
        let strides: Vec<i128> = sub(&sf)
            .get("strides")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_int().unwrap())
            .collect();
        assert_eq!(strides, [4, 8]);
        // same bytes as the typed Array path
        let typed = Array::from_shape_vec(vec![2, 3], vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(
            typed.dask_serialize().unwrap().to_packed().unwrap(),
            s.to_packed().unwrap()
        );
        // round trips
        let back: Array2<f64> = Array2::dask_deserialize(&s.header, &s.frame_bytes()).unwrap();
        assert_eq!(back, c);
        let back: Array2<f32> = Array2::dask_deserialize(&sf.header, &sf.frame_bytes()).unwrap();
        assert_eq!(back, f);
        assert!(
            Array1::<f64>::dask_deserialize(&s.header, &s.frame_bytes()).is_err(),
            "wrong rank"
        );
    }

    #[test]
    fn strided_views_are_compacted() {
        let base = Array2::from_shape_vec((3, 4), (0..12).map(|x| x as i16).collect()).unwrap();
        let view = base.slice(s![.., ..;2]);
        let s = view.dask_serialize().unwrap();
        assert!(matches!(s.frames[0], Frame::Shared(_)), "non-contiguous: copied");
        let back: Array2<i16> = Array2::dask_deserialize(&s.header, &s.frame_bytes()).unwrap();
        assert_eq!(back, view);
        let rev = base.slice(s![..;-1, ..]);
        let s = rev.dask_serialize().unwrap();
        let back: Array2<i16> = Array2::dask_deserialize(&s.header, &s.frame_bytes()).unwrap();
        assert_eq!(back, rev);
    }

    #[test]
    fn views_share_received_frames() {
        let a = Array2::from_shape_vec((2, 2), vec![1u32, 2, 3, 4]).unwrap();
        let s = a.dask_serialize().unwrap().into_owned();
        let frames = s.frame_bytes();
        let typed = Array::<u32>::dask_deserialize(&s.header, &frames).unwrap();
        let view = typed.view().unwrap();
        assert_eq!(view.as_ptr().cast::<u8>(), frames[0].as_ptr());
        assert_eq!(view, a.into_dyn());
        // broadcast: (4, 3) from a (3,) row, zero stride on axis 0
        let row = NdArray::from_c_order(
            "<u4",
            vec![1, 3],
            Bytes::from(vec![1u8, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]),
        )
        .unwrap();
        let b = Array::<u32>::from_ndarray(row.broadcast_to(&[4, 3]).unwrap()).unwrap();
        let v = b.view().unwrap();
        assert_eq!(v.shape(), &[4, 3]);
        assert_eq!(v[[3, 2]], 3);
        // zero-size arrays use numpy 2's zero strides and the broadcast path
        let z = Array2::<f32>::zeros((0, 3));
        let s = z.dask_serialize().unwrap();
        assert_eq!(
            sub(&s).get("broadcast_to").unwrap(),
            &MsgValue::Array(vec![0.into(), 3.into()])
        );
        let back: Array2<f32> = Array2::dask_deserialize(&s.header, &s.frame_bytes()).unwrap();
        assert_eq!(back.shape(), &[0, 3]);
    }
}

#[test]
fn ndarray_fields_in_derived_structs() {
    use dask_serde::{DaskDeserialize, DaskSerialize};
    #[derive(Debug, PartialEq, DaskSerialize, DaskDeserialize)]
    #[dask(python = "m.Grid")]
    struct Grid {
        name: String,
        cells: ndarray::Array2<f32>,
    }
    let g = Grid {
        name: "g".into(),
        cells: ndarray::Array2::from_shape_vec((2, 2), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
    };
    let s = g.dask_serialize().unwrap();
    assert_eq!(s.frames[0].as_ptr(), g.cells.as_ptr().cast::<u8>());
    assert_eq!(Grid::dask_deserialize(&s.header, &s.frame_bytes()).unwrap(), g);
}
