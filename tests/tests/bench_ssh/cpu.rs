//! Where the CPU went during a measurement: `postern-server`, the connector, Chromium's
//! processes by kind (renderer, GPU, the others with chromedriver) and the whole machine, from
//! `/proc`.

use std::collections::HashMap;

use crate::children::{clock_ticks_per_second, cpu_ticks, machine_busy_ticks};
use crate::exchange::CpuSplit;
use crate::stage::Stage;

/// CPU clock ticks used so far.
pub struct Snapshot {
    server: u64,
    connector: u64,
    chromium: HashMap<u32, (Kind, u64)>,
    machine: u64,
}

/// What a Chromium process does, from its `--type=` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Gpu,
    Other,
}

fn kind(pid: u32) -> Kind {
    let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    // Chromium rewrites its process title, which joins the arguments with spaces.
    let has = |flag: &[u8]| {
        command
            .split(|byte| *byte == 0 || *byte == b' ')
            .any(|arg| arg == flag)
    };
    if has(b"--type=renderer") {
        Kind::Page
    } else if has(b"--type=gpu-process") {
        Kind::Gpu
    } else {
        Kind::Other
    }
}

/// Chromium's processes (Chromium names them all `chrom…`, as is chromedriver) by PID, with
/// their kind and ticks.
fn chromium() -> HashMap<u32, (Kind, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|name| name.starts_with("chrom"))
        })
        .map(|pid| (pid, (kind(pid), cpu_ticks(pid, false))))
        .collect()
}

impl Snapshot {
    /// Reads the counters now.
    pub fn take(stage: &Stage) -> Snapshot {
        Snapshot {
            server: cpu_ticks(stage.server_pid, false),
            connector: cpu_ticks(stage.connector_pid, false),
            chromium: chromium(),
            machine: machine_busy_ticks(),
        }
    }

    /// CPU seconds used since this snapshot. A Chromium process that started meanwhile counts
    /// whole; one that ended meanwhile is missing (they live as long as the page).
    pub fn since(&self, stage: &Stage) -> CpuSplit {
        let now = Snapshot::take(stage);
        let per_second = clock_ticks_per_second();
        let seconds = |after: u64, before: u64| after.saturating_sub(before) as f64 / per_second;
        let chromium = |wanted: Kind| -> f64 {
            let ticks: u64 = now
                .chromium
                .iter()
                .filter(|(_, (kind, _))| *kind == wanted)
                .map(|(pid, (_, ticks))| {
                    let before = self.chromium.get(pid).map_or(0, |(_, ticks)| *ticks);
                    ticks.saturating_sub(before)
                })
                .sum();
            ticks as f64 / per_second
        };
        CpuSplit {
            server: seconds(now.server, self.server),
            connector: seconds(now.connector, self.connector),
            chromium_page: chromium(Kind::Page),
            chromium_gpu: chromium(Kind::Gpu),
            chromium_other: chromium(Kind::Other),
            machine: seconds(now.machine, self.machine),
        }
    }
}
