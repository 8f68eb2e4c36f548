//! The alerting role of `tally serve`: every `alerting.eval_interval_secs`, each rule that no
//! process evaluated for half an interval is evaluated (several processes share the rules, one
//! evaluation of a rule at a time), then the new transitions are copied to the history.
//! Failures are logged and retried at the next interval.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::config::AlertingConfig;
use crate::evaluate::Evaluator;
use crate::history;

/// Evaluates rules every interval until `shutdown` is cancelled.
pub async fn run(evaluator: Evaluator, config: AlertingConfig, shutdown: CancellationToken) {
    let interval = config.eval_interval();
    let half = chrono::Duration::from_std(interval / 2).unwrap_or_default();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
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
