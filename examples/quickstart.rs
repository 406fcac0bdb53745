//! The README's first command: serialize a few values the way Dask does,
//! show their headers and frames, and decode them back.
//!
//! Run with `cargo run --example quickstart`.

use dask_serde::bytes::Bytes;
use dask_serde::{
    deserialize_any, serialize, DaskDeserialize, DaskSerialize, DeserializeOptions, NdArray, Object, PyType,
    SerializeOptions, Serialized, Value,
};

fn show(title: &str, s: &Serialized<'_>) -> Result<(), dask_serde::Error> {
    let header = s.header.encode()?;
    println!("== {title}");
    println!("   header: {} bytes of msgpack", header.len());
    for (k, v) in s.header.entries() {
        let mut text = format!("{v:?}");
        if text.len() > 90 {
            text.truncate(87);
            text.push_str("...");
        }
        println!("     {:?}: {text}", k.as_str().unwrap_or("?"));
    }
    let sizes: Vec<usize> = s.frames.iter().map(|f| f.len()).collect();
    println!("   frames: {} {:?}", s.frames.len(), sizes);
    Ok(())
}

fn main() -> Result<(), dask_serde::Error> {
    let opts = SerializeOptions::new(); // Dask's default: ["dask", "pickle"]
    let any = DeserializeOptions::new();

    // 1. bytes travel as one out-of-band frame
    let hello = Value::Bytes(Bytes::from_static(b"hello"));
    let s = serialize(&hello, &opts)?;
    show("bytes", &s)?;
    assert_eq!(deserialize_any(&s.header, &s.frame_bytes(), &any)?, hello);

    // 2. a numpy array: raw frame + dtype/shape/strides in the header
    let data: Vec<u8> = (0..6).flat_map(|i| (i as f64).to_le_bytes()).collect();
    let array = Value::from(NdArray::from_c_order("<f8", vec![2, 3], data.into())?);
    let s = serialize(&array, &opts)?;
    show("numpy.ndarray (2x3 float64)", &s)?;
    assert_eq!(deserialize_any(&s.header, &s.frame_bytes(), &any)?, array);

    // 3. a register_generic object: small fields in the header, arrays in frames
    let obj = Value::from(Object {
        class: PyType::new("mylab.models", "Chunk"),
        fields: vec![
            ("name".into(), Value::from("chunk-0")),
            ("index".into(), Value::from(7)),
            ("values".into(), array.clone()),
        ],
    });
    let s = serialize(&obj, &opts)?;
    show("register_generic object mylab.models.Chunk", &s)?;
    let back = deserialize_any(&s.header, &s.frame_bytes(), &any)?;
    println!("   decoded: {}", back.to_json());

    // 4. a dict whose first value is bytes is iterated item by item
    let d = Value::Dict(vec![
        (Value::from("payload"), Value::Bytes(Bytes::from(vec![0u8; 1024]))),
        (Value::from("count"), Value::from(3)),
    ]);
    let s = serialize(&d, &opts)?;
    show("dict collection", &s)?;

    // 5. the allow-list: refuse pickle from untrusted peers
    let strict = DeserializeOptions::new().deserializers(["dask", "msgpack"]);
    match deserialize_any(&s.header, &s.frame_bytes(), &strict) {
        Err(e) => println!("   refused as expected: {e}"),
        Ok(_) => unreachable!("the int 3 was pickled"),
    }

    // 6. the typed path: no dynamic values, no copies of buffer fields
    let payload = vec![42u8; 1 << 20];
    let s = payload.dask_serialize()?;
    println!(
        "== typed Vec<u8>: frame borrows the vector: {}",
        s.frames[0].as_ptr() == payload.as_ptr()
    );
    let owned = s.into_owned();
    let back = Bytes::dask_deserialize(&owned.header, &owned.frame_bytes())?;
    assert_eq!(back.len(), payload.len());
    println!("   decoded {} bytes back", back.len());
    Ok(())
}
