//! The multipart uploads a store holds open under a prefix (S3's ListMultipartUploads), which
//! `object_store` does not offer. A writer records each upload in its lease right after
//! starting it; one killed in between leaves an upload nobody recorded, which only the store
//! can name. `prune` asks it, so that no abandoned upload keeps its parts (and its cost).
//!
//! The request is signed with `object_store`'s own SigV4 signer and the same credentials
//! as every other request, and sent path-style, as `object_store` sends them.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use object_store::aws::{AmazonS3, AwsAuthorizer};
use object_store::client::HttpRequestBody;
use object_store::path::Path;
use serde::Deserialize;

use super::s3_settings::S3Settings;

/// Where the bucket's requests go and how they are signed.
#[derive(Clone)]
pub struct BucketEndpoint {
    /// `<endpoint>/<bucket>` (path-style, as `object_store` addresses objects).
    url: String,
    region: String,
    http: reqwest::Client,
}

/// One upload the store holds open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUpload {
    /// The object's key (the full path in the bucket).
    pub key: String,
    pub upload_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    upload: Vec<UploadEntry>,
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
}

impl BucketEndpoint {
    pub fn new(bucket: &str, settings: &S3Settings) -> Result<BucketEndpoint> {
        let base = match &settings.endpoint {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://s3.{}.amazonaws.com", settings.region),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot set up an HTTP client for the store")?;
        Ok(BucketEndpoint {
            url: format!("{base}/{bucket}"),
            region: settings.region.clone(),
            http,
        })
    }

    /// Every multipart upload open under `prefix` (a folder: `<prefix>/` is what is listed);
    /// None when the store will not list uploads (it does not implement the call, or the key
    /// may not use it). A failure that may pass (5xx, no answer) is tried again, twice.
    pub async fn open_uploads(
        &self,
        s3: &AmazonS3,
        prefix: &Path,
    ) -> Result<Option<Vec<StoreUpload>>> {
        let mut pause = Duration::from_secs(1);
        for attempt in 1.. {
            match self.list(s3, prefix).await {
                Ok(found) => return Ok(Some(found)),
                Err(Listing::CannotList(why)) => {
                    tracing::warn!("the store will not list open uploads: {why}");
                    return Ok(None);
                }
                Err(Listing::Failed(e)) if attempt >= TRIES => return Err(e),
                Err(Listing::Failed(_)) => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        unreachable!("the loop returns")
    }

    async fn list(&self, s3: &AmazonS3, prefix: &Path) -> Result<Vec<StoreUpload>, Listing> {
        let folder = format!("{prefix}/");
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = url::Url::parse(&self.url).context("the store's address")?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("prefix", &folder);
                if let Some((key, upload)) = &markers {
                    query.append_pair("key-marker", key);
                    query.append_pair("upload-id-marker", upload);
                }
            }
            // `?uploads` has no value; SigV4 signs it as `uploads=`.
            let query = url.query().unwrap_or_default().to_string();
            url.set_query(Some(&format!("uploads=&{query}")));
            let page = self.page(s3, url.as_str()).await?;
            found.extend(page.upload.into_iter().map(|u| StoreUpload {
                key: u.key,
                upload_id: u.upload_id,
            }));
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(upload)) => markers = Some((key, upload)),
                (true, ..) => {
                    return Err(Listing::Failed(anyhow!(
                        "the store cut the list of uploads short without a marker"
                    )))
                }
                _ => return Ok(found),
            }
        }
    }

    /// One signed GET of a page of the listing.
    async fn page(&self, s3: &AmazonS3, url: &str) -> Result<ListResult, Listing> {
        let credential = s3
            .credentials()
            .get_credential()
            .await
            .context("cannot get the store's credentials")?;
        let mut request = http::Request::get(url)
            .body(HttpRequestBody::empty())
            .context("the store's address")?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .context("cannot sign the request to the store")?;
        let mut sent = self.http.get(url);
        for (name, value) in request.headers() {
            sent = sent.header(name, value);
        }
        let response = sent.send().await.context("the store did not answer")?;
        let status = response.status();
        let body = response.text().await.context("the store's answer")?;
        if !status.is_success() {
            let why = format!("the store answered {status}: {}", first_line(&body));
            return Err(if cannot_list(status) {
                Listing::CannotList(why)
            } else {
                Listing::Failed(anyhow!(why))
            });
        }
        quick_xml::de::from_str(&body)
            .context("the store's answer is not a list of uploads")
            .map_err(Listing::Failed)
    }
}

/// How many times a listing that failed is tried in all.
const TRIES: u32 = 3;

/// Why a listing did not come back.
enum Listing {
    /// The store will not do it for us (not implemented, or not allowed): asking again is
    /// pointless.
    CannotList(String),
    /// Anything else; may pass.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Listing {
    fn from(e: anyhow::Error) -> Listing {
        Listing::Failed(e)
    }
}

/// Answers that mean the store will not list uploads for this key: not implemented (501),
/// not allowed (403, a key without `s3:ListBucketMultipartUploads`), or a method it does not
/// know (405, 400 from stores that take `?uploads` for something else).
fn cannot_list(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 403 | 405 | 501)
}

/// The store's error text, shortened to one line (an XML body with `<Message>` when it has one).
fn first_line(body: &str) -> String {
    let message = body
        .split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map(|(message, _)| message)
        .unwrap_or(body);
    super::object::one_line(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_page_of_uploads_and_its_markers() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>p/20261127T000000Z/b.jsonl.zst</NextKeyMarker>
  <NextUploadIdMarker>u2</NextUploadIdMarker>
  <Prefix>p/20261127T000000Z/</Prefix><MaxUploads>1000</MaxUploads>
  <IsTruncated>true</IsTruncated>
  <Upload><Key>p/20261127T000000Z/a.jsonl.zst</Key><UploadId>u1</UploadId>
    <Initiated>2026-11-27T00:00:00.000Z</Initiated></Upload>
  <Upload><Key>p/20261127T000000Z/b.jsonl.zst</Key><UploadId>u2</UploadId>
    <Initiated>2026-11-27T00:00:01.000Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page: ListResult = quick_xml::de::from_str(xml).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.upload.len(), 2);
        assert_eq!(page.upload[1].key, "p/20261127T000000Z/b.jsonl.zst");
        assert_eq!(page.upload[1].upload_id, "u2");
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("u2"));
    }

    #[test]
    fn an_empty_listing_has_no_uploads() {
        let xml = r#"<ListMultipartUploadsResult><Bucket>b</Bucket>
            <IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#;
        let page: ListResult = quick_xml::de::from_str(xml).unwrap();
        assert!(page.upload.is_empty());
        assert!(!page.is_truncated);
    }

    #[test]
    fn a_refusal_is_final_and_a_server_error_is_tried_again() {
        for code in [400, 403, 405, 501] {
            assert!(
                cannot_list(reqwest::StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [500, 502, 503, 504, 404] {
            assert!(
                !cannot_list(reqwest::StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn an_error_body_becomes_its_message() {
        let body = "<Error><Code>AccessDenied</Code><Message>No such key\nat all</Message></Error>";
        assert_eq!(first_line(body), "No such key at all");
    }
}
