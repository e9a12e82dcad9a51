use super::*;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn take_all(shared: &Shared) -> Vec<String> {
    let mut batch = Vec::new();
    let mut st = shared.lock();
    shared.take(&mut st, &mut batch);
    String::from_utf8(batch)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_record_larger_than_the_queue_is_kept_aside_in_its_place_when_the_queue_is_empty() {
    let shared = Shared::new(Stream::Audit, 64, None).unwrap();
    let big = format!("{{\"big\":\"{}\"}}", "x".repeat(200));
    shared.submit(big.as_bytes());
    shared.submit(b"{\"after\":1}");
    assert_eq!(shared.health().queued, 2);
    assert_eq!(
        take_all(&shared),
        vec![big.clone(), "{\"after\":1}".to_owned()]
    );
    assert!(shared.lock_oversize().is_empty());
    assert!(shared.is_empty());
}

#[test]
fn an_oversize_audit_record_admitted_after_waiting_wakes_a_sleeping_writer_without_deadlock() {
    let shared = Arc::new(Shared::new(Stream::Audit, 64, None).unwrap());
    shared.submit(b"{\"first\":1}");
    // As if the writer had gone to sleep: admitting the big record must wake it.
    shared
        .writer_wait
        .store(WriterWait::Sleeping as u8, Ordering::SeqCst);
    let big = format!("{{\"big\":\"{}\"}}", "x".repeat(200));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let producer = {
        let (shared, big) = (Arc::clone(&shared), big.clone());
        thread::spawn(move || {
            shared.submit(big.as_bytes());
            let _ = done_tx.send(());
        })
    };
    // The caller wakes "the writer" before it waits for room. Once it waits, the writer takes
    // what is queued (making room and waking the caller) and goes back to sleep.
    loop {
        let mut st = shared.lock();
        if shared.writer_wait() == WriterWait::Busy {
            shared
                .writer_wait
                .store(WriterWait::Sleeping as u8, Ordering::SeqCst);
            let mut batch = Vec::new();
            shared.take(&mut st, &mut batch);
            assert_eq!(batch, b"{\"first\":1}\n");
            break;
        }
        drop(st);
        thread::yield_now();
    }
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the waiting caller got in (it must not wake the writer under its own lock)");
    producer.join().unwrap();
    assert_eq!(
        shared.writer_wait(),
        WriterWait::Busy,
        "the writer was woken"
    );
    assert_eq!(take_all(&shared), vec![big]);
}

#[test]
fn a_debug_record_larger_than_a_busy_queue_is_dropped_and_counted() {
    let shared = Shared::new(Stream::Debug, 64, None).unwrap();
    shared.submit(b"{\"first\":1}");
    shared.submit("x".repeat(200).as_bytes());
    let health = shared.health();
    assert_eq!((health.queued, health.dropped), (1, 1));
    assert_eq!(
        shared.take_drops(),
        1,
        "reported in the stream by the writer"
    );
    assert_eq!(take_all(&shared), vec!["{\"first\":1}".to_owned()]);
}

#[test]
fn closing_counts_every_record_exactly_once_while_producers_race_it() {
    // Producers keep submitting while a consumer takes batches; then the queue closes under
    // them. Every record is either taken or counted failed by exactly one side.
    for _ in 0..20 {
        let shared = Arc::new(Shared::new(Stream::Audit, 1024, None).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let consumer = {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            thread::spawn(move || {
                let mut taken = 0u64;
                let mut batch = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    batch.clear();
                    let mut st = shared.lock();
                    if shared.is_closed() {
                        break;
                    }
                    taken += shared.take(&mut st, &mut batch).records;
                    drop(st);
                    thread::yield_now();
                }
                taken
            })
        };
        let producers: Vec<_> = (0..3)
            .map(|t| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    for i in 0..5_000 {
                        shared.submit(format!("{{\"t\":{t},\"i\":{i}}}").as_bytes());
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(2));
        shared.close(0, None);
        stop.store(true, Ordering::SeqCst);
        for p in producers {
            p.join().unwrap();
        }
        let taken = consumer.join().unwrap();
        let failed = shared.health().failed;
        assert_eq!(taken + failed, 15_000, "taken {taken} + failed {failed}");
    }
}

#[test]
fn an_audit_caller_waiting_for_room_is_released_when_the_queue_closes() {
    let shared = Arc::new(Shared::new(Stream::Audit, 64, None).unwrap());
    for i in 0..4 {
        shared.submit(format!("{{\"i\":{i}}}").as_bytes());
    }
    let waiter = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || shared.submit(b"{\"i\":4}"))
    };
    while shared.room_waiters.load(Ordering::SeqCst) == 0 {
        thread::yield_now();
    }
    shared.close(0, None);
    waiter.join().unwrap();
    assert_eq!(shared.health().failed, 5, "four queued, one refused");
}

#[test]
fn sync_waits_for_the_position_it_saw_and_fails_once_closed() {
    let shared = Shared::new(Stream::Audit, 1024, None).unwrap();
    shared.submit(b"{\"i\":1}");
    let taken = {
        let mut batch = Vec::new();
        let mut st = shared.lock();
        let taken = shared.take(&mut st, &mut batch);
        st.durable = taken.up_to;
        taken
    };
    assert_eq!(taken.records, 1);
    assert!(shared.sync(Some(Duration::from_millis(1))).is_ok());
    shared.submit(b"{\"i\":2}");
    let err = shared.sync(Some(Duration::from_millis(20))).unwrap_err();
    assert!(err.kind() == crate::sink::SinkErrorKind::TimedOut, "{err}");
    shared.close(0, None);
    assert!(shared.sync(None).is_err());
}

#[test]
fn close_counts_the_records_published_behind_a_stalled_claim() {
    let shared = Shared::new(Stream::Audit, 1024, None).unwrap();
    // A producer claims room and stalls before publishing; two more publish behind it.
    let stalled = shared.ring.claim(8).unwrap();
    shared.submit(b"{\"behind\":1}");
    shared.submit(b"{\"behind\":2}");
    shared.close(0, None);
    assert_eq!(
        shared.health().failed,
        2,
        "the records behind the stalled claim are counted, not lost silently"
    );
    // The stalled producer finally publishes: it sees the sink closed and counts itself.
    shared.fill_and_publish(stalled, b"{\"s\":12}");
    assert_eq!(shared.health().failed, 3);
}
