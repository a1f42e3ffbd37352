//! Terminal recordings as asciicast v2: a JSON header line, then one `[seconds, "o"|"i"|"r",
//! text]` line per event. Output is decoded as UTF-8 across chunk boundaries, so a character
//! split between two reads is written whole.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::AsyncWriteExt;

use crate::store::{NewRecording, Store, UnixTime};

/// Where recordings live under the data dir.
pub fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

/// Creates a new recording file (mode 0600) with a fresh random id under `dir`; returns the
/// id, the file name and the file.
pub async fn create_file(
    dir: &Path,
    extension: &str,
) -> anyhow::Result<(String, String, tokio::fs::File)> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("create {}", dir.display()))?;
    let id = crate::secret::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect::<String>();
    let file_name = format!("{id}.{extension}");
    let path = dir.join(&file_name);
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await
        .with_context(|| format!("create {}", path.display()))?;
    Ok((id, file_name, file))
}

/// How often buffered events reach the file, so a running recording can be read.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// An open recording.
pub struct Recorder {
    id: String,
    file: tokio::io::BufWriter<tokio::fs::File>,
    started: Instant,
    last_flush: Instant,
    output: Utf8Stream,
    input: Option<Utf8Stream>,
    size: u64,
}

/// What a recording is of.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The App.
    pub app: &'a str,
    /// Who (`user:NAME`).
    pub actor: &'a str,
    /// The principal.
    pub principal: &'a str,
    /// Record keystrokes too.
    pub record_input: bool,
    /// Terminal size at start.
    pub cols: u16,
    /// Terminal size at start.
    pub rows: u16,
    /// When.
    pub now: UnixTime,
}

impl Recorder {
    /// Creates the file, writes the header and registers the recording in the store.
    pub async fn start(
        dir: &Path,
        store: &dyn Store,
        subject: Subject<'_>,
    ) -> anyhow::Result<Recorder> {
        let (id, file_name, file) = create_file(dir, "cast").await?;
        let header = serde_json::json!({
            "version": 2,
            "width": subject.cols,
            "height": subject.rows,
            "timestamp": subject.now,
            "title": format!("{} as {} on {}", subject.actor, subject.principal, subject.app),
            "env": { "TERM": "xterm-256color" },
        });
        let mut recorder = Recorder {
            id: id.clone(),
            file: tokio::io::BufWriter::with_capacity(64 * 1024, file),
            started: Instant::now(),
            last_flush: Instant::now(),
            output: Utf8Stream::default(),
            input: subject.record_input.then(Utf8Stream::default),
            size: 0,
        };
        recorder.write_line(header.to_string()).await?;
        recorder.file.flush().await?;
        store
            .create_recording(NewRecording {
                id,
                app_name: subject.app.to_owned(),
                actor: subject.actor.to_owned(),
                principal: subject.principal.to_owned(),
                file_name,
                input_recorded: subject.record_input,
                started_at: subject.now,
            })
            .await?;
        Ok(recorder)
    }

    /// The recording's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Terminal output.
    pub async fn output(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let text = self.output.decode(bytes);
        self.event("o", &text).await
    }

    /// Keystrokes, if input is recorded.
    pub async fn input(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let Some(input) = self.input.as_mut() else {
            return Ok(());
        };
        let text = input.decode(bytes);
        self.event("i", &text).await
    }

    /// The terminal was resized.
    pub async fn resize(&mut self, cols: u16, rows: u16) -> anyhow::Result<()> {
        self.event("r", &format!("{cols}x{rows}")).await
    }

    async fn event(&mut self, kind: &str, text: &str) -> anyhow::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let seconds = self.started.elapsed().as_secs_f64();
        let line = serde_json::to_string(&(Rounded(seconds), kind, text))?;
        self.write_line(line).await?;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.file.flush().await?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    async fn write_line(&mut self, mut line: String) -> anyhow::Result<()> {
        line.push('\n');
        self.file.write_all(line.as_bytes()).await?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Flushes the file and records the end.
    pub async fn finish(mut self, store: &dyn Store, now: UnixTime) -> anyhow::Result<()> {
        let tail = self.output.finish();
        self.event("o", &tail).await?;
        self.file.flush().await?;
        self.file.get_ref().sync_data().await?;
        store
            .finish_recording(&self.id, now, i64::try_from(self.size).unwrap_or(i64::MAX))
            .await?;
        Ok(())
    }
}

/// Seconds with microsecond precision, as asciicast files usually carry them.
struct Rounded(f64);

impl serde::Serialize for Rounded {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64((self.0 * 1e6).round() / 1e6)
    }
}

/// Decodes a byte stream as UTF-8, holding back an incomplete character at the end of a
/// chunk until the next one; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// The text of `bytes` (and of what was held back before them).
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        let mut buffer = std::mem::take(&mut self.pending);
        buffer.extend_from_slice(bytes);
        let cut = complete_prefix(&buffer);
        self.pending = buffer.split_off(cut);
        String::from_utf8_lossy(&buffer).into_owned()
    }

    /// Whatever is held back, as replacement characters.
    pub fn finish(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned()
    }
}

/// The length of `bytes` without a trailing character that is cut short.
fn complete_prefix(bytes: &[u8]) -> usize {
    // A character is at most 4 bytes: look at the start of the last one.
    for back in 1..=bytes.len().min(4) {
        let index = bytes.len() - back;
        let byte = bytes[index];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: keep looking for the lead
        }
        let needed = match byte {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1, // invalid lead: let the lossy decoder replace it now
        };
        return if back < needed { index } else { bytes.len() };
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_chunks_are_written_whole() {
        let text = "héllo → 世界 🦀";
        let bytes = text.as_bytes();
        for split in 0..=bytes.len() {
            let mut stream = Utf8Stream::default();
            let mut out = stream.decode(&bytes[..split]);
            out.push_str(&stream.decode(&bytes[split..]));
            out.push_str(&stream.finish());
            assert_eq!(out, text, "split at {split}");
        }
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.decode(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(stream.decode(b"\xe4\xb8"), "");
        assert_eq!(stream.finish(), "\u{fffd}");
    }
}
