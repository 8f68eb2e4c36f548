//! What every page shares: the layout of a signed-in page, loading a page's data, the
//! one-time message a form post left, the pieces of the pages' forms (the session's form
//! token, the danger button) and the formatting of counts, durations, times and amounts.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_location;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{Flash, Money, Page, SESSION_ENDED, Viewer};

/// The one-time message of the page being rendered, from its data.
#[derive(Clone)]
struct PageFlash(Option<Flash>);

/// The message the previous form post left, if any.
pub fn flash() -> Option<Flash> {
    use_context::<PageFlash>().and_then(|PageFlash(flash)| flash)
}

/// A field of the refused form, or `default`.
pub fn refill(flash: Option<&Flash>, field: &str, default: &str) -> String {
    flash
        .and_then(|flash| flash.form.get(field))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// Whether the pages are hydrated: the server has the browser bundle.
#[derive(Clone, Copy)]
struct Hydrated(bool);

/// Tells the pages whether they hydrate: whether the server has the browser bundle.
pub fn provide_hydrated(hydrate: bool) {
    provide_context(Hydrated(hydrate));
}

/// Whether the page being rendered takes over in the browser (always, in the browser).
pub fn hydrated() -> bool {
    cfg!(feature = "hydrate") || use_context::<Hydrated>().is_some_and(|Hydrated(on)| on)
}

const NAV: [(&str, &str); 10] = [
    ("/", "Overview"),
    ("/meters", "Meters"),
    ("/alerts", "Alerts"),
    ("/slos", "SLOs"),
    ("/invoices", "Invoices"),
    ("/customers", "Customers"),
    ("/plans", "Plans"),
    ("/quarantine", "Quarantine"),
    ("/quota", "Quota"),
    ("/keys", "API keys"),
];

/// The frame of a signed-in page: header, navigation, the one-time message and the content.
#[component]
pub fn Layout(
    /// Who is signed in.
    viewer: Viewer,
    /// The page's heading.
    title: String,
    /// The page's content.
    children: Children,
) -> impl IntoView {
    let here = use_location().pathname.get_untracked();
    let flash = flash();
    let scope = viewer.scope.to_lowercase();
    view! {
        <Title text=format!("{title} · Tally") />
        <a class="skip" href="#content">"Skip to content"</a>
        <header class="top">
            <a class="brand" href="/">"Tally"</a>
            <nav aria-label="Main">
                <ul>
                    {NAV
                        .iter()
                        .map(|(href, label)| {
                            let current = if *href == "/" {
                                here == "/"
                            } else {
                                here.starts_with(href)
                            };
                            view! {
                                <li>
                                    <A
                                        href=*href
                                        attr:aria-current=current.then_some("page")
                                    >
                                        {*label}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <div class="who">
                <span class="tenant" title="Signed-in tenant">{viewer.tenant.clone()}</span>
                <span class=format!("badge {scope}")>{format!("{scope} key")}</span>
                <form method="post" action="/logout">
                    <FormToken />
                    <button type="submit" class="link">"Sign out"</button>
                </form>
            </div>
        </header>
        <main id="content">
            <h1>{title}</h1>
            <FlashMessage flash=flash />
            {children()}
        </main>
    }
}

/// The session's form token for the forms of the page: on the server the request's own, and
/// whatever [`page`] last loaded, so that a page whose data failed still has it.
#[derive(Clone, Copy)]
struct SessionFormToken(RwSignal<String>);

/// Gives the pages' forms the session's form token, the request's own on the server.
pub fn provide_session_form_token() {
    provide_context(SessionFormToken(RwSignal::new(request_form_token())));
}

/// The form token the request's session has, on the server; the browser learns it from the
/// pages' data.
fn request_form_token() -> String {
    #[cfg(feature = "ssr")]
    return crate::server::bridge::form_token();
    #[cfg(not(feature = "ssr"))]
    return String::new();
}

/// The hidden field that carries the session's form token: every form that changes something
/// holds one, and the server refuses a post without the right token (a form from another site).
#[component]
pub fn FormToken() -> impl IntoView {
    let token = use_context::<SessionFormToken>()
        .map(|SessionFormToken(token)| token.get_untracked())
        .unwrap_or_default();
    view! { <input type="hidden" name="form_token" value=token /> }
}

/// A button that posts to `action` to destroy something; `label` names what, for screen readers.
#[component]
pub fn DangerButton(
    /// Where the form posts.
    action: String,
    /// What the button does, in full.
    label: String,
    /// The button's text.
    text: &'static str,
) -> impl IntoView {
    view! {
        <form method="post" action=action>
            <FormToken />
            <button type="submit" class="danger" aria-label=label>{text}</button>
        </form>
    }
}

/// What only admin keys may do on a page, such as its forms; a read key is told instead whom to
/// ask to `change` such things.
pub fn admin_only(admin: bool, change: &str, forms: impl FnOnce() -> AnyView) -> AnyView {
    if admin {
        return forms();
    }
    let ask = format!("You signed in with a read key: ask someone with an admin key to {change}.");
    view! { <p class="help">{ask}</p> }.into_any()
}

/// The card of an empty page or section: that there is nothing yet, and how to make some.
#[component]
pub fn EmptyCard(
    /// What is missing and how to make it.
    children: Children,
) -> impl IntoView {
    view! {
        <section class="card">
            <p class="empty">{children()}</p>
        </section>
    }
}

/// Shows the one-time message, and a new key's secret.
#[component]
pub fn FlashMessage(
    /// The message, if any.
    flash: Option<Flash>,
) -> impl IntoView {
    flash.map(|flash| {
        let class = if flash.error {
            "flash error"
        } else {
            "flash notice"
        };
        let role = if flash.error { "alert" } else { "status" };
        view! {
            <div class=class role=role>
                <p>{flash.text}</p>
                {flash
                    .secret
                    .map(|secret| {
                        view! {
                            <p>
                                <label for="new-secret">"New key"</label>
                                <input
                                    id="new-secret"
                                    class="secret"
                                    readonly
                                    value=secret
                                    size="60"
                                />
                            </p>
                        }
                    })}
            </div>
        }
    })
}

/// Renders a page once its data is in: the layout around `body`, or an error a person can
/// act on.
pub fn page<T, V>(
    title: &'static str,
    resource: Resource<Result<Page<T>, ServerFnError>>,
    body: impl Fn(Viewer, T) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    V: IntoView + 'static,
{
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let body = body.clone();
                Suspend::new(async move {
                    match resource.await {
                        Ok(page) => {
                            provide_context(PageFlash(page.flash));
                            if let Some(SessionFormToken(token)) = use_context() {
                                token.set(page.viewer.form_token.clone());
                            }
                            let viewer = page.viewer.clone();
                            let content = body(page.viewer, page.data).into_any();
                            view! {
                                <Layout viewer=viewer title=title.to_owned()>
                                    {content}
                                </Layout>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <Failed title=title error=error /> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// What a person sees when a page's data cannot be shown.
#[component]
fn Failed(title: &'static str, error: ServerFnError) -> impl IntoView {
    let message = match error {
        ServerFnError::ServerError(message) => message,
        other => format!("Tally could not load this page: {other}"),
    };
    let next = if message == SESSION_ENDED {
        view! { <p><a href="/login" rel="external">"Sign in again"</a></p> }.into_any()
    } else {
        view! {
            <p><a href="/">"Back to the overview"</a></p>
            <form method="post" action="/logout">
                <FormToken />
                <button type="submit" class="link">"Sign out"</button>
            </form>
        }
        .into_any()
    };
    view! {
        <Title text=format!("{title} · Tally") />
        <main class="narrow">
            <h1>{title}</h1>
            <div class="flash error" role="alert">
                <p>{message}</p>
            </div>
            {next}
        </main>
    }
}

/// Formats a count with thin thousands separators.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Formats seconds in the largest unit that divides them: `1 d`, `6 h`, `90 s`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        0 => "0 s".to_owned(),
        s if s.is_multiple_of(86_400) => format!("{} d", s / 86_400),
        s if s.is_multiple_of(3_600) => format!("{} h", s / 3_600),
        s if s.is_multiple_of(60) => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Formats a time as `YYYY-MM-DD HH:MM UTC`.
pub fn when(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Formats amounts in several currencies as one figure, `18.45 EUR + 5.00 USD`, or `none`
/// without any.
pub fn amounts(totals: &[Money], none: &str) -> String {
    if totals.is_empty() {
        return none.to_owned();
    }
    totals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" + ")
}
