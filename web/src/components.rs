//! Pieces shared by several pages: the top bar, the Session gate, loading and error states,
//! timestamps, copy buttons and document titles.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use protocol::api::{Me, Role};
use wasm_bindgen::{JsCast, JsValue};

use crate::api;
use crate::navigation::{LOGIN, load_page, login_url};

/// Sets the tab's title to `page` followed by the product name.
pub fn set_title(page: &str) {
    document().set_title(&format!("{page} · Postern"));
}

/// The product mark: a gateway arch. Decorative, so hidden from assistive technology.
#[component]
pub fn BrandMark() -> impl IntoView {
    view! {
        <svg class="brand-mark" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
            <rect x="1" y="1" width="30" height="30" rx="8" class="brand-mark-tile"></rect>
            <path
                d="M10 24V15a6 6 0 0 1 12 0v9"
                fill="none"
                stroke-width="3"
                stroke-linecap="round"
                class="brand-mark-arch"
            ></path>
            <circle cx="16" cy="19" r="2" class="brand-mark-dot"></circle>
        </svg>
    }
}

/// The centred card of the pages people see before they are signed in (sign-in, setup,
/// not found), headed by the product mark.
#[component]
pub fn AuthCard(
    /// For longer forms.
    #[prop(optional)]
    wide: bool,
    /// The card's `data-testid`, for pages that tests look for.
    #[prop(optional, into)]
    testid: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    view! {
        <main class="auth" id="main">
            <div class="auth-card" class:auth-card-wide=wide data-testid=testid>
                <div class="auth-brand">
                    <BrandMark />
                    <span class="brand-name">"Postern"</span>
                </div>
                {children()}
            </div>
        </main>
    }
}

/// A polite "working on it" line for a fetch in flight.
#[component]
pub fn Loading(#[prop(into)] label: String) -> impl IntoView {
    view! {
        <p class="loading" role="status">
            <span class="spinner" aria-hidden="true"></span>
            {label}
        </p>
    }
}

/// A failed fetch: the server's message and, when given, a way to try again.
#[component]
pub fn ErrorNotice(
    /// What went wrong, for a person.
    #[prop(into)]
    message: String,
    /// Runs the failed request again.
    #[prop(optional)]
    retry: Option<Callback<()>>,
) -> impl IntoView {
    view! {
        <div class="error" role="alert">
            <p>{message}</p>
            {retry
                .map(|retry| {
                    view! {
                        <button
                            type="button"
                            class="button button-small"
                            on:click=move |_| retry.run(())
                        >
                            "Try again"
                        </button>
                    }
                })}
        </div>
    }
}

/// A timestamp from the API, shown relative to now ("5 min ago") with the exact UTC time on
/// hover.
#[component]
pub fn Timestamp(#[prop(into)] value: String) -> impl IntoView {
    let shown = describe_timestamp(&value, js_sys::Date::now() as i64);
    let exact = format_timestamp(&value);
    view! {
        <time datetime=value title=exact>
            {shown}
        </time>
    }
}

/// How long a copy button says "Copied" before it offers to copy again.
const COPIED_FEEDBACK: std::time::Duration = std::time::Duration::from_secs(2);

/// Copies `value` to the clipboard and says whether that worked. Where the browser offers no
/// clipboard (a page served over plain http, say), it asks the person to select and copy; the
/// values it sits next to are `.selectable`, so one click selects them whole.
#[component]
pub fn CopyButton(
    /// What gets copied.
    #[prop(into)]
    value: Signal<String>,
    /// What it copies, for people who cannot see what the button sits next to ("the token").
    #[prop(into)]
    what: String,
) -> impl IntoView {
    let outcome = RwSignal::new(None::<bool>);
    let copy = move |_| {
        let text = value.get_untracked();
        spawn_local(async move {
            let copied = copy_to_clipboard(&text).await;
            outcome.set(Some(copied));
            if copied {
                set_timeout(move || outcome.set(None), COPIED_FEEDBACK);
            }
        });
    };
    view! {
        <button
            type="button"
            class="button button-small copy-button"
            class:copied=move || outcome.get() == Some(true)
            data-copy=""
            on:click=copy
        >
            <span aria-live="polite">
                {move || match outcome.get() {
                    None => "Copy",
                    Some(true) => "Copied",
                    Some(false) => "Select it and press Ctrl+C",
                }}
            </span>
            <span class="visually-hidden">{format!(" {what}")}</span>
        </button>
    }
}

/// Puts `text` on the clipboard; `false` when the browser offers no clipboard or refused.
pub async fn copy_to_clipboard(text: &str) -> bool {
    let Some(clipboard) = clipboard() else {
        return false;
    };
    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(text))
        .await
        .is_ok()
}

/// The asynchronous clipboard, which browsers offer only in secure contexts.
pub fn clipboard() -> Option<web_sys::Clipboard> {
    let navigator = window().navigator();
    // Calling into `undefined` would throw inside the WebAssembly module, so look before
    // touching it.
    js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .ok()
        .filter(|clipboard| !clipboard.is_undefined() && !clipboard.is_null())
        .map(JsCast::unchecked_into)
}

