//! The repository seam itself, on a local folder and on the Garage cluster alike: a backup is
//! invisible until published, published atomically, read back byte for byte, deleted whole;
//! one given up on leaves nothing; and a store that cannot be used says which bucket and
//! endpoint, never the secret.

use std::io::{Read, Write};

use chrono::Utc;
use palmdb::archive::repository::{RepoSpec, Repository, S3Settings};

use crate::common::garage::garage;

fn s3_settings() -> S3Settings {
    let g = garage();
    S3Settings::from_vars(|name| {
        g.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("the Garage env file holds usable settings")
}

fn s3_repo(tag: &str) -> Repository {
    let url = garage().repo_url(tag);
    Repository::open_with(RepoSpec::parse(&url).unwrap(), Some(&s3_settings())).unwrap()
}

/// A manifest the format accepts, for the backup `id`, listing `files` (name, bytes, sha256).
fn manifest_json(id: &str, files: &[(&str, u64, String)]) -> Vec<u8> {
    let now = Utc::now().to_rfc3339();
    let tables: Vec<serde_json::Value> = files
        .iter()
        .map(|(file, bytes, sha)| {
            serde_json::json!({
                "schema": "public", "name": file.replace('.', "_"),
                "columns": [{"name": "id", "type": "integer"}],
                "rows": 0, "file": file, "bytes": bytes, "sha256": sha,
            })
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "format_version": 1, "id": id, "created_at": now, "completed_at": now,
        "database": "t", "server_version": "15", "server_version_num": 150000,
        "schema_version": null, "schema_version_name": null, "tool_version": "test",
        "snapshot_id": "x", "masked": false, "compression": "none",
        "tables": tables, "sequences": [], "total_rows": 0,
        "total_bytes": files.iter().map(|f| f.1).sum::<u64>(),
    }))
    .unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Bytes that do not compress or repeat, so a mix-up of parts would show.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn read_all(repo: &Repository, id: &str, file: &str) -> Vec<u8> {
    let mut out = Vec::new();
    repo.backup(id)
        .open(file)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Writes a backup with a small and a multi-part file and checks every step of its life.
fn life_of_a_backup(repo: &Repository) {
    assert!(repo.backups().unwrap().is_empty());
    let small = pattern(1000, 1);
    // Three parts and a bit: the multipart path, with parts that must stay in order.
    let big = pattern(16 * 1024 * 1024 + 12345, 2);

    let new = repo.create(Utc::now()).unwrap();
    for (name, bytes) in [("small.jsonl", &small), ("big.jsonl", &big)] {
        let mut sink = new.create_file(name).unwrap();
        for chunk in bytes.chunks(100_000) {
            sink.write_all(chunk).unwrap();
        }
        sink.finish().unwrap();
    }
    assert!(
        repo.backups().unwrap().is_empty(),
        "an unpublished backup must not be listed"
    );
    assert!(repo.locate("latest").is_err());
    let files = [
        ("small.jsonl", small.len() as u64, sha256(&small)),
        ("big.jsonl", big.len() as u64, sha256(&big)),
    ];
    let id = new.publish(|id| Ok(manifest_json(id, &files))).unwrap();

    let backups = repo.valid_backups().unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].0.name(), id);
    assert_eq!(backups[0].1.id, id);
    assert_eq!(repo.locate("latest").unwrap().name(), id);
    assert_eq!(repo.locate(&id).unwrap().name(), id);
    assert_eq!(read_all(repo, &id, "small.jsonl"), small);
    assert_eq!(read_all(repo, &id, "big.jsonl"), big);
    let missing = repo.backup(&id).open("nope.jsonl").err().unwrap();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    assert!(repo.backup(&id).open("../escape").is_err());

    // A second backup in the same second gets the next id.
    let again = repo.create(Utc::now()).unwrap();
    let again_id = again.publish(|id| Ok(manifest_json(id, &[]))).unwrap();
    assert_ne!(again_id, id);
    assert_eq!(repo.backups().unwrap().len(), 2);

    // Given up on: nothing stays.
    {
        let failed = repo.create(Utc::now()).unwrap();
        let mut sink = failed.create_file("big.jsonl").unwrap();
        sink.write_all(&big).unwrap();
        drop(sink);
        let mut done = failed.create_file("small.jsonl").unwrap();
        done.write_all(&small).unwrap();
        done.finish().unwrap();
    }
    assert_eq!(repo.backups().unwrap().len(), 2);
    assert!(repo
        .abandoned(std::time::Duration::ZERO)
        .unwrap()
        .is_empty());

    for backup in repo.backups().unwrap() {
        repo.delete(&backup).unwrap();
    }
    assert!(repo.backups().unwrap().is_empty());
    assert!(repo.locate(&id).is_err());
}

#[test]
fn a_local_folder_repository_lives_a_backup_through() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::folder(dir.path().join("backups"));
    life_of_a_backup(&repo);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_s3_repository_on_garage_lives_a_backup_through() {
    let _cluster = garage().shared();
    let repo = s3_repo("life");
    life_of_a_backup(&repo);
}

#[test]
fn a_store_that_cannot_be_used_names_bucket_and_endpoint_never_the_secret() {
    let _cluster = garage().shared();
    let g = garage();
    let endpoint = g.var("AWS_ENDPOINT_URL");
    let with = |overrides: &[(&str, &str)]| {
        S3Settings::from_vars(|name| {
            overrides
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| {
                    g.vars
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                })
        })
        .unwrap()
    };
    let attempt = |url: &str, settings: S3Settings| -> String {
        let repo = Repository::open_with(RepoSpec::parse(url).unwrap(), Some(&settings)).unwrap();
        let err = repo.backups().unwrap_err();
        let hint = palmdb::error::failure_of(&err).and_then(|f| f.hint.clone());
        eprintln!("{}\nHINT: {hint:?}", palmdb::error::one_line(&err));
        palmdb::error::one_line(&err)
    };

    let secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let wrong_key = attempt(
        &format!("s3://{}/x", g.bucket),
        with(&[("AWS_SECRET_ACCESS_KEY", secret)]),
    );
    assert!(
        wrong_key.contains(&g.bucket) && wrong_key.contains(&endpoint),
        "{wrong_key}"
    );
    assert!(wrong_key.contains("refused the credentials"), "{wrong_key}");
    assert!(!wrong_key.contains(secret) && !wrong_key.contains(&g.var("AWS_SECRET_ACCESS_KEY")));

    let wrong_bucket = attempt("s3://no-such-bucket-palmdb/x", with(&[]));
    assert!(
        wrong_bucket.contains("no-such-bucket-palmdb"),
        "{wrong_bucket}"
    );
    assert!(
        wrong_bucket.contains("does not exist") || wrong_bucket.contains("refused"),
        "{wrong_bucket}"
    );

    let closed = "http://127.0.0.1:39199";
    let wrong_endpoint = attempt(
        &format!("s3://{}/x", g.bucket),
        with(&[
            ("AWS_ENDPOINT_URL", closed),
            ("PALMDB_STORE_RETRY_TIMEOUT", "1s"),
        ]),
    );
    assert!(
        wrong_endpoint.contains(closed) && wrong_endpoint.contains("did not answer"),
        "{wrong_endpoint}"
    );
    assert!(!wrong_endpoint.contains(&g.var("AWS_SECRET_ACCESS_KEY")));
}
