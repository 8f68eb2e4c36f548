//! API keys: the tenant's keys without their secrets; admin keys may create one (its secret
//! is shown once) and revoke any.

use leptos::prelude::*;

use crate::data::load_api_keys;
use crate::layout::{DangerButton, FormToken, admin_only, page, when};
use crate::model::ApiKey;

/// The API keys page.
#[component]
pub fn Keys() -> impl IntoView {
    let data = Resource::new(|| (), |()| load_api_keys());
    page("API keys", data, |viewer, keys| {
        let admin = viewer.is_admin();
        view! {
            <section class="card">
                <h2>"Your keys"</h2>
                <KeyTable keys=keys admin=admin current=viewer.key_id />
            </section>
            {admin_only(admin, "create or revoke keys", || {
                view! {
                    <section class="card">
                        <h2>"Create a key"</h2>
                        <form method="post" action="/keys" class="inline">
                            <FormToken />
                            <label for="key-scope">"Scope"</label>
                            <select id="key-scope" name="scope">
                                <option value="INGEST">"ingest: send events"</option>
                                <option value="READ">"read: query usage and data"</option>
                                <option value="ADMIN">"admin: read, and change meters, quotas and keys"</option>
                            </select>
                            <button type="submit">"Create key"</button>
                        </form>
                    </section>
                }
                    .into_any()
            })}
        }
    })
}

#[component]
fn KeyTable(keys: Vec<ApiKey>, admin: bool, current: String) -> impl IntoView {
    view! {
        <table>
            <thead>
                <tr>
                    <th scope="col">"Key"</th>
                    <th scope="col">"Scope"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Status"</th>
                    {admin.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                </tr>
            </thead>
            <tbody>
                {keys
                    .into_iter()
                    .map(|key| {
                        let revoke = format!("/keys/{}/revoke", key.id);
                        let mine = key.id == current;
                        let label = if mine {
                            format!("Revoke key {}…, the one you signed in with", key.prefix)
                        } else {
                            format!("Revoke key {}…", key.prefix)
                        };
                        let active = key.revoked_at.is_none();
                        view! {
                            <tr class=if active { "" } else { "muted" }>
                                <td><code>{format!("{}…", key.prefix)}</code></td>
                                <td>{key.scope.to_lowercase()}</td>
                                <td>{when(key.created_at)}</td>
                                <td>
                                    {key.revoked_at.map_or_else(|| "active".to_owned(), |at| format!("revoked {}", when(at)))}
                                    {mine.then_some(" · you are signed in with it")}
                                </td>
                                {admin.then(|| view! {
                                    <td>
                                        {active.then(|| view! {
                                            <DangerButton action=revoke label=label text="Revoke" />
                                        })}
                                    </td>
                                })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