/// A one-line secret or id with its copy button.
#[component]
pub fn CopyableValue(
    /// The label above the value.
    #[prop(into)]
    label: String,
    /// The value.
    #[prop(into)]
    value: String,
    /// The value's `data-testid`.
    testid: &'static str,
) -> impl IntoView {
    let what = format!("the {}", label.to_lowercase());
    let copied = value.clone();
    view! {
        <div class="copyable">
            <span class="copyable-label">{label}</span>
            <div class="copy-row">
                <code class="selectable copyable-value" data-testid=testid>
                    {value}
                </code>
                <CopyButton value=copied what />
            </div>
        </div>
    }
}

/// A shell command to paste, with its copy button.
#[component]
pub fn CommandBlock(
    /// The command; it may change while shown (a URL that loads later).
    #[prop(into)]
    command: Signal<String>,
    /// The block's `data-testid`.
    testid: &'static str,
) -> impl IntoView {
    view! {
        <div class="copy-row copy-row-block">
            <pre class="code-block selectable" data-testid=testid>
                <code>{move || command.get()}</code>
            </pre>
            <CopyButton value=command what="the command" />
        </div>
    }
}

/// Loads `/api/me` and hands the signed-in user to `render`; without a Session it sends the
/// browser to the sign-in page, which brings the person back to `return_to` afterwards.
#[component]
pub fn WithSession<F>(
    /// The path to come back to after signing in.
    #[prop(into)]
    return_to: String,
    /// Renders the page for the signed-in user.
    render: F,
) -> impl IntoView
where
    F: Fn(Me) -> AnyView + Send + Sync + 'static,
{
    let me = LocalResource::new(api::me);
    let navigate = use_navigate();
    let login = login_url(&return_to);
    Effect::new(move || {
        if let Some(Err(error)) = me.get()
            && error.is_unauthenticated()
        {
            // Replace, so that Back from the sign-in page does not bounce through here again.
            navigate(
                &login,
                NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                },
            );
        }
    });
    move || match me.get() {
        None => view! {
            <div class="page">
                <Loading label="Loading your account…" />
            </div>
        }
        .into_any(),
        Some(Ok(me)) => render(me),
        Some(Err(error)) if error.is_unauthenticated() => view! {
            <div class="page">
                <Loading label="Taking you to sign-in…" />
            </div>
        }
        .into_any(),
        Some(Err(error)) => view! {
            <AuthCard>
                <h1>"Postern is unavailable"</h1>
                <p class="muted">"Your account could not be loaded."</p>
                <ErrorNotice message=error.message() retry=Callback::new(move |()| me.refetch()) />
            </AuthCard>
        }
        .into_any(),
    }
}

/// The bar across the top of every signed-in page: brand, navigation, user and sign-out.
#[component]
pub fn TopBar(me: Me) -> impl IntoView {
    let is_admin = me.role == Role::Admin;
    let signing_out = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let sign_out = move |_| {
        signing_out.set(true);
        error.set(None);
        spawn_local(async move {
            match api::sign_out().await {
                Ok(()) => load_page(LOGIN),
                // A Session that has already ended is as good as signed out.
                Err(failure) if failure.is_unauthenticated() => load_page(LOGIN),
                Err(failure) => {
                    error.set(Some(failure.message()));
                    signing_out.set(false);
                }
            }
        });
    };
    let initials = initials(&me.name, &me.username);
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <BrandMark />
                <span class="brand-name">"Postern"</span>
            </a>
            <nav class="topbar-nav" aria-label="Main">
                <A href="/" exact=true>
                    "Apps"
                </A>
                {is_admin.then(|| view! { <A href="/admin">"Admin"</A> })}
            </nav>
            <div class="topbar-user">
                <span class="avatar" aria-hidden="true">
                    {initials}
                </span>
                <span class="topbar-name" title=me.username.clone()>
                    {me.name.clone()}
                </span>
                <button
                    id="sign-out"
                    type="button"
                    class="button button-quiet"
                    on:click=sign_out
                    disabled=move || signing_out.get()
                >
                    {move || if signing_out.get() { "Signing out…" } else { "Sign out" }}
                </button>
            </div>
        </header>
        {move || {
            error
                .get()
                .map(|message| {
                    view! {
                        <div class="error banner" role="alert">
                            {message}
                        </div>
                    }
                })
        }}
    }
}

/// How a user's `source` reads: `local` as "Local account", provider ids as they are.
pub fn source_label(source: &str) -> String {
    if source == "local" {
        "Local account".to_owned()
    } else {
        source.to_owned()
    }
}

/// Up to two initials for the avatar, from the display name or else the username.
pub fn initials(name: &str, username: &str) -> String {
    let source = if name.trim().is_empty() {
        username
    } else {
        name
    };
    let letters: String = source
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if letters.is_empty() {
        "?".to_owned()
    } else {
        letters
    }
}

