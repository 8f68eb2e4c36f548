//! Waiting for what the system under test does in the background (an aggregator counting, a
//! process binding its port, a notification arriving): one polling loop with a deadline, so
//! that each test says only what it waits for and how long it may take.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// Runs `attempt` until it returns `Ok`, every `every`, and returns what it returned; once
/// `within` has passed since the first attempt, the next `Err` panics with its reason.
///
/// The attempt runs at least once, and an attempt that starts before the deadline always
/// finishes, so a slow check can overrun `within` by its own duration (as a hand-written
/// `loop { check; assert!(now < deadline); sleep }` does). The reason is built on every
/// failed attempt: make it say what was seen last, such as
/// `Err(format!("counted {counted} of {events} events within 60 s"))`.
///
/// `attempt` is a closure returning a future (an `async ||` closure that only reads what it
/// captures is one) rather than an `AsyncFnMut`: the futures of those cannot yet be shown to be
/// `Send`, which a test that spawns its scenario needs.
pub async fn eventually<T, E, Attempt>(
    within: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> Attempt,
) -> T
where
    E: Display,
    Attempt: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(reason) => assert!(Instant::now() < deadline, "{reason}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits as [`eventually`] does until `condition` holds, every `every`; once `within` has
/// passed, panics with `failure`, which says what did not happen in time.
pub async fn eventually_holds<Condition>(
    within: Duration,
    every: Duration,
    failure: &str,
    mut condition: impl FnMut() -> Condition,
) where
    Condition: Future<Output = bool>,
{
    eventually(within, every, || {
        let holds = condition();
        async move { if holds.await { Ok(()) } else { Err(failure) } }
    })
    .await;
}
