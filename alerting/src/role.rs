//! The alerting role of `tally serve`: every `alerting.eval_interval_secs`, each rule that no
//! process evaluated for half an interval is evaluated (several processes share the rules, one
//! evaluation of a rule at a time), then the new transitions are copied to the history; every
//! `alerting.notify_interval_ms`, the notification groups move on and the outbox is
//! delivered. Failures are logged and retried at the next interval.

use std::sync::Arc;

use chrono::Utc;
use tally_meter::ticks::Ticks;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::AlertingConfig;
use crate::evaluate::Evaluator;
use crate::{history, notify};

/// Evaluates rules and sends notifications until `shutdown` is cancelled.
pub async fn run(evaluator: Evaluator, config: AlertingConfig, shutdown: CancellationToken) {
    let config = Arc::new(config);
    tokio::join!(
        evaluations(&evaluator, &config, &shutdown),
        notifications(&evaluator, &config, &shutdown)
    );
}

async fn evaluations(evaluator: &Evaluator, config: &AlertingConfig, shutdown: &CancellationToken) {
    let interval = config.eval_interval();
    let half = chrono::Duration::from_std(interval / 2).unwrap_or_default();
    let mut ticks = Ticks::new(interval, shutdown);
    while ticks.next().await {
        let at = Utc::now();
        let pass = async {
            match evaluator.due(at, at - half).await {
                Ok(report) if report.failed.is_empty() => tracing::debug!(
                    evaluated = report.evaluated,
                    skipped = report.skipped,
                    transitions = report.transitions,
                    "alert rules evaluated"
                ),
                Ok(report) => tracing::warn!(
                    evaluated = report.evaluated,
                    failed = report.failed.len(),
                    first = %report.failed[0],
                    "alert rules evaluated, with rules left out"
                ),
                Err(error) => tracing::warn!(%error, "alert rules not evaluated"),
            }
            if let Err(error) = history::export(&evaluator.catalog, &evaluator.analytics).await {
                tracing::warn!(%error, "alert history not written; retried at the next interval");
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = pass => {}
        }
    }
}

async fn notifications(
    evaluator: &Evaluator,
    config: &Arc<AlertingConfig>,
    shutdown: &CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(notify::MAX_IN_FLIGHT));
    let mut ticks = Ticks::new(config.notify_interval(), shutdown);
    while ticks.next().await {
        let pass = async {
            if let Err(error) = notify::flush(&evaluator.catalog, Utc::now()).await {
                tracing::warn!(%error, "alert notifications not flushed");
            }
            if let Err(error) = notify::deliver_due(&evaluator.catalog, config, &slots).await {
                tracing::warn!(%error, "alert notifications not delivered");
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = pass => {}
        }
    }
}
