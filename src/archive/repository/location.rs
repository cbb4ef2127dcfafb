//! What a `--repo` value names: a local folder (a path, or `file:///path`) or a prefix in an
//! S3-compatible bucket (`s3://bucket/prefix`).

use std::path::PathBuf;

use anyhow::Result;

use crate::error::Failure;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoSpec {
    Folder(PathBuf),
    /// `prefix` has no leading or trailing `/`, and may be empty (the bucket's root).
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl RepoSpec {
    pub fn parse(text: &str) -> Result<RepoSpec> {
        if text.is_empty() {
            return Err(Failure::usage("the repository is empty")
                .with_hint("pass --repo PATH or --repo s3://bucket/prefix")
                .into());
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(RepoSpec::Folder(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                let url = url::Url::parse(text).map_err(|e| bad(text, &e.to_string()))?;
                if url
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return Err(bad(
                        text,
                        "a file:// URL names a folder on this machine: file:///path",
                    ));
                }
                url.to_file_path()
                    .map(RepoSpec::Folder)
                    .map_err(|_| bad(text, "not an absolute path"))
            }
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if !valid_bucket(bucket) {
                    return Err(bad(
                        text,
                        "the bucket name must be 3-63 characters: lowercase letters, digits, \
                         dots and hyphens",
                    ));
                }
                let prefix = prefix.trim_matches('/');
                if prefix.split('/').any(|part| part == "." || part == "..")
                    || prefix.contains("//")
                {
                    return Err(bad(text, "the prefix must be plain names separated by /"));
                }
                Ok(RepoSpec::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.to_string(),
                })
            }
            other => Err(
                Failure::usage(format!("repository {text}: {other}:// is not supported"))
                    .with_hint(
                        "use a path, file:///path or s3://bucket/prefix (any S3-compatible store)",
                    )
                    .into(),
            ),
        }
    }
}

fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
}

fn bad(text: &str, why: &str) -> anyhow::Error {
    Failure::usage(format!("repository {text}: {why}"))
        .with_hint("use a path, file:///path or s3://bucket/prefix")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_file_urls_and_s3_urls() {
        assert_eq!(
            RepoSpec::parse("backups").unwrap(),
            RepoSpec::Folder("backups".into())
        );
        assert_eq!(
            RepoSpec::parse("/var/backups/palm").unwrap(),
            RepoSpec::Folder("/var/backups/palm".into())
        );
        assert_eq!(
            RepoSpec::parse("file:///var/backups/palm").unwrap(),
            RepoSpec::Folder("/var/backups/palm".into())
        );
        assert_eq!(
            RepoSpec::parse("s3://palm-backups/prod/db1/").unwrap(),
            RepoSpec::S3 {
                bucket: "palm-backups".into(),
                prefix: "prod/db1".into()
            }
        );
        assert_eq!(
            RepoSpec::parse("s3://palm-backups").unwrap(),
            RepoSpec::S3 {
                bucket: "palm-backups".into(),
                prefix: String::new()
            }
        );
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for bad in [
            "",
            "gs://bucket/x",
            "s3://Bad_Bucket/x",
            "s3://ab/x",
            "s3://bucket/a/../b",
            "file://otherhost/x",
        ] {
            assert!(RepoSpec::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
