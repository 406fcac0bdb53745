//! The memory bounds `Limits` documents, measured by a counting global
//! allocator (this test binary's own): receive memory grows with what
//! arrives, not with what a peer claims (with `Limits::untrusted()`, a
//! message announcing a 200 MiB frame and sending a few bytes costs the TCP
//! readers about a megabyte), and decoded trees stay within a constant
//! factor of their input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dask_serde::bytes::BytesMut;
use dask_serde::transport::codec::DaskCodec;
use dask_serde::transport::framing::read_message;
use dask_serde::{Error, Limits};
use tokio_util::codec::Decoder;

/// Counts the bytes allocated and keeps their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests measure one global peak: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Bytes allocated at the peak of `f`, above what was allocated before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
}

const CLAIM: u64 = 200 << 20;

/// `F` (the prelude only), one frame of `CLAIM` bytes announced, then
/// `sent` bytes of it.
fn claiming_message(sent: usize) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&16u64.to_le_bytes()); // F: count + one length
    m.extend_from_slice(&1u64.to_le_bytes());
    m.extend_from_slice(&CLAIM.to_le_bytes());
    m.extend(std::iter::repeat_n(7u8, sent));
    m
}

#[test]
fn blocking_reader_grows_with_the_bytes_that_arrive() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let input = claiming_message(1000);
    let (result, peak) = peak_of(|| read_message(&mut &input[..], &Limits::untrusted()));
    assert!(matches!(result, Err(Error::CommClosed(_))), "{result:?}");
    assert!(
        peak < 4 << 20,
        "reading a claimed {CLAIM}-byte frame allocated {peak} bytes"
    );
    // the frame is within the limits: when it does arrive, it is read
    let full = claiming_message(CLAIM as usize);
    let (frames, _) = peak_of(|| read_message(&mut &full[..], &Limits::untrusted()));
    let frames = frames.unwrap().unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].len() as u64, CLAIM);
}

#[test]
fn codec_grows_with_the_bytes_that_arrive() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let input = claiming_message(1000);
    let mut codec = DaskCodec::new(Limits::untrusted());
    let mut buf = BytesMut::new();
    let (result, peak) = peak_of(|| {
        buf.extend_from_slice(&input);
        codec.decode(&mut buf)
    });
    assert!(matches!(result, Ok(None)), "{result:?}");
    assert!(
        buf.capacity() < 4 << 20,
        "buffer of {} bytes reserved",
        buf.capacity()
    );
    assert!(
        peak < 8 << 20,
        "decoding a claimed {CLAIM}-byte frame allocated {peak} bytes"
    );
}

#[test]
fn default_limits_still_read_a_frame_into_one_buffer() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // trusted peers: the whole frame is reserved at once, so its bytes are
    // written once and never moved (the zero-copy receive of W5)
    let full = claiming_message(CLAIM as usize);
    let (frames, peak) = peak_of(|| read_message(&mut &full[..], &Limits::default()));
    let frames = frames.unwrap().unwrap();
    assert_eq!(frames[0].len() as u64, CLAIM);
    assert!(
        peak < CLAIM as usize + (1 << 20),
        "{peak} bytes for one {CLAIM}-byte frame"
    );
}

/// The bound `Limits` documents: a decoded msgpack tree (a header, a
/// message) takes at most about 50 bytes per byte of its input, because
/// every value is at least one byte and becomes one 48-byte node plus its
/// own bytes. Measured on the worst shapes: a million nils, half a million
/// one-character keys.
#[test]
fn decoded_trees_take_at_most_50_bytes_per_input_byte() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = 1_000_000usize;
    let mut nils = vec![0xdd];
    nils.extend_from_slice(&(n as u32).to_be_bytes());
    nils.extend(std::iter::repeat_n(0xc0u8, n));
    let mut keys = vec![0xdf];
    keys.extend_from_slice(&(n as u32 / 2).to_be_bytes());
    for i in 0..n / 2 {
        keys.extend_from_slice(&[0xa1, b'a' + (i % 26) as u8, 0x01]);
    }
    for (what, input) in [("nils", nils), ("one-character keys", keys)] {
        let input = dask_serde::bytes::Bytes::from(input);
        let bound = 50 * input.len() + (1 << 20);
        let (tree, peak) = peak_of(|| dask_serde::MsgValue::decode(&input, &Limits::default()));
        tree.unwrap();
        assert!(
            peak <= bound,
            "{what}: the msgpack tree took {peak} bytes for {} bytes",
            input.len()
        );
        let frames = vec![input.clone()];
        let (msg, peak) =
            peak_of(|| dask_serde::message::loads(&frames, &dask_serde::DeserializeOptions::new()));
        msg.unwrap();
        assert!(
            peak <= bound,
            "{what}: the message took {peak} bytes for {} bytes",
            input.len()
        );
    }
}
