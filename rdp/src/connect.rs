//! The connection: RDCleanPath with the gateway, CredSSP, then the RDP connection sequence.

use std::net::{Ipv4Addr, SocketAddr};

use ironrdp_async::{Framed, FramedRead, FramedWrite};
use ironrdp_cliprdr::CliprdrClient;
use ironrdp_connector::credssp::CredsspSequence;
use ironrdp_connector::sspi::generator::NetworkRequest;
use ironrdp_connector::{
    BitmapConfig, ClientConnector, ClientConnectorState, ConnectorError, ConnectorErrorKind,
    ConnectorResult, DesktopSize, Sequence as _, ServerName,
};
use ironrdp_core::WriteBuf;
use ironrdp_displaycontrol::client::DisplayControlClient;
use ironrdp_dvc::DrdynvcClient;
use ironrdp_pdu::gcc::{ConnectionType, KeyboardType};
use ironrdp_pdu::nego::FailureCode;
use ironrdp_pdu::rdp::capability_sets::{
    MajorPlatformType, RailSupportLevel, client_codecs_capabilities,
};
use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};
use ironrdp_rdcleanpath::{DetectionResult, RDCleanPathMessage, RDCleanPathPdu};
use x509_cert::der::Decode as _;

use crate::session::Session;
use crate::{ConnectOptions, clipboard};

/// A finished connection.
pub struct Connected {
    /// The live session.
    pub session: Session,
    /// The desktop width the server chose (it may differ from the one asked for).
    pub width: u16,
    /// The desktop height the server chose.
    pub height: u16,
}

/// Why [`connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The gateway refused with an RDCleanPath error (codes in [`protocol::rdp::error_code`]).
    #[error("gateway refused the connection (code {code}, http status {http_status:?})")]
    Gateway {
        /// The RDCleanPath error code.
        code: u16,
        /// The HTTP status the gateway added, if any.
        http_status: Option<u16>,
    },
    /// The remote computer refused the security protocols offered.
    #[error("security negotiation failed: {0}")]
    Negotiation(String),
    /// The remote computer refused the credentials.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// The stream failed or closed early.
    #[error("network: {0}")]
    Network(String),
    /// The peer sent something this client does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl ConnectError {
    /// A sentence for a person.
    pub fn message(&self) -> String {
        match self {
            ConnectError::Gateway { code, http_status } => {
                protocol::rdp::describe_error(*code, *http_status).to_owned()
            }
            ConnectError::Negotiation(detail) => {
                format!("The remote computer refused the connection's security settings: {detail}.")
            }
            ConnectError::AuthenticationFailed(_) => {
                "The user name or password is not correct.".to_owned()
            }
            ConnectError::Network(_) => {
                "The connection to the remote computer was lost.".to_owned()
            }
            ConnectError::Protocol(detail) => {
                format!("The remote computer sent something unexpected ({detail}).")
            }
        }
    }
}

