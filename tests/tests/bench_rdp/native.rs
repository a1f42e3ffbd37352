//! The native client (`tests::rdp_client`, the `rdp` crate the page runs as wasm) against the
//! server in its own process: a ticket from the API, the gateway WebSocket with the Session
//! cookie and Origin, then RDP, the way the page does it. Timed from asking for the ticket to
//! the first graphics update; read afterwards with every PDU counted.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use protocol::rdp::{RdpTicket, ticket_path};
use rdp::{Credentials, SessionEvent};
use reqwest::header::ORIGIN;
use tests::rdp::{RDP_PASSWORD, RDP_USER};
use tests::rdp_client::{NativeRdp, connect_socket};
use tests::terminal::open_websocket_at;

use crate::exchange::FRAME_GAP_MILLIS;
use crate::stage::Stage;

/// The desktop size the native client asks for (the shadow server shares its own screen; xrdp
/// makes its session this size).
pub const WIDTH: u16 = 1024;
/// …
pub const HEIGHT: u16 = 768;
/// How long a connect may take before it counts as failed.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// Connects to `app`, and returns the session with the time from asking for the ticket to its
/// first graphics update.
pub async fn connect(stage: &Stage, app: &str) -> anyhow::Result<(NativeRdp, Duration)> {
    let started = Instant::now();
    let response = stage
        .user
        .post(format!("{}{}", stage.origin, ticket_path(app)))
        .header(ORIGIN, &stage.origin)
        .send()
        .await
        .context("ask for a ticket")?;
    if !response.status().is_success() {
        bail!("the ticket was refused: {}", response.text().await?);
    }
    let ticket: RdpTicket = response.json().await.context("read the ticket")?;
    let socket = match open_websocket_at(
        &stage.origin,
        &stage.cert,
        &ticket.gateway_path,
        &stage.upgrade(),
    )
    .await?
    {
        Ok(socket) => socket,
        Err(refused) => bail!(
            "the gateway upgrade was refused: {} {}",
            refused.status,
            refused.body
        ),
    };
    let credentials = Credentials {
        username: RDP_USER.to_owned(),
        password: RDP_PASSWORD.to_owned(),
        domain: None,
    };
    let mut desktop = tokio::time::timeout(
        CONNECT_LIMIT,
        connect_socket(socket, app, &ticket.ticket, credentials, WIDTH, HEIGHT),
    )
    .await
    .context("RDP did not connect in time")?
    .context("RDP connect")?;
    desktop
        .run_until(CONNECT_LIMIT, |_, events| {
            events
                .iter()
                .any(|event| matches!(event, SessionEvent::Graphics { .. }))
        })
        .await?;
    Ok((desktop, started.elapsed()))
}

/// Ends the session politely, so the origin lets it go at once.
/// Ends the session politely and waits (at most a few seconds) until the origin has closed it,
/// so that the next connection finds it gone.
pub async fn disconnect(mut desktop: NativeRdp) {
    if let Ok(bytes) = desktop.session.shutdown() {
        let _ = desktop.send(&bytes).await;
    }
    let closed = async { while desktop.framed.read_pdu().await.is_ok() {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), closed).await;
}

/// What arrived while reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// RDP bytes (the WebSocket's binary payload).
    pub bytes: u64,
    /// PDUs.
    pub pdus: u64,
    /// PDUs that updated the image.
    pub graphics_pdus: u64,
    /// Updated rectangles.
    pub rectangles: u64,
    /// Runs of graphics PDUs with gaps under [`FRAME_GAP_MILLIS`].
    pub frames: u64,
}

/// Reads and processes PDUs for `span`, answering as the page does, and counts them.
pub async fn read_for(desktop: &mut NativeRdp, span: Duration) -> anyhow::Result<Received> {
    let gap = Duration::from_millis(FRAME_GAP_MILLIS);
    let deadline = tokio::time::Instant::now() + span;
    let mut received = Received::default();
    let mut last_graphics: Option<Instant> = None;
    loop {
        // Reading is cancel-safe: a message is appended to the buffer whole or not at all.
        let Ok(read) = tokio::time::timeout_at(deadline, desktop.framed.read_pdu()).await else {
            return Ok(received);
        };
        let (action, frame) = read.context("the connection ended")?;
        let now = Instant::now();
        received.bytes += frame.len() as u64;
        received.pdus += 1;
        let mut rectangles = 0;
        for event in desktop.session.process(action, &frame)? {
            match event {
                SessionEvent::Write(bytes) => desktop.send(&bytes).await?,
                SessionEvent::Graphics { .. } => rectangles += 1,
                SessionEvent::Terminated(reason) => bail!("the session ended: {reason}"),
                _ => {}
            }
        }
        if rectangles > 0 {
            received.graphics_pdus += 1;
            received.rectangles += rectangles;
            if last_graphics.is_none_or(|last| now.duration_since(last) >= gap) {
                received.frames += 1;
            }
            last_graphics = Some(now);
        }
    }
}
