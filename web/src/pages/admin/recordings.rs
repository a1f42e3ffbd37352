//! `/admin/recordings` and `/admin/recordings/{id}`: the recorded browser terminal sessions,
//! and a player for one of them.
//!
//! The player is asciinema-player, loaded on demand (`crate::vendor`), which fetches the
//! asciicast file itself and renders the terminal as text in the page, so what was on screen
//! can be searched and selected. It has no speed control of its own; the page's speed buttons
//! recreate it at the new speed from where it was. The live player is `window.posternPlayer`
//! (tests seek it to the end).

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use protocol::ssh::{RecordingKind, RecordingSummary, recording_cast_path, recording_page};
use wasm_bindgen::prelude::*;

use super::audit::split_actor;
use super::{EmptyState, fetched};
use crate::api::{self, encode_path_segment};
use crate::components::{ErrorNotice, Loading, Timestamp, set_title};
use crate::vendor::{self, Bundle};

#[wasm_bindgen]
extern "C" {
    /// What `AsciinemaPlayer.create` returns.
    type Player;

    /// asciinema-player's one entry point: plays `source` (a URL) inside `element`.
    #[wasm_bindgen(js_namespace = AsciinemaPlayer, js_name = create, catch)]
    fn create_player(
        source: &str,
        element: &web_sys::HtmlElement,
        options: &JsValue,
    ) -> Result<Player, JsValue>;

    /// Seconds from the start of the recording, once it has loaded.
    #[wasm_bindgen(method, js_name = getCurrentTime)]
    fn current_time(this: &Player) -> JsValue;

    #[wasm_bindgen(method)]
    fn dispose(this: &Player);
}

/// The global through which tests reach the player.
const GLOBAL_NAME: &str = "posternPlayer";

/// The playback speeds offered.
const SPEEDS: [f64; 5] = [0.5, 1.0, 2.0, 4.0, 8.0];
/// With "Shorten pauses", no pause plays longer than this many seconds.
const IDLE_LIMIT_SECONDS: f64 = 2.0;

/// `/admin/recordings`.
#[component]
pub fn AdminRecordings() -> impl IntoView {
    set_title("Recordings");
    let recordings = LocalResource::new(api::recordings);
    view! {
        <header class="section-head section-head-actions">
            <div>
                <h1>"Recordings"</h1>
                <p class="muted">
                    "Terminal sessions opened in the browser, newest first. What people typed is \
                     recorded only for apps set to record keystrokes."
                </p>
            </div>
            <button
                type="button"
                id="recordings-refresh"
                class="button button-small"
                on:click=move |_| recordings.refetch()
            >
                "Refresh"
            </button>
        </header>
        {move || {
            fetched(
                recordings.get(),
                move || recordings.refetch(),
                |recordings| view! { <RecordingsTable recordings /> }.into_any(),
            )
        }}
    }
}

