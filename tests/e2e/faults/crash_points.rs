//! The aggregator dies at each step of a pass, on purpose: armed with `TALLY_TEST_CRASH_AT`
//! (see `meter/src/aggregator/crash_point.rs`), it aborts after the ids insert, after the
//! rollups insert, or between the write and the commit of its third pass, while events pour
//! in. An unarmed aggregator then takes over, and usage must equal the reference exactly.
//!
//! The hook exists in debug builds only, and so do these tests.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::aggregator::{AGGREGATOR_SETTINGS, resend_some, send_more, streams_with_resends};
use crate::e2e::meter_load::{Fleet, SESSION_EXPIRY, assert_sent_usage_converges, base_time};
use crate::e2e::support::TestEnv;

/// The signal `std::process::abort` raises.
const SIGABRT: i32 = 6;

/// Which reach of its point crashes the armed aggregator: a later pass than the first, so that
/// earlier passes left rows and commits behind.
const CRASH_ON_REACH: u32 = 3;

/// Arms the aggregator at `point`, lets it die there while events arrive in steps, restarts an
/// unarmed one, and checks that usage converges to the reference.
async fn usage_is_exact_after_a_crash_at(point: &str) {
    const TENANTS: usize = 6;
    const STEPS: usize = 5;
    const EVENTS_PER_STEP: usize = 200;
    let started = Instant::now();
    let env = TestEnv::migrated().await;
    let fleet = Fleet::create(&env, TENANTS).await;
    // Small records, so that a step fills about a block of each partition.
    let ingest = env
        .serve("ingest", &[("TALLY__INGEST__EVENTS_PER_RECORD", "20")])
        .await;
    let crash_at = format!("{point}:{CRASH_ON_REACH}");
    let armed = [
        AGGREGATOR_SETTINGS[0],
        AGGREGATOR_SETTINGS[1],
        ("TALLY_TEST_CRASH_AT", crash_at.as_str()),
    ];
    let mut aggregator = env.serve("meter", &armed).await;
    let base = base_time();
    let mut sent: Vec<Vec<Value>> = vec![Vec::new(); TENANTS];

    // Events in steps a few passes apart, each with resends of some of its events.
    for step in 0..STEPS {
        let numbers = step * EVENTS_PER_STEP..(step + 1) * EVENTS_PER_STEP;
        let streams = streams_with_resends(TENANTS, numbers, base);
        send_more(&ingest, &fleet, &mut sent, streams).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = tokio::time::timeout(Duration::from_secs(30), aggregator.child.wait())
        .await
        .unwrap_or_else(|_| panic!("the aggregator armed at {crash_at} still runs after 30 s"))
        .expect("waits for the aggregator");
    let log = std::fs::read_to_string(&aggregator.log).unwrap_or_default();
    assert_eq!(
        status.signal(),
        Some(SIGABRT),
        "the aggregator armed at {crash_at} did not abort ({status}):\n{log}"
    );
    assert!(
        log.contains("crash point"),
        "no crash point in its log:\n{log}"
    );

    // Resends of events counted before the crash, then an aggregator that is not armed; it
    // joins once the dead one's session expired (see the module doc of `aggregator`).
    resend_some(&ingest, &fleet, &mut sent).await;
    tokio::time::sleep(SESSION_EXPIRY).await;
    let unarmed = env.serve("meter", &AGGREGATOR_SETTINGS).await;
    assert_sent_usage_converges(&env, &fleet, &sent, base, Duration::from_secs(60)).await;
    eprintln!(
        "crash at {crash_at}: converged at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(unarmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_after_a_crash_after_the_ids_insert() {
    usage_is_exact_after_a_crash_at("after_event_ids").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_after_a_crash_after_the_rollups_insert() {
    usage_is_exact_after_a_crash_at("after_rollups").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_after_a_crash_between_the_write_and_the_commit() {
    usage_is_exact_after_a_crash_at("before_commit").await;
}
