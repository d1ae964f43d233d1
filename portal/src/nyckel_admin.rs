//! The one tenant-administrator call the portal makes: unblocking a device
//! (`POST /v1/admin/devices/{id}/unblock`, docs/PROTOCOL.md §7.4), which the relying-party API
//! does not offer. Used only when the portal is given a `tadm_…` token of its tenant.

use std::time::Duration;

use crate::nyckel::RpError;

/// A client with a tenant administrator's token.
#[derive(Clone)]
pub struct TenantAdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl TenantAdminClient {
    /// A client of the server at `base` with `token` (`tadm_…`).
    pub fn new(base: &str, token: &str) -> Result<Self, RpError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), token: token.trim().to_owned() })
    }

    /// Unblocks `device` (state active, PIN-failure count 0).
    pub async fn unblock_device(&self, device: &str) -> Result<(), RpError> {
        let id = percent_encoding::utf8_percent_encode(device, percent_encoding::NON_ALPHANUMERIC);
        let url = format!("{}/v1/admin/devices/{id}/unblock", self.base);
        let response = self.http.post(url).bearer_auth(&self.token).send().await?;
        if !response.status().is_success() {
            return Err(RpError::Api { status: response.status().as_u16(), code: String::new() });
        }
        Ok(())
    }
}
