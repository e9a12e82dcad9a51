//! Model checks of the ring: loom runs each test under every interleaving of its threads (within
//! a preemption bound) and every outcome the C++11 memory model allows for the orderings used,
//! so a missing `Release`/`Acquire`, a bit cleared after the release, or a claim racing a wrap
//! shows up as a failing schedule instead of a rare production hang or a torn record.
//!
//! Run with `RUSTFLAGS="--cfg tracing_audit_loom" cargo test --release --lib sink::queue::ring::model`
//! (`.ci/run` does).

use super::*;
use ::loom::sync::Arc;
use ::loom::thread;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = ::loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// Claims, fills and publishes one record; false when the ring refused it.
fn push(ring: &Ring, bytes: &[u8]) -> bool {
    match ring.claim(bytes.len()) {
        Ok(claim) => {
            ring.fill(&claim, bytes);
            ring.publish(claim, Kind::Record);
            true
        }
        Err(_) => false,
    }
}

fn consume(ring: &Ring, out: &mut Vec<u8>) -> Consumed {
    ring.consume(out, |_, _| panic!("no oversize markers here"))
}

fn records(out: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    lines.sort();
    lines
}

#[test]
fn concurrent_producers_and_a_consumer_lose_tear_and_repeat_nothing() {
    model(|| {
        // 8 words: both records (3 and 2 words) fit at once.
        let ring = Arc::new(Ring::new(64).unwrap());
        let a = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || push(&ring, b"aaaaaaaaaaaa"))
        };
        let b = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || push(&ring, b"bbbb"))
        };
        // The consumer runs while the producers write: it may take nothing, one or both, but
        // only whole, published records.
        let mut out = Vec::new();
        consume(&ring, &mut out);
        for record in records(&out) {
            assert!(
                record == b"aaaaaaaaaaaa" || record == b"bbbb",
                "torn: {record:?}"
            );
        }
        assert!(a.join().unwrap() && b.join().unwrap());
        let consumed = consume(&ring, &mut out);
        assert_eq!(records(&out), [b"aaaaaaaaaaaa".to_vec(), b"bbbb".to_vec()]);
        assert_eq!(consumed.head, ring.tail());
        assert!(ring.is_empty());
    });
}

#[test]
fn slots_released_and_claimed_again_across_the_end_are_never_read_stale() {
    model(|| {
        // 6 words. Two records of two words each are written and taken first, so the next lap
        // starts at word 4: a three-word record then pads the end and wraps to word 0, over
        // slots whose published bits the consumer had to clear before releasing them.
        let ring = Arc::new(Ring::new(48).unwrap());
        let mut out = Vec::new();
        assert!(push(&ring, b"old1") && push(&ring, b"old2"));
        consume(&ring, &mut out);
        out.clear();
        let wraps = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || push(&ring, b"cccccccccccc"))
        };
        let consumer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut out = Vec::new();
                consume(&ring, &mut out);
                out
            })
        };
        let small = push(&ring, b"dd");
        let wrapped = wraps.join().unwrap();
        out.extend(consumer.join().unwrap());
        consume(&ring, &mut out);
        let mut want = Vec::new();
        if wrapped {
            want.push(b"cccccccccccc".to_vec());
        }
        if small {
            want.push(b"dd".to_vec());
        }
        want.sort();
        // Whatever was accepted comes out once; nothing of the first lap comes back.
        assert_eq!(records(&out), want);
        assert!(wrapped || small, "with the ring empty one of them fits");
        assert!(ring.is_empty());
    });
}

#[test]
fn a_full_ring_refuses_instead_of_overrunning_a_slot_being_read() {
    model(|| {
        // 4 words: one two-word record fits, a second only once the first is released.
        let ring = Arc::new(Ring::new(32).unwrap());
        assert!(push(&ring, b"first"));
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || (push(&ring, b"second"), push(&ring, b"third")))
        };
        let mut out = Vec::new();
        consume(&ring, &mut out);
        let (second, third) = producer.join().unwrap();
        consume(&ring, &mut out);
        let got = records(&out);
        assert!(got.contains(&b"first".to_vec()), "{got:?}");
        assert_eq!(got.contains(&b"second".to_vec()), second);
        assert_eq!(got.contains(&b"third".to_vec()), third);
        assert!(ring.is_empty());
    });
}