/// The largest RDCleanPath response accepted (a certificate chain fits many times over).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Connects through the gateway on `framed` (a WebSocket to [`protocol::rdp::gateway_path`]).
///
/// Sends the X.224 Connection Request inside an RDCleanPath request whose `proxy_auth` is the
/// ticket, takes the origin's Connection Confirm and certificate chain from the response
/// (the gateway terminates TLS), runs CredSSP when the origin chose HYBRID, with the key of the
/// leaf certificate, then the rest of the connection sequence.
pub async fn connect<S>(
    framed: &mut Framed<S>,
    options: &ConnectOptions,
) -> Result<Connected, ConnectError>
where
    S: FramedRead + FramedWrite,
{
    let queue = clipboard::Queue::default();
    // The gateway dials the origin; the client address the server sees is not ours to know.
    let client_addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let mut connector = ClientConnector::new(config(options)?, client_addr)
        .with_static_channel(CliprdrClient::new(Box::new(clipboard::Backend::new(
            queue.clone(),
        ))))
        .with_static_channel(
            DrdynvcClient::new()
                .with_dynamic_channel(DisplayControlClient::new(|_| Ok(Vec::new()))),
        );

    let mut buf = WriteBuf::new();
    let written = connector
        .step_no_input(&mut buf)
        .map_err(|e| protocol_error("x.224 connection request", &e))?;
    let request_len = written
        .size()
        .ok_or_else(|| ConnectError::Protocol("no x.224 connection request".to_owned()))?;
    let request = RDCleanPathPdu::new_request(
        buf.filled()[..request_len].to_vec(),
        options.destination.clone(),
        options.ticket.clone(),
        None,
    )
    .and_then(|pdu| pdu.to_der())
    .map_err(|e| ConnectError::Protocol(format!("encode rdcleanpath request: {e}")))?;
    framed
        .write_all(&request)
        .await
        .map_err(|e| ConnectError::Network(format!("send rdcleanpath request: {e}")))?;

    let response = framed
        .read_by_hint(&CleanPathHint)
        .await
        .map_err(|e| ConnectError::Network(format!("read rdcleanpath response: {e}")))?;
    let message = RDCleanPathPdu::from_der(&response)
        .map_err(|e| ConnectError::Protocol(format!("decode rdcleanpath response: {e}")))?
        .into_message()
        .map_err(|e| ConnectError::Protocol(format!("rdcleanpath response: {e}")))?;
    let (confirm, chain) = match message {
        RDCleanPathMessage::Response {
            x224_connection_response,
            server_cert_chain,
            ..
        } => (
            x224_connection_response.as_bytes().to_vec(),
            server_cert_chain,
        ),
        RDCleanPathMessage::NegotiationErr {
            x224_connection_response,
        } => {
            // The connector turns the origin's failure code into a precise reason.
            buf.clear();
            return Err(
                match connector.step(&x224_connection_response, None, &mut buf) {
                    Err(error) => classify(&error, Phase::Sequence),
                    Ok(_) => ConnectError::Gateway {
                        code: protocol::rdp::error_code::NEGOTIATION,
                        http_status: None,
                    },
                },
            );
        }
        RDCleanPathMessage::GeneralErr(error) => {
            return Err(ConnectError::Gateway {
                code: error.error_code,
                http_status: error.http_status_code,
            });
        }
        other => {
            return Err(ConnectError::Protocol(format!(
                "unexpected rdcleanpath message: {}",
                message_name(&other)
            )));
        }
    };

    buf.clear();
    connector
        .step(&confirm, None, &mut buf)
        .map_err(|e| classify(&e, Phase::Sequence))?;
    if !connector.should_perform_security_upgrade() {
        return Err(ConnectError::Protocol(
            "the server chose no TLS-based security".to_owned(),
        ));
    }
    let upgraded = ironrdp_async::mark_as_upgraded(
        ironrdp_async::skip_connect_begin(&mut connector),
        &mut connector,
    );

    let leaf = chain
        .first()
        .ok_or_else(|| ConnectError::Protocol("the gateway sent no certificate".to_owned()))?;
    let server_public_key = public_key(leaf.as_bytes())?;
    let server_name = ServerName::new(options.destination.clone());

    if connector.should_perform_credssp() {
        credssp(
            &mut connector,
            framed,
            server_name.clone(),
            server_public_key.clone(),
        )
        .await?;
    }

    let result = ironrdp_async::connect_finalize(
        upgraded,
        connector,
        framed,
        &mut NoNetwork,
        server_name,
        server_public_key,
        None,
    )
    .await
    .and_then(|outcome| outcome.into_connected())
    .map_err(|e| classify(&e, Phase::Sequence))?;

    let width = result.desktop_size.width;
    let height = result.desktop_size.height;
    let session = Session::new(result, queue);
    Ok(Connected {
        session,
        width,
        height,
    })
}

