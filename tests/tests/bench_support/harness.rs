//! What the `bench_ssh` and `bench_rdp` targets do around their measurements: read the sizes
//! and the output path xtask hands over, turn a failed measurement into its cell (and keep the
//! logs), read how quiet the machine is before any load, and write the results. Included by
//! path, like `release.rs`; it calls the including target's `progress` and `children`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::children;

/// Whether any measurement failed, so the logs are kept.
static FAILED: AtomicBool = AtomicBool::new(false);

/// Turns a failed measurement into its cell, keeping the whole chain of causes.
pub fn measured<T>(result: anyhow::Result<T>) -> Result<T, String> {
    result.map_err(|error| {
        FAILED.store(true, Ordering::Relaxed);
        crate::progress(&format!("failed: {error:#}"));
        format!("{error:#}")
    })
}

/// Whether a measurement failed so far.
pub fn any_failed() -> bool {
    FAILED.load(Ordering::Relaxed)
}

/// The sizes xtask put in `env` as JSON, or `quick` when run by hand.
pub fn sizes<S: serde::de::DeserializeOwned>(env: &str, quick: S) -> anyhow::Result<S> {
    match std::env::var(env) {
        Ok(json) => {
            serde_json::from_str(&json).with_context(|| format!("{env} is not valid sizes"))
        }
        Err(_) => Ok(quick),
    }
}

/// Where xtask wants the results (`env`), or `target/bench/{name}` when run by hand.
pub fn output_path(env: &str, name: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(
        || tests::workspace_root().join("target/bench").join(name),
        PathBuf::from,
    )
}

/// The load average and how busy the cores are (in % of one core) over three seconds,
/// before any load starts.
pub async fn quiet() -> (String, f64) {
    const SPAN: Duration = Duration::from_secs(3);
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let before = children::machine_busy_ticks();
    tokio::time::sleep(SPAN).await;
    let busy = children::machine_busy_ticks().saturating_sub(before);
    let busy_percent =
        100.0 * busy as f64 / children::clock_ticks_per_second() / SPAN.as_secs_f64();
    crate::progress(&format!(
        "load average {load_average}, {busy_percent:.0} % of a core busy before starting"
    ));
    (load_average, busy_percent)
}

/// Writes `results` as JSON to `output`.
pub fn write_results(output: &Path, results: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, serde_json::to_vec_pretty(results)?)
        .with_context(|| format!("write {}", output.display()))?;
    crate::progress(&format!("results written to {}", output.display()));
    Ok(())
}
