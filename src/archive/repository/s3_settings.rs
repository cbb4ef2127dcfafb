//! How to reach an S3-compatible store, from the standard variables: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`),
//! `AWS_ENDPOINT_URL` (R2, MinIO, Garage...) and `AWS_ALLOW_HTTP` (a plain-HTTP test endpoint),
//! plus `PALMDB_STORE_RETRY_TIMEOUT`, how long transient errors are retried.
//!
//! Secrets are kept in a type that never prints them.

use std::fmt;
use std::time::Duration;

use anyhow::Result;

use crate::error::Failure;

/// Retries of transient errors give up after this long unless PALMDB_STORE_RETRY_TIMEOUT says.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long one attempt to connect to the store may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct S3Settings {
    /// Access key id and secret.
    pub key: Option<(String, Secret)>,
    pub session_token: Option<Secret>,
    pub region: String,
    /// None: AWS itself.
    pub endpoint: Option<String>,
    pub allow_http: bool,
    pub retry_timeout: Duration,
    pub connect_timeout: Duration,
}

/// A value that is never shown.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("key_id", &self.key.as_ref().map(|(id, _)| id))
            .field("region", &self.region)
            .field("endpoint", &self.shown_endpoint())
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Settings {
    /// From the process's environment.
    pub fn from_env() -> Result<S3Settings> {
        S3Settings::from_vars(|name| std::env::var(name).ok())
    }

    /// From variables looked up by name (empty ones count as unset).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<S3Settings> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let endpoint = var("AWS_ENDPOINT_URL").map(|e| e.trim_end_matches('/').to_string());
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_string());
        let allow_http = match var("AWS_ALLOW_HTTP").as_deref() {
            None => false,
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                return Err(Failure::usage(format!(
                    "AWS_ALLOW_HTTP is \"{other}\", not true or false"
                ))
                .into())
            }
        };
        let retry_timeout = match var("PALMDB_STORE_RETRY_TIMEOUT") {
            None => DEFAULT_RETRY_TIMEOUT,
            Some(text) => crate::duration::parse(&text).map_err(|e| {
                Failure::usage(format!("PALMDB_STORE_RETRY_TIMEOUT: {e}"))
                    .with_hint("a duration such as 30s or 3m")
            })?,
        };
        let settings = S3Settings {
            key: None,
            session_token: var("AWS_SESSION_TOKEN").map(Secret),
            region,
            endpoint,
            allow_http,
            retry_timeout,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        };
        let shown = settings.shown_endpoint();
        let key = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some((id, Secret(secret))),
            (None, None) => None,
            _ => {
                return Err(Failure::usage(format!(
                    "incomplete credentials for {shown}: AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY must both be set"
                ))
                .with_hint("export both (and AWS_SESSION_TOKEN for temporary credentials)")
                .into())
            }
        };
        if let Some(url) = &settings.endpoint {
            let parsed = url::Url::parse(url).map_err(|e| {
                Failure::usage(format!("AWS_ENDPOINT_URL \"{url}\" is not a URL: {e}")).with_hint(
                    "e.g. https://<account>.r2.cloudflarestorage.com or http://127.0.0.1:3900",
                )
            })?;
            if parsed.scheme() == "http" && !allow_http {
                return Err(Failure::usage(format!(
                    "AWS_ENDPOINT_URL {url} is plain HTTP: credentials and backups would cross \
                     the network unencrypted"
                ))
                .with_hint(
                    "use https://, or set AWS_ALLOW_HTTP=true for a test store on a trusted network",
                )
                .into());
            }
            if key.is_none() {
                return Err(Failure::usage(format!(
                    "no credentials for {url}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
                ))
                .with_hint("export the access key's id and secret")
                .into());
            }
        }
        Ok(S3Settings { key, ..settings })
    }

    /// The same store for a caller that must answer within a deadline (`serve`): a store
    /// that does not answer is given up after about `budget` (retries and connecting), not
    /// after minutes, so one unreachable repository cannot hold up the others.
    pub fn within(mut self, budget: Duration) -> S3Settings {
        self.retry_timeout = self.retry_timeout.min(budget);
        self.connect_timeout = self.connect_timeout.min(budget);
        self
    }

    /// The endpoint, as errors name it.
    pub fn shown_endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<S3Settings> {
        S3Settings::from_vars(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn reads_the_standard_variables_and_never_shows_the_secret() {
        let settings = from(&[
            ("AWS_ACCESS_KEY_ID", "GKabc"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
            ("AWS_REGION", "garage"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:39110/"),
            ("AWS_ALLOW_HTTP", "true"),
        ])
        .unwrap();
        assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:39110"));
        assert_eq!(settings.region, "garage");
        assert!(settings.allow_http);
        assert!(!format!("{settings:?}").contains("very-secret-value"));
    }

    #[test]
    fn refuses_half_credentials_and_plain_http_unless_allowed() {
        let err = from(&[("AWS_ACCESS_KEY_ID", "GKabc")]).unwrap_err();
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
        let err = from(&[
            ("AWS_ACCESS_KEY_ID", "GKabc"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL", "http://10.0.0.1:3900"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("plain HTTP"), "{err}");
        assert!(from(&[("AWS_ALLOW_HTTP", "maybe")]).is_err());
    }

    #[test]
    fn within_a_budget_gives_up_sooner_never_later() {
        let settings = from(&[]).unwrap();
        assert_eq!(settings.retry_timeout, DEFAULT_RETRY_TIMEOUT);
        let quick = settings.clone().within(Duration::from_secs(2));
        assert_eq!(quick.retry_timeout, Duration::from_secs(2));
        assert_eq!(quick.connect_timeout, Duration::from_secs(2));
        let roomy = settings.within(Duration::from_secs(3600));
        assert_eq!(roomy.retry_timeout, DEFAULT_RETRY_TIMEOUT);
        assert_eq!(roomy.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }
}
