//! Credentials for requests made on a person's behalf: explicit ones (a Service token), the
//! cached CLI Session token, or a browser sign-in when there is none or the server stopped
//! accepting it.

use std::future::Future;
use std::sync::Arc;

use crate::credentials::TokenCache;
use crate::login::login;
use crate::upstream::{Credentials, RequestError, Upstream};

/// Where requests get their credentials from.
pub struct SignIn {
    upstream: Arc<Upstream>,
    explicit: Option<Credentials>,
    no_browser: bool,
    /// What waits while the person signs in, for the message ("the connection").
    waiting: &'static str,
    /// One browser sign-in at a time; concurrent requests wait for it instead of failing.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl SignIn {
    /// Credentials for requests to `upstream`; `explicit` ones (a Service token) skip sign-in.
    pub fn new(
        upstream: Arc<Upstream>,
        explicit: Option<Credentials>,
        no_browser: bool,
        waiting: &'static str,
    ) -> SignIn {
        SignIn {
            upstream,
            explicit,
            no_browser,
            waiting,
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// The server.
    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    /// The explicit credentials, else the cached token unless it is `stale`, else a new sign-in.
    async fn credentials(&self, stale: Option<&str>) -> anyhow::Result<Credentials> {
        if let Some(explicit) = &self.explicit {
            return Ok(explicit.clone());
        }
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let cache = TokenCache::open()?;
        if let Some(cached) = cache.get(self.upstream.server()) {
            // Another request may have signed in while this one waited for the lock.
            if Some(cached.token.as_str()) != stale {
                return Ok(Credentials::Session(cached.token));
            }
            cache.remove(self.upstream.server())?;
        }
        if stale.is_none() {
            eprintln!(
                "postern: not signed in to {}; signing in now ({} waits)",
                self.upstream.server(),
                self.waiting
            );
        }
        // A fresh error, not the failed request's: callers that explain refusals of their own
        // request must not mistake a failed sign-in for one.
        let token = login(&self.upstream, self.no_browser)
            .await
            .map_err(|error| {
                let server = self.upstream.server().as_str().trim_end_matches('/');
                anyhow::anyhow!("not signed in to {server}: {error:#}")
            })?;
        Ok(Credentials::Session(token.token))
    }

    /// Runs `request` with credentials. When the server answers 401 to a cached Session token
    /// (expired or revoked), the person signs in again and `request` runs once more. A refusal
    /// comes back as a [`RequestError`] inside the error, for callers that explain it.
    pub async fn send<T, F, Fut>(&self, mut request: F) -> anyhow::Result<T>
    where
        F: FnMut(Credentials) -> Fut,
        Fut: Future<Output = Result<T, RequestError>>,
    {
        let mut credentials = self.credentials(None).await?;
        let mut signed_in_again = false;
        loop {
            let error = match request(credentials.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            match (&error, &credentials) {
                (RequestError::Refused { status: 401, .. }, Credentials::Session(stale))
                    if !signed_in_again =>
                {
                    let stale = stale.clone();
                    credentials = self.credentials(Some(&stale)).await?;
                    signed_in_again = true;
                }
                _ => return Err(error.into()),
            }
        }
    }
}
