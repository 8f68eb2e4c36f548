//! Meters: the list, and for admin keys the forms that create and delete them.

use leptos::prelude::*;

use crate::data::load_meters;
use crate::layout::{DangerButton, FormToken, admin_only, duration, flash, page, refill};
use crate::model::{Flash, Meter};

const AGGREGATIONS: [&str; 7] = [
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "UNIQUE_COUNT",
    "LATEST",
];

/// The meters page.
#[component]
pub fn Meters() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_meters());
    page("Meters", data, |viewer, meters| {
        let admin = viewer.is_admin();
        view! {
            <section class="card">
                <h2>"Your meters"</h2>
                <MeterTable meters=meters admin=admin />
            </section>
            {admin_only(admin, "create or delete meters", || {
                view! { <CreateMeter flash=flash() /> }.into_any()
            })}
        }
    })
}

#[component]
fn MeterTable(meters: Vec<Meter>, admin: bool) -> impl IntoView {
    if meters.is_empty() {
        return view! {
            <p class="empty">
                "No meters yet. A meter turns events of one type into usage: a count, or a sum, average, minimum, maximum, distinct count or latest value of a field of their data."
            </p>
        }
            .into_any();
    }
    view! {
        <table>
            <thead>
                <tr>
                    <th scope="col">"Key"</th>
                    <th scope="col">"Event type"</th>
                    <th scope="col">"Aggregation"</th>
                    <th scope="col">"Value"</th>
                    <th scope="col">"Group by"</th>
                    <th scope="col" class="num">"Lateness"</th>
                    {admin.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                </tr>
            </thead>
            <tbody>
                {meters
                    .into_iter()
                    .map(|meter| {
                        let groups = meter
                            .group_by
                            .iter()
                            .map(|group| format!("{}={}", group.name, group.path))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let link = format!("/meters/{}", meter.key);
                        let delete = format!("/meters/{}/delete", meter.key);
                        let label = format!("Delete meter {}", meter.key);
                        view! {
                            <tr>
                                <td><a href=link>{meter.key.clone()}</a></td>
                                <td><code>{meter.event_type}</code></td>
                                <td>{meter.aggregation}</td>
                                <td><code>{meter.value_path.unwrap_or_else(|| "—".into())}</code></td>
                                <td><code>{if groups.is_empty() { "—".to_owned() } else { groups }}</code></td>
                                <td class="num">{duration(meter.allowed_lateness_secs)}</td>
                                {admin.then(|| view! {
                                    <td><DangerButton action=delete label=label text="Delete" /></td>
                                })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
        .into_any()
}

#[component]
fn CreateMeter(flash: Option<Flash>) -> impl IntoView {
    let flash = flash.as_ref();
    let chosen = refill(flash, "aggregation", "COUNT");
    view! {
        <section class="card">
            <h2>"Create a meter"</h2>
            <form method="post" action="/meters" class="grid">
                <FormToken />
                <label for="meter-key">"Key"</label>
                <input id="meter-key" name="key" required pattern="[a-z][a-z0-9_]*" value=refill(flash, "key", "")
                    aria-describedby="meter-key-help" />
                <p id="meter-key-help" class="help">"Lower case letters, digits and _, such as " <code>"api_calls"</code> "."</p>

                <label for="meter-type">"Event type"</label>
                <input id="meter-type" name="event_type" required value=refill(flash, "event_type", "")
                    aria-describedby="meter-type-help" />
                <p id="meter-type-help" class="help">"The CloudEvents " <code>"type"</code> " it counts, such as " <code>"com.example.request"</code> "."</p>

                <label for="meter-aggregation">"Aggregation"</label>
                <select id="meter-aggregation" name="aggregation">
                    {AGGREGATIONS
                        .iter()
                        .map(|name| view! { <option value=*name selected=chosen == *name>{*name}</option> })
                        .collect_view()}
                </select>
                <p class="help">"COUNT needs no value; the others read one from the event's data."</p>

                <label for="meter-value">"Value path"</label>
                <input id="meter-value" name="value_path" value=refill(flash, "value_path", "")
                    placeholder="$.tokens" aria-describedby="meter-value-help" />
                <p id="meter-value-help" class="help">"A JSON path into " <code>"data"</code> ", such as " <code>"$.tokens"</code> "."</p>

                <label for="meter-groups">"Group by"</label>
                <input id="meter-groups" name="group_by" value=refill(flash, "group_by", "")
                    placeholder="region=$.region, model=$.model" aria-describedby="meter-groups-help" />
                <p id="meter-groups-help" class="help">"Optional: name=path pairs, separated by commas."</p>

                <label for="meter-lateness">"Allowed lateness (s)"</label>
                <input id="meter-lateness" name="allowed_lateness_secs" inputmode="numeric"
                    value=refill(flash, "allowed_lateness_secs", "86400") aria-describedby="meter-lateness-help" />
                <p id="meter-lateness-help" class="help">"How old an event may be when it arrives and still count."</p>

                <div class="actions">
                    <button type="submit">"Create meter"</button>
                </div>
            </form>
        </section>
    }
}
