//! `ironrdp-peer`: an RDP server for tests, built on `ironrdp-server`.
//!
//! It accepts NLA (CredSSP with NTLM over TLS) for one account, shows a desktop of one solid
//! colour and logs the input it receives to stderr, one line per event. It listens on a port
//! the OS chooses on 127.0.0.1 and announces it on stdout as `listening on 127.0.0.1:PORT`.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::num::{NonZeroU16, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use ironrdp_displaycontrol::pdu::DisplayControlMonitorLayout;
use ironrdp_server::tokio_rustls::TlsAcceptor;
use ironrdp_server::tokio_rustls::rustls::ServerConfig;
use ironrdp_server::tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;
use ironrdp_server::{
    BitmapUpdate, Credentials, DesktopSize, DisplayUpdate, KeyboardEvent, MouseEvent, PixelFormat,
    RdpServer, RdpServerDisplay, RdpServerDisplayUpdates, RdpServerInputHandler,
};

const USAGE: &str = "usage: ironrdp-peer --user U --password P [--width 1024] [--height 768] \
                     [--color RRGGBB]";

/// The side of the square in the bottom-right corner that changes every second.
const HEARTBEAT_SIDE: NonZeroU16 = NonZeroU16::new(16).unwrap();

/// BgrA32.
const BYTES_PER_PIXEL: NonZeroUsize = NonZeroUsize::new(4).unwrap();

/// What the command line asks for.
struct Options {
    user: String,
    password: String,
    width: NonZeroU16,
    height: NonZeroU16,
    /// 0xRRGGBB.
    color: u32,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let (mut user, mut password) = (None, None);
    let mut options = Options {
        user: String::new(),
        password: String::new(),
        width: NonZeroU16::new(1024).context("width")?,
        height: NonZeroU16::new(768).context("height")?,
        color: 0x2E86DE,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--user" => user = Some(value),
            "--password" => password = Some(value),
            "--width" => options.width = dimension(&value)?,
            "--height" => options.height = dimension(&value)?,
            "--color" => {
                let hex = value.trim_start_matches('#');
                if hex.len() != 6 {
                    bail!("--color wants RRGGBB, got {value:?}");
                }
                options.color = u32::from_str_radix(hex, 16)
                    .with_context(|| format!("--color wants RRGGBB, got {value:?}"))?;
            }
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    options.user = user.with_context(|| format!("--user is required\n{USAGE}"))?;
    options.password = password.with_context(|| format!("--password is required\n{USAGE}"))?;
    Ok(options)
}

fn dimension(value: &str) -> anyhow::Result<NonZeroU16> {
    value
        .parse::<NonZeroU16>()
        .ok()
        .filter(|size| size.get() <= 8192)
        .with_context(|| format!("a width or height must be 1 to 8192, got {value:?}"))
}

/// A fresh self-signed certificate (ECDSA P-256) as a TLS acceptor, and its public key as
/// CredSSP binds it: the contents of the certificate's subjectPublicKey BIT STRING.
fn tls_identity() -> anyhow::Result<(TlsAcceptor, Vec<u8>)> {
    let key = rcgen::KeyPair::generate().context("generate a key")?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
        .self_signed(&key)
        .context("self-sign a certificate")?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .context("TLS configuration")?;
    Ok((
        TlsAcceptor::from(Arc::new(config)),
        key.public_key_raw().to_vec(),
    ))
}

fn main() -> anyhow::Result<()> {
    let options = Arc::new(parse_args(std::env::args().skip(1))?);
    let (acceptor, pub_key) = tls_identity()?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()?;
    drop(stdout);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept failed: {error}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        eprintln!("connection from {peer}");
        let (options, acceptor, pub_key) =
            (Arc::clone(&options), acceptor.clone(), pub_key.clone());
        std::thread::spawn(
            move || match serve(stream, addr, &options, acceptor, pub_key) {
                Ok(()) => eprintln!("connection from {peer} ended"),
                Err(error) => eprintln!("connection from {peer} failed: {error:#}"),
            },
        );
    }
}

/// Runs one connection to its end with a fresh server. The server's futures are not `Send`, so
/// each connection gets its own thread and a current-thread runtime.
fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    options: &Options,
    acceptor: TlsAcceptor,
    pub_key: Vec<u8>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        stream.set_nonblocking(true)?;
        let stream = tokio::net::TcpStream::from_std(stream)?;
        let mut server = RdpServer::builder()
            .with_addr(addr)
            .with_hybrid(acceptor, pub_key)
            .with_input_handler(InputLog)
            .with_display_handler(SolidColour {
                width: options.width,
                height: options.height,
                color: options.color,
                layout: tokio::sync::watch::channel(None).0,
            })
            .build();
        server.set_credentials(Some(Credentials {
            username: options.user.clone(),
            password: options.password.clone(),
            domain: None,
        }));
        server.run_connection(stream).await
    })
}

/// Logs input events to stderr, one line each.
struct InputLog;

impl RdpServerInputHandler for InputLog {
    fn keyboard(&mut self, event: KeyboardEvent) {
        match event {
            KeyboardEvent::Pressed { code, extended } => log_key(code, "down", extended),
            KeyboardEvent::Released { code, extended } => log_key(code, "up", extended),
            KeyboardEvent::UnicodePressed(unit) => eprintln!("unicode {unit:#06x} down"),
            KeyboardEvent::UnicodeReleased(unit) => eprintln!("unicode {unit:#06x} up"),
            KeyboardEvent::Synchronize(flags) => eprintln!("sync {flags:?}"),
        }
    }

