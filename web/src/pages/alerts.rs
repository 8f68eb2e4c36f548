//! Alerts: what fires and is pending now (and what resolved within the last day), the
//! silences, and each rule's recent transitions on a timeline of the last day.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use leptos::prelude::*;

use crate::data::{load_alert_rules, load_alerts};
use crate::layout::{DangerButton, FormToken, admin_only, flash, page, refill};
use crate::model::{AlertRow, AlertRuleRow, AlertsView, Flash, SilenceRow, TransitionRow};

/// The alerts page.
#[component]
pub fn Alerts() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_alerts());
    page("Alerts", data, |viewer, view| {
        let admin = viewer.is_admin();
        view! {
            <AlertsBody view=view admin=admin />
            {admin_only(admin, "change rules, receivers, routing or silences", || {
                view! { <Rules /> <Forms flash=flash() /> }.into_any()
            })}
        }
    })
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn labels(pairs: &BTreeMap<String, String>) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
fn AlertsBody(view: AlertsView, admin: bool) -> impl IntoView {
    view! {
        <NowTable alerts=view.alerts />
        <Silences silences=view.silences admin=admin />
        <History history=view.alert_history />
    }
}

/// The tenant's rules, each with a button that deletes it.
#[component]
fn Rules() -> impl IntoView {
    let rules = Resource::new(|| (), |()| load_alert_rules());
    view! {
        <section class="card">
            <h2>"Rules"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match rules.await {
                        Ok(page) if page.data.is_empty() => {
                            view! { <p class="empty">"No rules yet: create one below."</p> }.into_any()
                        }
                        Ok(page) => view! { <RuleTable rules=page.data /> }.into_any(),
                        Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RuleTable(rules: Vec<AlertRuleRow>) -> impl IntoView {
    view! {
        <table>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Kind"</th>
                    <th scope="col">"Rule"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {rules
                    .into_iter()
                    .map(|rule| {
                        let action = format!("/alerts/rules/{}/delete", rule.name);
                        let label = format!("Delete alert rule {}", rule.name);
                        view! {
                            <tr>
                                <td>{rule.name.clone()}</td>
                                <td>{rule.kind.clone()}</td>
                                <td><code>{rule.spec.to_string()}</code></td>
                                <td><DangerButton action=action label=label text="Delete" /></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// The forms that create a rule, set a receiver or the routing tree, and create a silence.
#[component]
fn Forms(flash: Option<Flash>) -> impl IntoView {
    let flash = flash.as_ref();
    let json_form = |action: &'static str,
                     field: &'static str,
                     title: &'static str,
                     example: &'static str,
                     help: &'static str| {
        let id = format!("alert-{field}");
        view! {
            <section class="card">
                <h2>{title}</h2>
                <form method="post" action=action class="grid">
                    <FormToken />
                    <label for=id.clone()>"JSON"</label>
                    <textarea id=id name="spec" rows="4" required placeholder=example>
                        {refill(flash, field, "")}
                    </textarea>
                    <p class="help">{help}</p>
                    <button type="submit">"Save"</button>
                </form>
            </section>
        }
    };
    view! {
        {json_form(
            "/alerts/rules",
            "rule",
            "Create a rule",
            r#"{"name": "too-hot", "kind": "threshold", "meter": "temp", "window": "1m", "op": ">", "value": "80", "for": "5m", "severity": "critical"}"#,
            "A threshold, absence, quota or spend rule, as tally alert rule create reads it (see the README's Alerting section).",
        )}
        {json_form(
            "/alerts/receivers",
            "receiver",
            "Set a receiver",
            r#"{"name": "ops", "kind": "webhook", "url": "https://ops.example/alerts", "secret": "at least 16 characters"}"#,
            "A webhook (signed), Slack or email receiver; one of the same name is replaced.",
        )}
        {json_form(
            "/alerts/routing",
            "routing",
            "Set the routing tree",
            r#"{"receiver": "ops", "group_by": ["alertname"], "group_wait": "30s"}"#,
            "Which receivers alerts go to and how they are grouped; every receiver it names must exist.",
        )}
        <section class="card">
            <h2>"Create a silence"</h2>
            <form method="post" action="/alerts/silences" class="grid">
                <FormToken />
                <label for="silence-matchers">"Matchers"</label>
                <input id="silence-matchers" name="matchers" required placeholder="subject=s1, severity=warning"
                    value=refill(flash, "matchers", "") />
                <p class="help">"Alerts with all of these labels notify no one while the silence lasts."</p>
                <label for="silence-duration">"For"</label>
                <input id="silence-duration" name="duration" required placeholder="2h" value=refill(flash, "duration", "2h") />
                <p class="help">"Minutes, hours or days: 30m, 2h, 1d."</p>
                <label for="silence-comment">"Why"</label>
                <input id="silence-comment" name="comment" required value=refill(flash, "comment", "") />
                <p class="help">"The silence records your key as its author."</p>
                <button type="submit">"Silence"</button>
            </form>
        </section>
    }
}

#[component]
fn NowTable(alerts: Vec<AlertRow>) -> impl IntoView {
    if alerts.is_empty() {
        return view! {
            <section class="card">
                <h2>"Now"</h2>
                <p class="empty">
                    "Nothing fires or is pending. Rules are made with "
                    <code>"tally alert rule create"</code>
                    " or the GraphQL mutation createAlertRule, and evaluated every 15 seconds."
                </p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <h2>"Now"</h2>
            <table>
                <thead>
                    <tr>
                        <th scope="col">"State"</th>
                        <th scope="col">"Rule"</th>
                        <th scope="col">"Series"</th>
                        <th scope="col" class="num">"Value"</th>
                        <th scope="col">"Since"</th>
                        <th scope="col">"Severity"</th>
                    </tr>
                </thead>
                <tbody>
                    {alerts
                        .into_iter()
                        .map(|alert| {
                            let state = alert.state.to_lowercase();
                            let silenced = !alert.silenced_by.is_empty();
                            view! {
                                <tr>
                                    <td>
                                        <span class=format!("badge alert {state}")>{state.clone()}</span>
                                        {silenced.then(|| view! { " " <span class="badge muted">"silenced"</span> })}
                                    </td>
                                    <td>{alert.rule.clone()}</td>
                                    <td><code>{alert.series.clone()}</code></td>
                                    <td class="num">{alert.value.clone().unwrap_or_else(|| "–".to_owned())}</td>
                                    <td class="nowrap">{time(alert.since)}</td>
                                    <td>{alert.labels.get("severity").cloned().unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
        .into_any()
}

#[component]
fn Silences(silences: Vec<SilenceRow>, admin: bool) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Silences"</h2>
            {if silences.is_empty() {
                view! {
                    <p class="empty">
                        "No silences. " <code>"tally alert silence create"</code>
                        " mutes the alerts with given labels for a while."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Mutes"</th>
                                <th scope="col">"From"</th>
                                <th scope="col">"Until"</th>
                                <th scope="col">"By"</th>
                                <th scope="col">"Why"</th>
                                {admin.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                            </tr>
                        </thead>
                        <tbody>
                            {silences
                                .into_iter()
                                .map(|silence| {
                                    view! {
                                        <tr>
                                            <td><code>{labels(&silence.matchers)}</code></td>
                                            <td class="nowrap">{time(silence.starts_at)}</td>
                                            <td class="nowrap">{time(silence.ends_at)}</td>
                                            <td>{silence.author.clone()}</td>
                                            <td>{silence.comment.clone()}</td>
                                            {admin.then(|| {
                                                let action = format!("/alerts/silences/{}/expire", silence.id);
                                                view! {
                                                    <td><DangerButton action=action label="End this silence now".to_owned() text="End" /></td>
                                                }
                                            })}
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
    }
}

/// Width of a timeline, in SVG units.
const TIMELINE_WIDTH: f64 = 600.0;

/// A rule's transitions over the last day: a mark per transition, coloured by the state
/// entered, placed by its time.
fn timeline(transitions: &[TransitionRow], now: DateTime<Utc>) -> impl IntoView + use<> {
    let start = now - Duration::days(1);
    let span = (now - start).num_seconds().max(1) as f64;
    let marks = transitions
        .iter()
        .filter(|transition| transition.at >= start)
        .map(|transition| {
            let x = (transition.at - start).num_seconds() as f64 / span * TIMELINE_WIDTH;
            let class = format!("mark {}", transition.to.to_lowercase());
            let title = format!(
                "{} {}: {} → {}",
                time(transition.at),
                transition.series,
                transition.from,
                transition.to
            );
            view! {
                <rect class=class x=format!("{:.1}", x.min(TIMELINE_WIDTH - 3.0)) y="2" width="3" height="16">
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <svg class="timeline" viewBox=format!("0 0 {TIMELINE_WIDTH} 20") role="img"
            aria-label="transitions over the last day">
            <line x1="0" y1="10" x2=TIMELINE_WIDTH.to_string() y2="10" class="axis" />
            {marks}
        </svg>
    }
}

#[component]
fn History(history: Vec<TransitionRow>) -> impl IntoView {
    let now = Utc::now();
    let mut by_rule: BTreeMap<String, Vec<TransitionRow>> = BTreeMap::new();
    for transition in history {
        by_rule
            .entry(transition.rule.clone())
            .or_default()
            .push(transition);
    }
    view! {
        <section class="card">
            <h2>"History"</h2>
            {if by_rule.is_empty() {
                view! { <p class="empty">"No transitions yet."</p> }.into_any()
            } else {
                by_rule
                    .into_iter()
                    .map(|(rule, transitions)| {
                        view! {
                            <h3>{rule}</h3>
                            <p class="muted">"The last day: " {timeline(&transitions, now)}</p>
                            <table>
                                <thead>
                                    <tr>
                                        <th scope="col">"At"</th>
                                        <th scope="col">"Series"</th>
                                        <th scope="col">"Transition"</th>
                                        <th scope="col" class="num">"Value"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {transitions
                                        .into_iter()
                                        .map(|transition| {
                                            view! {
                                                <tr>
                                                    <td class="nowrap">{time(transition.at)}</td>
                                                    <td><code>{transition.series.clone()}</code></td>
                                                    <td>{format!("{} → {}", transition.from.to_lowercase(), transition.to.to_lowercase())}</td>
                                                    <td class="num">{transition.value.clone().unwrap_or_else(|| "–".to_owned())}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                    })
                    .collect_view()
                    .into_any()
            }}
        </section>
    }
}
