//! OIDC sign-in: discovery, the authorization request (code flow with PKCE, `state`, `nonce`)
//! and the code exchange with full ID-token validation.
//!
//! Each configured provider gets its own HTTP client (its own extra CA, no redirects) and a
//! discovery document cached for a few minutes, so a provider that is down at start does not
//! stop the server and a rotated signing key is picked up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    JwsSigningAlgorithm, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, TokenResponse,
};
use protocol::api::Role;
use tokio::sync::RwLock;

use crate::config::OidcProviderConfig;
use crate::store::OidcIdentity;

/// How long a discovery document (and its JWKS) is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// Bound on each request to a provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an OIDC sign-in failed. Messages are safe to show; details go to the log.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery or the token endpoint could not be reached.
    #[error("the identity provider could not be reached")]
    Unreachable(#[source] anyhow::Error),
    /// The provider answered with an error.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed validation.
    #[error("{0}")]
    InvalidIdToken(&'static str, #[source] anyhow::Error),
    /// The configuration cannot work (for example a bad redirect URI).
    #[error("the identity provider is misconfigured")]
    Misconfigured(#[source] anyhow::Error),
}

/// What `begin` hands back: where to send the browser, and the secrets to keep server-side.
#[derive(Debug)]
pub struct Authorization {
    /// The provider's authorization URL with all parameters.
    pub url: url::Url,
    /// The `state` sent.
    pub state: String,
    /// The nonce sent.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub pkce_verifier: String,
}

/// One configured provider.
pub struct OidcProvider {
    config: OidcProviderConfig,
    client_secret: Option<String>,
    redirect_uri: RedirectUrl,
    http: reqwest::Client,
    discovery: RwLock<Option<(Instant, CoreProviderMetadata)>>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client secret stays out of debug output.
        formatter
            .debug_struct("OidcProvider")
            .field("id", &self.config.id)
            .finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// Prepares a provider; `public_origin` is where the browser returns.
    pub fn new(config: OidcProviderConfig, public_origin: &str) -> anyhow::Result<OidcProvider> {
        use anyhow::Context;
        let client_secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let redirect_uri = RedirectUrl::new(format!(
            "{public_origin}{}",
            protocol::routes::oidc_callback(&config.id)
        ))
        .context("redirect uri")?;
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = &config.ca_file {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let certs: Vec<_> = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<_, _>>())
                .with_context(|| format!("cannot read ca_file {}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            anyhow::ensure!(added > 0, "no certificate in ca_file {}", path.display());
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("tls versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // Following redirects from a token endpoint is an SSRF vector (openidconnect's own
            // advice).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(PROVIDER_TIMEOUT)
            .build()
            .context("http client")?;
        Ok(OidcProvider {
            config,
            client_secret,
            redirect_uri,
            http,
            discovery: RwLock::new(None),
        })
    }

    /// The provider's configuration.
    pub fn config(&self) -> &OidcProviderConfig {
        &self.config
    }

    /// The redirect URI to register with the provider.
    pub fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_str()
    }

    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        if !refresh
            && let Some((fetched, metadata)) = &*self.discovery.read().await
            && fetched.elapsed() < DISCOVERY_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|error| OidcError::Misconfigured(error.into()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| {
                match error {
                    openidconnect::DiscoveryError::Request(_) => {
                        OidcError::Unreachable(anyhow::Error::new(error))
                    }
                    // It answered, but not with a usable document for this issuer.
                    other => OidcError::Misconfigured(anyhow::Error::new(other)),
                }
            })?;
        *self.discovery.write().await = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_uri.clone())
    }

    /// Builds the authorization request.
    pub async fn begin(&self) -> Result<Authorization, OidcError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.config.scopes.iter().filter(|scope| *scope != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Authorization {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` and validates the ID token against `nonce`; returns who signed in.
    pub async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let metadata = self.metadata(false).await?;
        let token_response = {
            let client = self.client(metadata.clone());
            let request = client
                .exchange_code(AuthorizationCode::new(code.to_owned()))
                .map_err(|error| OidcError::Misconfigured(error.into()))?
                .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
            request
                .request_async(&self.http)
                .await
                .map_err(|error| match error {
                    RequestTokenError::ServerResponse(response) => {
                        OidcError::Refused(response.error().to_string())
                    }
                    RequestTokenError::Request(error) => OidcError::Unreachable(error.into()),
                    other => OidcError::Refused(format!("unexpected token response ({other})")),
                })?
        };
        let id_token = token_response.id_token().ok_or_else(|| {
            OidcError::Refused("the token response carries no ID token".to_owned())
        })?;
        let nonce = Nonce::new(nonce.to_owned());
        let verified = {
            let client = self.client(metadata.clone());
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(allowed_algs(&metadata));
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verified {
            Ok(claims) => claims,
            // A key the cached JWKS lacks may be a rotation: fetch discovery again, once.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let metadata = self.metadata(true).await?;
                let client = self.client(metadata.clone());
                let verifier = client
                    .id_token_verifier()
                    .set_allowed_algs(allowed_algs(&metadata));
                id_token
                    .claims(&verifier, &nonce)
                    .map_err(describe)?
                    .clone()
            }
            Err(error) => return Err(describe(error)),
        };
        // The payload is trusted now that its signature and claims checked out; read the
        // configured groups claim from it, which the typed claims do not model.
        let payload = raw_payload(&id_token.to_string()).map_err(|error| {
            OidcError::InvalidIdToken("the ID token's payload could not be read", error)
        })?;
        let groups = groups_from(&payload, &self.config.groups_claim);
        let email = claims.email().map(|email| email.as_str().to_owned());
        let name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned());
        let preferred = claims
            .preferred_username()
            .map(|name| name.as_str().to_owned());
        let subject = claims.subject().as_str().to_owned();
        let username = preferred
            .or_else(|| email.clone())
            .unwrap_or_else(|| subject.clone());
        let role = if groups
            .iter()
            .any(|group| self.config.admin_groups.contains(group))
        {
            Role::Admin
        } else {
            Role::User
        };
        Ok(OidcIdentity {
            provider: self.config.id.clone(),
            subject,
            name: name.unwrap_or_else(|| username.clone()),
            username,
            email,
            groups,
            role,
            claims: crate::ssh::principals::string_claims(&payload),
        })
    }
}

/// Asymmetric algorithms the provider advertises; never `none`, never a shared-secret MAC (a
/// client secret must not be able to mint ID tokens).
fn allowed_algs(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    let advertised: Vec<_> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| **alg != CoreJwsSigningAlgorithm::None && !alg.uses_shared_secret())
        .cloned()
        .collect();
    if advertised.is_empty() {
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    } else {
        advertised
    }
}

fn describe(error: ClaimsVerificationError) -> OidcError {
    let message = match &error {
        ClaimsVerificationError::Expired(_) => "the ID token has expired",
        ClaimsVerificationError::InvalidAudience(_) => "the ID token was issued for another client",
        ClaimsVerificationError::InvalidIssuer(_) => "the ID token was issued by another issuer",
        ClaimsVerificationError::InvalidNonce(_) => {
            "the ID token's nonce does not match this sign-in"
        }
        ClaimsVerificationError::SignatureVerification(_) => {
            "the ID token's signature is not valid"
        }
        _ => "the ID token is not valid",
    };
    OidcError::InvalidIdToken(message, anyhow::Error::new(error))
}

fn raw_payload(jwt: &str) -> anyhow::Result<serde_json::Value> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("not a JWS"))?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Groups from `claim`: an array of strings, or one string; anything else is no groups.
/// A dotted name (`realm_access.roles`) walks into nested objects.
pub fn groups_from(payload: &serde_json::Value, claim: &str) -> Vec<String> {
    let value = payload.get(claim).or_else(|| {
        claim
            .split('.')
            .try_fold(payload, |value, segment| value.get(segment))
    });
    match value {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .take(256)
            .collect(),
        Some(serde_json::Value::String(group)) => vec![group.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_claim_shapes() {
        let payload = json!({
            "groups": ["admins", "ops", 7],
            "single": "devs",
            "realm_access": {"roles": ["r1"]},
            "odd": {"x": 1}
        });
        assert_eq!(groups_from(&payload, "groups"), ["admins", "ops"]);
        assert_eq!(groups_from(&payload, "single"), ["devs"]);
        assert_eq!(groups_from(&payload, "realm_access.roles"), ["r1"]);
        assert!(groups_from(&payload, "odd").is_empty());
        assert!(groups_from(&payload, "missing").is_empty());
    }

    #[test]
    fn raw_payload_reads_the_middle_segment() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"a"}"#);
        assert_eq!(raw_payload(&format!("h.{payload}.s")).unwrap()["sub"], "a");
        assert!(raw_payload("nodots").is_err());
        assert!(raw_payload("a.!!!.c").is_err());
    }
}