    fn mouse(&mut self, event: MouseEvent) {
        match event {
            MouseEvent::Move { x, y } => eprintln!("mouse move {x} {y}"),
            MouseEvent::RelMove { x, y } => eprintln!("mouse relmove {x} {y}"),
            MouseEvent::LeftPressed => eprintln!("mouse left down"),
            MouseEvent::LeftReleased => eprintln!("mouse left up"),
            MouseEvent::RightPressed => eprintln!("mouse right down"),
            MouseEvent::RightReleased => eprintln!("mouse right up"),
            MouseEvent::MiddlePressed => eprintln!("mouse middle down"),
            MouseEvent::MiddleReleased => eprintln!("mouse middle up"),
            MouseEvent::Button4Pressed => eprintln!("mouse button4 down"),
            MouseEvent::Button4Released => eprintln!("mouse button4 up"),
            MouseEvent::Button5Pressed => eprintln!("mouse button5 down"),
            MouseEvent::Button5Released => eprintln!("mouse button5 up"),
            MouseEvent::VerticalScroll { value } => eprintln!("mouse wheel {value}"),
            MouseEvent::Scroll { x, y } => eprintln!("mouse scroll {x} {y}"),
        }
    }
}

/// `key 0x1e down`, with ` extended` for E0-prefixed scan codes.
fn log_key(code: u8, state: &str, extended: bool) {
    let extended = if extended { " extended" } else { "" };
    eprintln!("key {code:#04x} {state}{extended}");
}

/// A desktop of one colour, resized when the client asks through display control.
struct SolidColour {
    width: NonZeroU16,
    height: NonZeroU16,
    color: u32,
    /// The size the client asked for last.
    layout: tokio::sync::watch::Sender<Option<(NonZeroU16, NonZeroU16)>>,
}

#[async_trait::async_trait]
impl RdpServerDisplay for SolidColour {
    async fn size(&mut self) -> DesktopSize {
        DesktopSize {
            width: self.width.get(),
            height: self.height.get(),
        }
    }

    async fn updates(&mut self) -> anyhow::Result<Box<dyn RdpServerDisplayUpdates>> {
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Box::new(Frames {
            width: self.width,
            height: self.height,
            color: self.color,
            sent_full: false,
            heartbeat,
            beats: 0,
            layout: self.layout.subscribe(),
        }))
    }

    fn request_layout(&mut self, layout: DisplayControlMonitorLayout) {
        let Some(primary) = layout
            .monitors()
            .iter()
            .find(|monitor| monitor.is_primary())
        else {
            return;
        };
        let (width, height) = primary.dimensions();
        let size = u16::try_from(width)
            .ok()
            .and_then(NonZeroU16::new)
            .zip(u16::try_from(height).ok().and_then(NonZeroU16::new));
        if let Some((width, height)) = size {
            eprintln!("layout {width}x{height}");
            self.width = width;
            self.height = height;
            self.layout.send_replace(Some((width, height)));
        }
    }
}

/// The whole screen first, then every second the bottom-right square, alternately in the
/// colour's complement and in the colour. The server sends only what changed, so an unchanged
/// square would send nothing.
struct Frames {
    width: NonZeroU16,
    height: NonZeroU16,
    color: u32,
    sent_full: bool,
    heartbeat: tokio::time::Interval,
    beats: u64,
    layout: tokio::sync::watch::Receiver<Option<(NonZeroU16, NonZeroU16)>>,
}

#[async_trait::async_trait]
impl RdpServerDisplayUpdates for Frames {
    async fn next_update(&mut self) -> anyhow::Result<Option<DisplayUpdate>> {
        if !self.sent_full {
            self.sent_full = true;
            return Ok(Some(solid(0, 0, self.width, self.height, self.color)));
        }
        // Both are cancel-safe: a tick or a change that completed is not lost.
        tokio::select! {
            _ = self.heartbeat.tick() => {}
            Ok(()) = self.layout.changed() => {
                if let Some((width, height)) = *self.layout.borrow_and_update() {
                    (self.width, self.height) = (width, height);
                    // The whole screen again once the client has the new size.
                    self.sent_full = false;
                    return Ok(Some(DisplayUpdate::Resize(DesktopSize {
                        width: width.get(),
                        height: height.get(),
                    })));
                }
            }
        }
        self.beats += 1;
        let color = if self.beats % 2 == 1 {
            !self.color & 0xFF_FFFF
        } else {
            self.color
        };
        let (width, height) = (
            self.width.min(HEARTBEAT_SIDE),
            self.height.min(HEARTBEAT_SIDE),
        );
        Ok(Some(solid(
            self.width.get() - width.get(),
            self.height.get() - height.get(),
            width,
            height,
            color,
        )))
    }
}

/// A rectangle of one 0xRRGGBB colour.
fn solid(x: u16, y: u16, width: NonZeroU16, height: NonZeroU16, color: u32) -> DisplayUpdate {
    let [_, red, green, blue] = color.to_be_bytes();
    let pixel = [blue, green, red, 0xFF];
    let stride = NonZeroUsize::from(width).saturating_mul(BYTES_PER_PIXEL);
    let data: Vec<u8> = pixel
        .iter()
        .copied()
        .cycle()
        .take(stride.get() * usize::from(height.get()))
        .collect();
    DisplayUpdate::Bitmap(BitmapUpdate {
        x,
        y,
        width,
        height,
        format: PixelFormat::BgrA32,
        data: Bytes::from(data),
        stride,
    })
}