/// The build number reported in the client core data, that of a current Windows 10 client
/// (FreeRDP reports one too).
const CLIENT_BUILD: u32 = 19045;

pub(crate) fn config(options: &ConnectOptions) -> Result<ironrdp_connector::Config, ConnectError> {
    let codecs = client_codecs_capabilities(&[]).map_err(ConnectError::Protocol)?;
    Ok(ironrdp_connector::Config {
        credentials: ironrdp_connector::Credentials::UsernamePassword {
            username: options.credentials.username.clone(),
            password: options.credentials.password.clone(),
        },
        domain: options.credentials.domain.clone(),
        // Both: NLA hosts pick HYBRID, xrdp picks SSL (with HYBRID alone it falls back to
        // Standard RDP Security, which IronRDP refuses).
        enable_tls: true,
        enable_credssp: true,
        enable_standard_rdp_security: false,
        desktop_size: DesktopSize {
            width: options.width.clamp(200, protocol::rdp::MAX_DESKTOP_SIDE),
            height: options.height.clamp(200, protocol::rdp::MAX_DESKTOP_SIDE),
        },
        desktop_scale_factor: 0,
        monitor_layout: None,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        bitmap: Some(BitmapConfig {
            lossy_compression: true,
            color_depth: 32,
            codecs,
        }),
        // Servers gate features on the client's build: xrdp ignores display-control layouts
        // from builds up to 419, so a zero here would leave the desktop at its first size.
        client_build: CLIENT_BUILD,
        client_name: options.client_name.chars().take(15).collect(),
        client_dir: "C:\\Windows\\System32\\mstscax.dll".to_owned(),
        // The server uses its default input locale.
        keyboard_type: KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_layout: 0,
        keyboard_functional_keys_count: 12,
        ime_file_name: String::new(),
        dig_product_id: String::new(),
        connection_type: ConnectionType::Lan,
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: RailSupportLevel::empty(),
        platform: MajorPlatformType::UNSPECIFIED,
        hardware_id: None,
        request_data: None,
        // The password was given already: xrdp then skips its own greeter.
        autologon: true,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        // The page draws the pointer itself, so pointer events carry bitmaps.
        enable_server_pointer: true,
        pointer_software_rendering: false,
        multitransport_flags: None,
        support_dyn_vc_gfx_protocol: false,
    })
}

/// Runs CredSSP; every failure here means the origin refused the credentials (FreeRDP's
/// shadow server just closes the connection on a wrong password).
async fn credssp<S>(
    connector: &mut ClientConnector,
    framed: &mut Framed<S>,
    server_name: ServerName,
    server_public_key: Vec<u8>,
) -> Result<(), ConnectError>
where
    S: FramedRead + FramedWrite,
{
    let ClientConnectorState::Credssp { selected_protocol } = connector.state else {
        return Err(ConnectError::Protocol(
            "credssp asked for in the wrong state".to_owned(),
        ));
    };
    let (sequence, ts_request) = CredsspSequence::init(
        connector.config.credentials.clone(),
        connector.config.domain.as_deref(),
        selected_protocol,
        server_name,
        server_public_key,
        None,
    )
    .map_err(|e| classify(&e, Phase::Credssp))?;
    let mut buf = WriteBuf::new();
    ironrdp_async::perform_credssp(framed, &mut NoNetwork, &mut buf, sequence, ts_request)
        .await
        .map_err(|e| classify(&e, Phase::Credssp))?;
    connector.mark_credssp_as_done();
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Credssp,
    Sequence,
}

fn classify(error: &ConnectorError, phase: Phase) -> ConnectError {
    let detail = error.report().to_string();
    match error.kind() {
        ConnectorErrorKind::Negotiation(failure) => {
            ConnectError::Negotiation(negotiation_reason(failure.code()).to_owned())
        }
        ConnectorErrorKind::Credssp(_) | ConnectorErrorKind::AccessDenied => {
            ConnectError::AuthenticationFailed(detail)
        }
        _ if phase == Phase::Credssp => {
            if is_io(error) && !is_eof(error) {
                ConnectError::Network(detail)
            } else {
                ConnectError::AuthenticationFailed(detail)
            }
        }
        _ if is_io(error) => ConnectError::Network(detail),
        _ => ConnectError::Protocol(detail),
    }
}

