//! The load generator: each function drives one measurement through a local port (the origin
//! itself, ssh's `-L` port or `postern access tcp`'s port) and returns raw samples.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::origins::FIRST_BYTE;

/// Size of each write of the bulk and active loads.
const WRITE_CHUNK: usize = 256 * 1024;
/// How many connects may be in flight at once. ssh listens with a backlog of 128 and postern
/// access with 1024; staying well below both keeps SYN retries (a one-second stall each) out
/// of the numbers.
const CONNECT_PARALLELISM: usize = 64;

async fn connect(port: u16) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connect to 127.0.0.1:{port}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A cheap reproducible byte stream (xorshift64*): incompressible enough for a transport, and
/// regenerating it from a seed avoids holding every payload in memory.
pub struct Payload(u64);

impl Payload {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Payload {
        Payload(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// Fills `buffer` with the next bytes.
    pub fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let word = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// Sends `total` bytes to the sink origin through `port` and returns MB/s (10^6 bytes per
/// second), timed until the sink confirms it received every byte.
pub async fn bulk(port: u16, total: u64) -> anyhow::Result<f64> {
    let mut buffer = vec![0u8; WRITE_CHUNK];
    Payload::new(1).fill(&mut buffer);
    let mut stream = connect(port).await?;
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let size = usize::try_from((total - sent).min(WRITE_CHUNK as u64))?;
        stream
            .write_all(&buffer[..size])
            .await
            .context("write to the sink")?;
        sent += size as u64;
    }
    stream.shutdown().await.context("half-close")?;
    let mut count = [0u8; 8];
    stream
        .read_exact(&mut count)
        .await
        .context("read the sink's byte count")?;
    let elapsed = started.elapsed();
    let received = u64::from_le_bytes(count);
    ensure!(
        received == total,
        "the sink received {received} of {total} bytes"
    );
    Ok(total as f64 / 1e6 / elapsed.as_secs_f64())
}

/// Size of one echo message.
pub const ECHO_MESSAGE: usize = 64;

/// `warmup` then `count` sequential 64-byte round trips on one connection to the echo origin;
/// returns the measured round trips.
pub async fn echo_round_trips(
    port: u16,
    warmup: usize,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut stream = connect(port).await?;
    let mut samples = Vec::with_capacity(count);
    let mut message = [0u8; ECHO_MESSAGE];
    let mut answer = [0u8; ECHO_MESSAGE];
    Payload::new(2).fill(&mut message);
    for index in 0..warmup + count {
        // A changing message proves each answer is the echo of this request, not a stale one.
        message[..8].copy_from_slice(&(index as u64).to_le_bytes());
        let started = Instant::now();
        stream.write_all(&message).await.context("write")?;
        stream.read_exact(&mut answer).await.context("read")?;
        let elapsed = started.elapsed();
        ensure!(answer == message, "round trip {index} came back altered");
        if index >= warmup {
            samples.push(elapsed);
        }
    }
    Ok(samples)
}

/// `count` sequential new connections to the first-byte origin: time from connect to the
/// origin's first byte.
pub async fn stream_setups(port: u16, count: usize) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(count);
    for index in 0..count {
        let started = Instant::now();
        let byte = tokio::time::timeout(Duration::from_secs(10), async {
            let mut stream = connect(port).await?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            anyhow::Ok(byte[0])
        })
        .await
        .with_context(|| format!("stream {index}: no first byte within 10 s"))??;
        samples.push(started.elapsed());
        ensure!(byte == FIRST_BYTE, "stream {index}: wrong first byte");
    }
    Ok(samples)
}

/// The outcome of the concurrent echo load.
#[derive(Debug, Clone, Default)]
pub struct Active {
    /// Streams whose echo came back complete with an equal SHA-256.
    pub intact: usize,
    /// Streams attempted.
    pub streams: usize,
    /// From the first byte sent to the last stream finished.
    pub seconds: f64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// Opens `streams` connections to the echo origin first (so all are open at once), then sends
/// `payload` random bytes on each at the same time and checks what comes back.
pub async fn active(port: u16, streams: usize, payload: usize) -> anyhow::Result<Active> {
    let limiter = Arc::new(Semaphore::new(CONNECT_PARALLELISM));
    let mut connecting = JoinSet::new();
    for _ in 0..streams {
        let limiter = Arc::clone(&limiter);
        connecting.spawn(async move {
            let _permit = limiter.acquire_owned().await?;
            tokio::time::timeout(Duration::from_secs(30), connect(port))
                .await
                .context("connect timed out")?
        });
    }
    let mut connected = Vec::with_capacity(streams);
    while let Some(joined) = connecting.join_next().await {
        connected.push(joined??);
    }
    let started = Instant::now();
    let mut running = JoinSet::new();
    for (index, stream) in connected.into_iter().enumerate() {
        running.spawn(tokio::time::timeout(
            Duration::from_secs(600),
            echo_one(stream, index as u64 + 1, payload),
        ));
    }
    let mut outcome = Active {
        streams,
        ..Active::default()
    };
    while let Some(joined) = running.join_next().await {
        let result = match joined {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(anyhow::anyhow!("timed out after 600 s")),
            Err(join) => Err(join.into()),
        };
        match result {
            Ok(()) => outcome.intact += 1,
            Err(error) => {
                outcome
                    .first_error
                    .get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// Writes `size` bytes of the payload for `seed` and half-closes, while reading the echo to
/// EOF; both sides are hashed as they pass.
async fn echo_one(stream: TcpStream, seed: u64, size: usize) -> anyhow::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let send = async move {
        let mut payload = Payload::new(seed);
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; WRITE_CHUNK.min(size)];
        let mut left = size;
        while left > 0 {
            let chunk = &mut buffer[..left.min(WRITE_CHUNK)];
            payload.fill(chunk);
            hasher.update(&*chunk);
            writer.write_all(chunk).await.context("write")?;
            left -= chunk.len();
        }
        writer.shutdown().await.context("half-close")?;
        anyhow::Ok(hasher.finalize())
    };
    let receive = async move {
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; WRITE_CHUNK];
        let mut received = 0usize;
        loop {
            let read = reader.read(&mut buffer).await.context("read")?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            received += read;
        }
        anyhow::Ok((received, hasher.finalize()))
    };
    let (sent, (received, echoed)) = tokio::try_join!(send, receive)?;
    if received != size {
        bail!("{received} of {size} bytes came back");
    }
    ensure!(sent == echoed, "checksum differs");
    Ok(())
}

/// Idle streams held open through the first-byte origin.
pub struct Idle {
    /// The open connections; dropping them closes the streams.
    pub streams: Vec<TcpStream>,
    /// How long opening them took.
    pub seconds: f64,
    /// Why opening stopped short of the target, if it did.
    pub stalled: Option<String>,
}

/// Opens up to `target` streams through `port`, each proven end to end by the origin's first
/// byte. Stops opening at the first stream that gets no byte within `patience` (the path is
/// saturated), and reports how many it holds.
pub async fn idle(port: u16, target: usize, patience: Duration) -> Idle {
    let started = Instant::now();
    let mut streams = Vec::with_capacity(target);
    let mut stalled = None;
    let mut in_flight = JoinSet::new();
    let mut launched = 0;
    loop {
        while stalled.is_none() && launched < target && in_flight.len() < CONNECT_PARALLELISM {
            launched += 1;
            in_flight.spawn(tokio::time::timeout(patience, async move {
                let mut stream = connect(port).await?;
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await?;
                ensure!(byte[0] == FIRST_BYTE, "wrong first byte");
                anyhow::Ok(stream)
            }));
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok(Ok(stream))) => streams.push(stream),
            Ok(Ok(Err(error))) => {
                stalled.get_or_insert_with(|| format!("{error:#}"));
            }
            Ok(Err(_)) => {
                stalled.get_or_insert_with(|| {
                    format!("a stream got no first byte within {patience:?}")
                });
            }
            Err(join) => {
                stalled.get_or_insert_with(|| join.to_string());
            }
        }
    }
    Idle {
        streams,
        seconds: started.elapsed().as_secs_f64(),
        stalled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_reproducible_and_chunking_does_not_change_it() {
        let mut whole = vec![0u8; 1000];
        Payload::new(9).fill(&mut whole);
        let mut pieces = vec![0u8; 1000];
        let mut payload = Payload::new(9);
        // Chunk sizes that are multiples of eight keep the stream aligned, as the writers use.
        for chunk in pieces.chunks_mut(16) {
            payload.fill(chunk);
        }
        assert_eq!(whole, pieces);
        let mut other = vec![0u8; 1000];
        Payload::new(10).fill(&mut other);
        assert_ne!(whole, other);
        // Not degenerate: most byte values appear.
        let distinct = whole.iter().collect::<std::collections::HashSet<_>>().len();
        assert!(distinct > 200, "{distinct}");
    }
}