/// `2026-11-22T03:25:07.123Z` → `2026-11-22 03:25 UTC`. The API speaks UTC (RFC 3339), and
/// admins comparing Sessions with server logs want the same clock, so no local conversion.
/// Anything that does not parse is shown as it came.
pub fn format_timestamp(value: &str) -> String {
    match parse_timestamp(value) {
        Some(millis) => {
            let seconds = millis.div_euclid(1000);
            let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
            let second_of_day = seconds.rem_euclid(86_400);
            let (hour, minute) = (second_of_day / 3600, second_of_day % 3600 / 60);
            format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
        }
        None => value.to_owned(),
    }
}

/// How long ago (or how soon) `value` is from `now_millis`, in the words a person would use;
/// beyond a month the UTC date, which is clearer than "14 months ago".
pub fn describe_timestamp(value: &str, now_millis: i64) -> String {
    let Some(millis) = parse_timestamp(value) else {
        return value.to_owned();
    };
    let delta_seconds = (millis - now_millis) / 1000;
    let distance = delta_seconds.unsigned_abs();
    let amount = match distance {
        0..60 => return "just now".to_owned(),
        60..3600 => format!("{} min", distance / 60),
        3600..86_400 => format!("{} h", distance / 3600),
        86_400..172_800 => "1 day".to_owned(),
        172_800..2_592_000 => format!("{} days", distance / 86_400),
        _ => return format_timestamp(value).chars().take(10).collect(),
    };
    if delta_seconds < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp such as
/// `2026-11-22T03:25:07.123Z` or `2026-11-22T05:25:07+02:00`.
pub fn parse_timestamp(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let text = value.get(range)?;
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    let separators_ok = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Second 60 is a leap second; count it as the last second of the minute.
    if second > 60 {
        return None;
    }
    let mut rest = value.get(19..)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return None;
        }
        let padded = format!("{:0<3}", fraction.get(..length.min(3))?);
        millis = padded.parse::<i64>().ok()?;
        rest = fraction.get(length..)?;
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 60 + minutes)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_shown_in_utc_to_the_minute() {
        for (raw, shown) in [
            ("2026-11-22T03:25:07Z", "2026-11-22 03:25 UTC"),
            ("2026-11-22T03:25:07.123456Z", "2026-11-22 03:25 UTC"),
            ("2026-11-22T03:25:07+00:00", "2026-11-22 03:25 UTC"),
            ("2026-11-22T05:25:07+02:00", "2026-11-22 03:25 UTC"),
            ("2026-01-01T00:30:00+01:00", "2025-12-31 23:30 UTC"),
            ("2024-02-29T12:00:00Z", "2024-02-29 12:00 UTC"),
            ("1970-01-01T00:00:00Z", "1970-01-01 00:00 UTC"),
            ("yesterday", "yesterday"),
            ("", ""),
            ("2026-11-22Tab:cd:00Z", "2026-11-22Tab:cd:00Z"),
            ("2026-13-22T03:25:07Z", "2026-13-22T03:25:07Z"),
            ("2026-11-22T03:25:07", "2026-11-22T03:25:07"),
        ] {
            assert_eq!(format_timestamp(raw), shown, "{raw}");
        }
    }

    #[test]
    fn timestamps_parse_to_unix_time() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:00Z"),
            Some(951_868_800_000)
        );
        assert_eq!(
            parse_timestamp("2026-11-22T03:25:07Z"),
            Some(1_795_317_907_000)
        );
        assert_eq!(parse_timestamp("2026-11-22T03:25:07.Z"), None);
        for days in [-800_000, -1, 0, 59, 11_016, 20_779, 800_000] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn timestamps_are_described_relative_to_now() {
        let now = parse_timestamp("2026-11-22T12:00:00Z").unwrap_or_default();
        for (raw, shown) in [
            ("2026-11-22T11:59:30Z", "just now"),
            ("2026-11-22T12:00:20Z", "just now"),
            ("2026-11-22T11:55:00Z", "5 min ago"),
            ("2026-11-22T09:00:00Z", "3 h ago"),
            ("2026-11-22T23:59:00Z", "in 11 h"),
            ("2026-11-21T10:00:00Z", "1 day ago"),
            ("2026-11-12T12:00:00Z", "10 days ago"),
            ("2026-11-22T12:45:00Z", "in 45 min"),
            ("2025-01-01T00:00:00Z", "2025-01-01"),
            ("soon", "soon"),
        ] {
            assert_eq!(describe_timestamp(raw, now), shown, "{raw}");
        }
    }

    #[test]
    fn initials_come_from_the_name_or_username() {
        assert_eq!(initials("Ada Lovelace", "ada"), "AL");
        assert_eq!(initials("Grace Brewster Hopper", "grace"), "GB");
        assert_eq!(initials("", "root"), "R");
        assert_eq!(initials(" ", ""), "?");
    }
}