fn io_source(error: &ConnectorError) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = cause.source();
    }
    None
}

fn is_io(error: &ConnectorError) -> bool {
    io_source(error).is_some()
}

fn is_eof(error: &ConnectorError) -> bool {
    io_source(error).is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
        )
    })
}

fn negotiation_reason(code: FailureCode) -> &'static str {
    match code {
        FailureCode::SSL_REQUIRED_BY_SERVER => "it requires TLS",
        FailureCode::SSL_NOT_ALLOWED_BY_SERVER => {
            "it only supports the legacy Standard RDP Security, which this client refuses"
        }
        FailureCode::SSL_CERT_NOT_ON_SERVER => "it has no valid TLS certificate",
        FailureCode::HYBRID_REQUIRED_BY_SERVER => "it requires Network Level Authentication",
        FailureCode::SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER => {
            "it requires a TLS client certificate"
        }
        FailureCode::ENTRA_AUTH_REQUIRED_BY_SERVER => "it requires Microsoft Entra ID sign-in",
        _ => "it sent an unknown failure code",
    }
}

fn protocol_error(what: &str, error: &ConnectorError) -> ConnectError {
    ConnectError::Protocol(format!("{what}: {}", error.report()))
}

fn message_name(message: &RDCleanPathMessage) -> &'static str {
    match message {
        RDCleanPathMessage::Request { .. } => "request",
        RDCleanPathMessage::VmConnectRequest { .. } => "vmconnect request",
        RDCleanPathMessage::Response { .. } => "response",
        RDCleanPathMessage::VmConnectResponse { .. } => "vmconnect response",
        RDCleanPathMessage::GeneralErr(_) => "error",
        RDCleanPathMessage::NegotiationErr { .. } => "negotiation error",
    }
}

/// The contents of the leaf certificate's subjectPublicKey BIT STRING, which CredSSP binds to.
fn public_key(certificate: &[u8]) -> Result<Vec<u8>, ConnectError> {
    let certificate = x509_cert::Certificate::from_der(certificate)
        .map_err(|e| ConnectError::Protocol(format!("decode the origin's certificate: {e}")))?;
    certificate
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            ConnectError::Protocol("the origin's public key is not whole bytes".to_owned())
        })
}

/// Frames one RDCleanPath PDU (DER) for [`Framed::read_by_hint`].
#[derive(Debug)]
struct CleanPathHint;

impl ironrdp_pdu::PduHint for CleanPathHint {
    fn find_size(&self, bytes: &[u8]) -> ironrdp_core::DecodeResult<Option<(bool, usize)>> {
        match RDCleanPathPdu::detect(bytes) {
            DetectionResult::Detected { total_length, .. }
                if total_length <= MAX_RESPONSE_BYTES =>
            {
                Ok(Some((true, total_length)))
            }
            DetectionResult::Detected { .. } => Err(ironrdp_core::other_err!(
                "RDCleanPath",
                "response too large"
            )),
            DetectionResult::NotEnoughBytes if bytes.len() < MAX_RESPONSE_BYTES => Ok(None),
            DetectionResult::NotEnoughBytes | DetectionResult::Failed => Err(
                ironrdp_core::other_err!("RDCleanPath", "not an RDCleanPath PDU"),
            ),
        }
    }
}

/// CredSSP calls out to the network only for Kerberos, which this client does not do.
struct NoNetwork;

impl ironrdp_async::NetworkClient for NoNetwork {
    async fn send(&mut self, _request: &NetworkRequest) -> ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!(
            "kerberos is not supported; use a password (NTLM)"
        ))
    }
}
