//! Sign-in: an API key in, a session cookie out.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::data::load_sign_in;
use crate::layout::FlashMessage;

/// The sign-in page.
#[component]
pub fn Login() -> impl IntoView {
    let form = Resource::new(|| (), |()| load_sign_in());
    view! {
        <Title text="Sign in · Tally" />
        <main class="narrow signin">
            <h1>"Sign in to Tally"</h1>
            <Transition>
                {move || Suspend::new(async move {
                    let (flash, token) = match form.await {
                        Ok(form) => (form.flash, form.token),
                        Err(_) => (None, String::new()),
                    };
                    view! {
                        <FlashMessage flash=flash />
                        <form method="post" action="/login" class="card">
                            <input type="hidden" name="token" value=token />
                            <label for="key">"API key"</label>
                            <input
                                id="key"
                                name="key"
                                type="password"
                                autocomplete="current-password"
                                required
                                autofocus
                                placeholder="tly_…"
                                aria-describedby="key-help"
                            />
                            <p id="key-help" class="help">
                                "Use a read or admin key of your tenant. An operator creates one with "
                                <code>"tally key create --tenant NAME --scope admin"</code>
                                ". A read key may look; an admin key may also change meters, quotas and keys."
                            </p>
                            <button type="submit">"Sign in"</button>
                        </form>
                    }
                })}
            </Transition>
        </main>
    }
}
