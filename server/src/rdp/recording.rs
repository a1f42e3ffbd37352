//! Desktop recordings: the byte stream the gateway relayed from the origin to the browser,
//! after TLS and before the browser's decoder, with the time each chunk arrived. Replaying it
//! through the same decoder redraws the session.
//!
//! File layout (`{id}.rdprec`): one JSON header line (`{"version":1,"format":"postern-rdp",
//! "app":…,"actor":…,"timestamp":unix}`), then records of `u64` microseconds since the start
//! (little-endian), `u32` length (little-endian) and that many bytes. Input is never recorded:
//! it carries the password typed into CredSSP.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::ssh::recording::create_file;
use crate::store::{NewRecording, Store, UnixTime};

/// The file name extension of desktop recordings.
pub const EXTENSION: &str = "rdprec";

/// How often buffered records reach the file.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// An open desktop recording.
pub struct DesktopRecorder {
    id: String,
    file: tokio::io::BufWriter<tokio::fs::File>,
    started: Instant,
    last_flush: Instant,
    size: u64,
}

impl DesktopRecorder {
    /// Creates the file, writes the header and registers the recording in the store.
    pub async fn start(
        dir: &Path,
        store: &dyn Store,
        app: &str,
        actor: &str,
        now: UnixTime,
    ) -> anyhow::Result<DesktopRecorder> {
        let (id, file_name, file) = create_file(dir, EXTENSION).await?;
        let mut header = serde_json::json!({
            "version": 1,
            "format": "postern-rdp",
            "app": app,
            "actor": actor,
            "timestamp": now,
        })
        .to_string();
        header.push('\n');
        let mut recorder = DesktopRecorder {
            id: id.clone(),
            file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
            started: Instant::now(),
            last_flush: Instant::now(),
            size: header.len() as u64,
        };
        recorder.file.write_all(header.as_bytes()).await?;
        recorder.file.flush().await?;
        store
            .create_recording(NewRecording {
                id,
                app_name: app.to_owned(),
                actor: actor.to_owned(),
                principal: String::new(),
                file_name,
                input_recorded: false,
                started_at: now,
            })
            .await?;
        Ok(recorder)
    }

    /// The recording's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Bytes the origin sent.
    pub async fn output(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let length = u32::try_from(bytes.len())?;
        self.file.write_all(&micros.to_le_bytes()).await?;
        self.file.write_all(&length.to_le_bytes()).await?;
        self.file.write_all(bytes).await?;
        self.size += 12 + u64::from(length);
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.file.flush().await?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    /// Flushes the file and records the end.
    pub async fn finish(mut self, store: &dyn Store, now: UnixTime) -> anyhow::Result<()> {
        self.file.flush().await?;
        self.file.get_ref().sync_data().await?;
        store
            .finish_recording(&self.id, now, i64::try_from(self.size).unwrap_or(i64::MAX))
            .await?;
        Ok(())
    }
}

/// One record read back: when, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Since the start.
    pub at: Duration,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Reads a recording file back (header, records); fails on a truncated or foreign file.
pub fn parse(file: &[u8]) -> anyhow::Result<(serde_json::Value, Vec<Record>)> {
    let newline = file
        .iter()
        .position(|&byte| byte == b'\n')
        .ok_or_else(|| anyhow::anyhow!("no header line"))?;
    let header: serde_json::Value = serde_json::from_slice(&file[..newline])?;
    anyhow::ensure!(
        header["format"] == "postern-rdp" && header["version"] == 1,
        "not a Postern desktop recording"
    );
    let mut records = Vec::new();
    let mut rest = &file[newline + 1..];
    while !rest.is_empty() {
        anyhow::ensure!(rest.len() >= 12, "truncated record header");
        let (head, tail) = rest.split_at(12);
        let micros = u64::from_le_bytes(head[..8].try_into()?);
        let length = usize::try_from(u32::from_le_bytes(head[8..].try_into()?))?;
        anyhow::ensure!(tail.len() >= length, "truncated record");
        let (bytes, tail) = tail.split_at(length);
        records.push(Record {
            at: Duration::from_micros(micros),
            bytes: bytes.to_vec(),
        });
        rest = tail;
    }
    Ok((header, records))
}
