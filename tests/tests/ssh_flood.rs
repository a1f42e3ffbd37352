//! A flood of terminal output: the browser paces it and the server's memory stays bounded.
//!
//! Its own test binary, so that this process holds nothing but this test's server and
//! client and its resident size measures them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use protocol::ssh::{OUTPUT_WINDOW, TerminalInput};
use tests::ssh_fixture::{APP, SshFixture};
use tests::terminal::Terminal;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_of_output_are_paced_by_the_browser_in_bounded_memory() {
    tests::init_logging();
    let fixture = SshFixture::start("pt-flood", None).await.unwrap();
    let mut terminal = Terminal::open(&fixture.server, APP, 200, 50, fixture.upgrade())
        .await
        .unwrap()
        .unwrap();
    terminal.connected().await.unwrap();
    terminal.keep = 64 * 1024;

    // A browser that renders nothing: the server stops once a window is unacknowledged.
    terminal.acknowledge = false;
    terminal
        .type_text("head -c 50M /dev/urandom | base64; echo FLOOD-$((40+2))-DONE\r")
        .await
        .unwrap();
    terminal.drain_for(Duration::from_secs(3)).await.unwrap();
    let held_back = terminal.received;
    assert!(
        (OUTPUT_WINDOW / 2..=OUTPUT_WINDOW + 64 * 1024).contains(&held_back),
        "without acknowledgements the server sent {held_back} bytes (window {OUTPUT_WINDOW})"
    );

    // Now render everything: the flood completes, and memory stays flat while it flows.
    let baseline = resident_bytes();
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    terminal.acknowledge = true;
    terminal
        .control(&TerminalInput::Ack { bytes: held_back })
        .await
        .unwrap();
    terminal
        .expect("FLOOD-42-DONE", Duration::from_secs(300))
        .await
        .unwrap();
    sampler.abort();
    let elapsed = started.elapsed();
    let base64_bytes = 50 * 1024 * 1024 / 3 * 4;
    assert!(
        terminal.received >= base64_bytes,
        "received {} bytes",
        terminal.received
    );
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!(
        "flood: {} MB in {elapsed:.1?}, resident growth {} MiB",
        terminal.received / 1_000_000,
        growth / (1024 * 1024)
    );
    assert!(
        growth < 64 * 1024 * 1024,
        "memory grew by {} MiB while 67 MB of output flowed",
        growth / (1024 * 1024)
    );
    terminal.type_text("exit\r").await.unwrap();
    terminal.closed_with(Duration::from_secs(20)).await.unwrap();
    fixture.stop().await;
}
