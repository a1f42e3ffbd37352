//! CPU time used over a window, from `/proc`: `postern-server` and the connector to the
//! nanosecond, Chromium's processes and chromedriver together and the whole machine in clock
//! ticks.

use std::collections::HashMap;
use std::time::Instant;

use crate::children::{
    clock_ticks_per_second, cpu_seconds_between, cpu_ticks, machine_busy_ticks, thread_cpu_nanos,
};
use crate::exchange::Cpu;
use crate::stage::Stage;

/// Counters read at the start of a window.
pub struct Snapshot {
    at: Instant,
    server: HashMap<u32, u64>,
    connector: HashMap<u32, u64>,
    machine: u64,
    chromium: HashMap<u32, u64>,
}

/// Chromium's processes (all named `chrom…`, as is chromedriver) with their ticks.
fn chromium() -> HashMap<u32, u64> {
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
        .map(|pid| (pid, cpu_ticks(pid, false)))
        .collect()
}

impl Snapshot {
    /// Reads the counters now.
    pub fn take(stage: &Stage) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            server: thread_cpu_nanos(stage.server_pid),
            connector: thread_cpu_nanos(stage.connector_pid),
            machine: machine_busy_ticks(),
            chromium: chromium(),
        }
    }

    /// CPU seconds used since this snapshot, and Chromium's share (a process that started
    /// meanwhile counts whole).
    pub fn since(&self, stage: &Stage) -> (Cpu, f64) {
        let now = Snapshot::take(stage);
        let per_second = clock_ticks_per_second();
        let seconds = |after: u64, before: u64| after.saturating_sub(before) as f64 / per_second;
        let chromium: u64 = now
            .chromium
            .iter()
            .map(|(pid, ticks)| ticks.saturating_sub(self.chromium.get(pid).copied().unwrap_or(0)))
            .sum();
        let cpu = Cpu {
            seconds: now.at.duration_since(self.at).as_secs_f64(),
            server: cpu_seconds_between(&self.server, &now.server),
            connector: cpu_seconds_between(&self.connector, &now.connector),
            machine: seconds(now.machine, self.machine),
        };
        (cpu, chromium as f64 / per_second)
    }
}