#[component]
fn RecordingsTable(recordings: Vec<RecordingSummary>) -> impl IntoView {
    if recordings.is_empty() {
        return view! {
            <EmptyState testid="recordings-empty" title="No recordings yet">
                <p>
                    "Sessions opened with an SSH app's Open terminal button are listed here, \
                     unless the server's configuration turns recording off."
                </p>
            </EmptyState>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap card">
            <table data-testid="recordings-table">
                <thead>
                    <tr>
                        <th scope="col">"Session"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Started"</th>
                        <th scope="col">"Duration"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Input"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {recordings
                        .into_iter()
                        .map(|recording| view! { <RecordingRow recording /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn RecordingRow(recording: RecordingSummary) -> impl IntoView {
    let (actor_kind, actor_name) = split_actor(&recording.actor);
    let running = recording.ended_at.is_none();
    let play_label = format!(
        "Play the session of {actor_name} on {} started {}",
        recording.app, recording.started_at
    );
    let page = recording_page(&encode_path_segment(&recording.id));
    let desktop = recording.kind == RecordingKind::Desktop;
    let download = recording_cast_path(&encode_path_segment(&recording.id));
    let download_label = format!(
        "Download the desktop session of {actor_name} on {} started {}",
        recording.app, recording.started_at
    );
    view! {
        <tr data-testid="recording-row" data-recording=recording.id.clone()>
            <td>
                <span class="cell-main mono nowrap">{recording.app}</span>
                {if desktop {
                    view! { <span class="cell-sub">"Remote desktop"</span> }.into_any()
                } else {
                    view! {
                        <span class="cell-sub">
                            "as " <span class="mono">{recording.principal}</span>
                        </span>
                    }
                        .into_any()
                }}
            </td>
            <td>
                <span class="cell-main nowrap">{actor_name}</span>
                {actor_kind.map(|kind| view! { <span class="cell-sub">{kind}</span> })}
            </td>
            <td>
                <Timestamp value=recording.started_at />
            </td>
            <td class="nowrap">
                {describe_duration(recording.duration_seconds)}
                {running.then(|| view! { <span class="badge badge-running">"Running"</span> })}
            </td>
            <td class="nowrap">{describe_size(recording.size_bytes)}</td>
            <td>
                {if recording.input_recorded {
                    view! {
                        <span class="badge badge-input" data-testid="input-recorded">
                            "Input recorded"
                        </span>
                    }
                        .into_any()
                } else {
                    view! { <span class="muted">"Output only"</span> }.into_any()
                }}
            </td>
            <td class="cell-actions">
                {if desktop {
                    // Desktop recordings are stored for a player that comes later; the raw
                    // stream can be downloaded now.
                    view! {
                        <a
                            href=download
                            class="button button-small"
                            data-action="download"
                            aria-label=download_label
                            download
                        >
                            "Download"
                        </a>
                    }
                        .into_any()
                } else {
                    view! {
                        <A
                            href=page
                            attr:class="button button-small"
                            attr:data-action="play"
                            attr:aria-label=play_label
                        >
                            "Play"
                        </A>
                    }
                        .into_any()
                }}
            </td>
        </tr>
    }
}

/// `/admin/recordings/:id`.
#[component]
pub fn AdminRecording() -> impl IntoView {
    let params = use_params_map();
    move || {
        let id = params.read().get("id").unwrap_or_default();
        view! { <RecordingPage id /> }
    }
}

#[component]
fn RecordingPage(id: String) -> impl IntoView {
    set_title("Recording");
    let summary = LocalResource::new(move || {
        let id = id.clone();
        async move { api::recording(&id).await }
    });
    view! {
        <header class="section-head">
            <p class="eyebrow">
                <A href="/admin/recordings">"Recordings"</A>
            </p>
            <h1>"Recording"</h1>
        </header>
        {move || {
            fetched(
                summary.get(),
                move || summary.refetch(),
                |summary| view! { <RecordingDetail summary /> }.into_any(),
            )
        }}
    }
}

/// How the player is set up; changing it recreates the player where it was.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Playback {
    speed: f64,
    shorten_pauses: bool,
    show_keys: bool,
}

#[component]
fn RecordingDetail(summary: RecordingSummary) -> impl IntoView {
    let (actor_kind, actor_name) = split_actor(&summary.actor);
    let cast_url = api::recording_cast_url(&summary.id);
    let file_name = cast_file_name(&summary);
    let input_recorded = summary.input_recorded;
    let playback = RwSignal::new(Playback {
        speed: 1.0,
        shorten_pauses: true,
        show_keys: false,
    });
    let libraries = LocalResource::new(|| vendor::load(Bundle::Player));

    view! {
        <div class="card recording-summary" data-testid="recording-summary">
            <dl class="facts">
                <div>
                    <dt>"App"</dt>
                    <dd class="mono" data-testid="recording-app">
                        {summary.app.clone()}
                    </dd>
                </div>
                <div>
                    <dt>"Who"</dt>
                    <dd>
                        {actor_name}
                        {actor_kind.map(|kind| view! { <span class="cell-sub">{kind}</span> })}
                    </dd>
                </div>
                <div>
                    <dt>"Logged in as"</dt>
                    <dd class="mono">{summary.principal.clone()}</dd>
                </div>
                <div>
                    <dt>"Started"</dt>
                    <dd>
                        <Timestamp value=summary.started_at.clone() />
                    </dd>
                </div>
                <div>
                    <dt>"Duration"</dt>
                    <dd>{describe_duration(summary.duration_seconds)}</dd>
                </div>
                <div>
                    <dt>"Size"</dt>
                    <dd>{describe_size(summary.size_bytes)}</dd>
                </div>
                <div>
                    <dt>"Input"</dt>
                    <dd>{if input_recorded { "Recorded" } else { "Not recorded" }}</dd>
                </div>
            </dl>
            <a
                class="button button-small"
                href=cast_url.clone()
                download=file_name
                data-testid="recording-download"
            >
                "Download (.cast)"
            </a>
        </div>
        {summary
            .ended_at
            .is_none()
            .then(|| {
                view! {
                    <p class="notice" role="status">
                        "This session is still running: the player shows it up to when this page \
                         loaded."
                    </p>
                }
            })}
        <section class="card recording-player-card" aria-label="Player">
            <div class="player-controls">
                <div class="speed-choices" role="group" aria-label="Speed">
                    {SPEEDS
                        .into_iter()
                        .map(|speed| {
                            view! {
                                <button
                                    type="button"
                                    class="button button-small"
                                    data-speed=speed.to_string()
                                    aria-pressed=move || {
                                        (playback.get().speed == speed).to_string()
                                    }
                                    on:click=move |_| {
                                        playback.update(|playback| playback.speed = speed)
                                    }
                                >
                                    {speed_label(speed)}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
                <label class="checkbox">
                    <input
                        type="checkbox"
                        id="player-shorten-pauses"
                        prop:checked=move || playback.get().shorten_pauses
                        on:change=move |event| {
                            let checked = event_target_checked(&event);
                            playback.update(|playback| playback.shorten_pauses = checked);
                        }
                    />
                    {format!("Shorten pauses to {IDLE_LIMIT_SECONDS} s")}
                </label>
                {input_recorded
                    .then(|| {
                        view! {
                            <label class="checkbox">
                                <input
                                    type="checkbox"
                                    id="player-show-keys"
                                    prop:checked=move || playback.get().show_keys
                                    on:change=move |event| {
                                        let checked = event_target_checked(&event);
                                        playback.update(|playback| playback.show_keys = checked);
                                    }
                                />
                                "Show typed keys"
                            </label>
                        }
                    })}
            </div>
            {move || match libraries.get() {
                None => view! { <Loading label="Loading the player…" /> }.into_any(),
                Some(Err(error)) => {
                    view! {
                        <ErrorNotice
                            message=error.message()
                            retry=Callback::new(move |()| libraries.refetch())
                        />
                    }
                        .into_any()
                }
                Some(Ok(())) => {
                    view! { <PlayerView source=cast_url.clone() playback /> }.into_any()
                }
            }}
        </section>
    }
}

/// The player's element; a player is created in it, and created again where it was whenever
/// `playback` changes.
#[component]
fn PlayerView(source: String, playback: RwSignal<Playback>) -> impl IntoView {
    let element = NodeRef::<leptos::html::Div>::new();
    let player = StoredValue::new_local(None::<Player>);
    let failed = RwSignal::new(None::<String>);
    Effect::new(move || {
        let settings = playback.get();
        let Some(element) = element.get() else {
            return;
        };
        let resume_at = player
            .try_update_value(Option::take)
            .flatten()
            .and_then(|previous| {
                let at = previous.current_time().as_f64();
                dispose(previous);
                at
            });
        match create_player(&source, &element, &player_options(settings, resume_at)) {
            Ok(created) => {
                failed.set(None);
                let _ = js_sys::Reflect::set(&window(), &JsValue::from_str(GLOBAL_NAME), &created);
                player.set_value(Some(created));
            }
            Err(_) => failed.set(Some(
                "The player could not start in this browser. Download the recording to play \
                 it with asciinema instead."
                    .to_owned(),
            )),
        }
    });
    on_cleanup(move || {
        if let Some(previous) = player.try_update_value(Option::take).flatten() {
            dispose(previous);
        }
    });
    view! {
        {move || {
            failed
                .get()
                .map(|message| {
                    view! {
                        <p class="error" role="alert">
                            {message}
                        </p>
                    }
                })
        }}
        <div class="recording-player" data-testid="recording-player" node_ref=element></div>
    }
}

/// Stops `player` and empties its element, and forgets it as the page's global.
fn dispose(player: Player) {
    let window = window();
    let global = JsValue::from_str(GLOBAL_NAME);
    let player_value: &JsValue = player.as_ref();
    if js_sys::Reflect::get(&window, &global).is_ok_and(|current| current == *player_value) {
        let _ = js_sys::Reflect::delete_property(&window, &global);
    }
    player.dispose();
}

/// asciinema-player's options for `playback`, starting at `start_at` seconds when given.
fn player_options(playback: Playback, start_at: Option<f64>) -> JsValue {
    let options = js_sys::Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = js_sys::Reflect::set(&options, &JsValue::from_str(key), &value);
    };
    set("controls", true.into());
    set("autoPlay", true.into());
    set("preload", true.into());
    set("fit", "width".into());
    set("speed", playback.speed.into());
    set("keystrokeOverlay", playback.show_keys.into());
    if playback.shorten_pauses {
        set("idleTimeLimit", IDLE_LIMIT_SECONDS.into());
    }
    if let Some(start_at) = start_at.filter(|seconds| seconds.is_finite() && *seconds > 0.0) {
        set("startAt", start_at.into());
    }
    options.into()
}

/// `0.5` as "0.5×", `2` as "2×".
fn speed_label(speed: f64) -> String {
    format!("{speed}×")
}

/// Seconds as a person reads a length of time: "42 s", "3 min 05 s", "2 h 07 min".
fn describe_duration(seconds: f64) -> String {
    // Whole seconds are plenty for a session; negative or broken values read as zero.
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds.round() as u64
    } else {
        0
    };
    match total {
        0..60 => format!("{total} s"),
        60..3600 => format!("{} min {:02} s", total / 60, total % 60),
        _ => format!("{} h {:02} min", total / 3600, total % 3600 / 60),
    }
}

/// Bytes in binary units: "512 B", "14.2 KiB", "3.0 MiB".
fn describe_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The name a download gets: `{app}-{start time}.cast`, with only characters every file
/// system accepts.
fn cast_file_name(recording: &RecordingSummary) -> String {
    let stem: String = format!("{}-{}", recording.app, recording.started_at)
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '-' {
                character
            } else {
                '-'
            }
        })
        .collect();
    format!("{stem}.cast")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_units() {
        for (seconds, shown) in [
            (0.0, "0 s"),
            (0.4, "0 s"),
            (42.0, "42 s"),
            (59.6, "1 min 00 s"),
            (185.0, "3 min 05 s"),
            (7620.0, "2 h 07 min"),
            (-3.0, "0 s"),
            (f64::NAN, "0 s"),
        ] {
            assert_eq!(describe_duration(seconds), shown, "{seconds}");
        }
    }

    #[test]
    fn sizes_read_in_binary_units() {
        for (bytes, shown) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (14_540, "14.2 KiB"),
            (3 * 1024 * 1024, "3.0 MiB"),
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
        ] {
            assert_eq!(describe_size(bytes), shown, "{bytes}");
        }
    }

    #[test]
    fn downloads_are_named_after_app_and_start() {
        let recording = RecordingSummary {
            id: "r1".to_owned(),
            app: "build-box".to_owned(),
            actor: "user:ada".to_owned(),
            principal: "ada".to_owned(),
            started_at: "2026-11-22T03:25:07Z".to_owned(),
            ended_at: None,
            duration_seconds: 1.0,
            size_bytes: 10,
            input_recorded: false,
            kind: RecordingKind::Terminal,
        };
        assert_eq!(
            cast_file_name(&recording),
            "build-box-2026-11-22T03-25-07Z.cast"
        );
        assert_eq!(speed_label(0.5), "0.5×");
        assert_eq!(speed_label(2.0), "2×");
    }
}
