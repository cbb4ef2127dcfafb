//! Backups on S3-compatible object storage, end to end with the real binary against the real
//! Garage cluster `scripts/ensure-garage.sh` runs (3 nodes in 3 zones, replication factor 3):
//! every type through S3 and back, a copy from a folder to S3, an encrypted round trip and the
//! wrong key refused, status across repositories, serve reporting each one; and real faults —
//! the backup SIGKILLed mid-upload, one storage node stopped mid-backup, then two.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::garage::garage;
use crate::common::serve::ServeProcess;
use crate::common::{
    assert_exit, assert_success, palmdb_command, stderr, stdout, take_backup_with, TestDb,
};
use crate::restore_support::*;
use age::secrecy::ExposeSecret;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use palmdb::archive::repository::{RepoSpec, Repository, S3Settings};
use serde_json::Value;

const EVERY_TYPE_SCHEMA: &str = include_str!("../fixtures/every_type_schema.sql");
const EVERY_TYPE_ROWS: &str = include_str!("../fixtures/every_type_rows.sql");

/// A repository prefix of one test in the test bucket, emptied when the test ends.
struct S3Repo {
    url: String,
    prefix: String,
}

impl S3Repo {
    fn new(tag: &str) -> S3Repo {
        let url = garage().repo_url(tag);
        let prefix = url
            .split_once(&format!("{}/", garage().bucket))
            .unwrap()
            .1
            .to_string();
        S3Repo { url, prefix }
    }

    /// The seam, as the binary opens it.
    fn repository(&self) -> Repository {
        Repository::open_with(RepoSpec::parse(&self.url).unwrap(), Some(&settings())).unwrap()
    }

    /// Every object under the prefix: key below the prefix, size.
    fn objects(&self) -> Vec<(String, u64)> {
        let store = store();
        let prefix = ObjectPath::from(self.prefix.as_str());
        let listed = common::block_on(async move {
            use futures_util::TryStreamExt;
            store
                .list(Some(&prefix))
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
        });
        let mut objects: Vec<(String, u64)> = listed
            .into_iter()
            .map(|m| {
                let key = m.location.to_string();
                (key[self.prefix.len() + 1..].to_string(), m.size)
            })
            .collect();
        objects.sort();
        objects
    }

    /// The object's bytes, or None when it is not there (any more).
    fn try_get(&self, key: &str) -> Option<Vec<u8>> {
        let store = store();
        let path = ObjectPath::from(format!("{}/{key}", self.prefix));
        common::block_on(
            async move { Some(store.get(&path).await.ok()?.bytes().await.ok()?.to_vec()) },
        )
    }

    fn get(&self, key: &str) -> Vec<u8> {
        let store = store();
        let path = ObjectPath::from(format!("{}/{key}", self.prefix));
        common::block_on(async move {
            store
                .get(&path)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec()
        })
    }

    fn put(&self, key: &str, bytes: Vec<u8>) {
        let store = store();
        let path = ObjectPath::from(format!("{}/{key}", self.prefix));
        common::block_on(async move {
            store.put(&path, bytes.into()).await.unwrap();
        });
    }

    fn delete(&self, key: &str) {
        let store = store();
        let path = ObjectPath::from(format!("{}/{key}", self.prefix));
        common::block_on(async move {
            store.delete(&path).await.unwrap();
        });
    }
}

impl Drop for S3Repo {
    fn drop(&mut self) {
        // Best effort, and never a panic (the store may be down if the test failed).
        let client = store();
        let prefix = ObjectPath::from(self.prefix.as_str());
        let listed = common::block_on(async move {
            use futures_util::TryStreamExt;
            client.list(Some(&prefix)).try_collect::<Vec<_>>().await
        });
        let Ok(listed) = listed else { return };
        for key in listed.into_iter().map(|m| m.location) {
            let store = store();
            common::block_on(async move {
                let _ = store.delete(&key).await;
            });
        }
    }
}

fn settings() -> S3Settings {
    let g = garage();
    S3Settings::from_vars(|name| {
        g.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

/// A client of the test bucket of its own, to look at and damage what palmdb stored.
fn store() -> AmazonS3 {
    let g = garage();
    AmazonS3Builder::new()
        .with_bucket_name(&g.bucket)
        .with_region(g.var("AWS_REGION"))
        .with_endpoint(g.var("AWS_ENDPOINT_URL"))
        .with_allow_http(true)
        .with_access_key_id(g.var("AWS_ACCESS_KEY_ID"))
        .with_secret_access_key(g.var("AWS_SECRET_ACCESS_KEY"))
        .build()
        .unwrap()
}

/// `palmdb` against `db`, with the store's credentials in its environment.
fn palmdb(db: &TestDb, args: &[&str]) -> Output {
    command(db, args).output().expect("run palmdb")
}

fn command(db: &TestDb, args: &[&str]) -> Command {
    let mut cmd = db.command(args);
    garage().apply(&mut cmd);
    cmd
}

/// `backup create` into `repo`; returns the backup's id.
fn create(db: &TestDb, repo: &str, extra: &[&str]) -> String {
    let mut args = vec!["backup", "create", "--repo", repo];
    args.extend_from_slice(extra);
    take_backup_with(command(db, &args)).id
}

fn list_ids(db: &TestDb, repo: &str) -> Vec<String> {
    let out = palmdb(db, &["backup", "list", "--repo", repo, "--json"]);
    assert_success(&out);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

/// A database of every type and a schema that is not Palm's (partitions, domains, enums,
/// triggers, sequences without OWNED BY, odd names).
fn rich_source(tag: &str) -> TestDb {
    let db = TestDb::foreign(tag);
    db.execute(EVERY_TYPE_SCHEMA);
    db.execute(EVERY_TYPE_ROWS);
    db
}

/// A database with one table big enough (tens of MB compressed) that its upload takes
/// several multipart parts and some seconds.
fn big_source(tag: &str, rows: u32) -> TestDb {
    let db = TestDb::new(tag);
    db.execute(&format!(
        "CREATE TABLE big (id integer PRIMARY KEY, a text, b text);
         INSERT INTO big
         SELECT g, md5(random()::text) || md5(random()::text), md5(random()::text) || md5(random()::text)
         FROM generate_series(1, {rows}) AS g;
         CREATE TABLE small (id serial PRIMARY KEY, note text);
         INSERT INTO small (note) SELECT 'n' || g FROM generate_series(1, 100) AS g;"
    ));
    db
}

/// Waits until `repo` holds an unfinished backup whose lease lists a multipart upload (the
/// backup is mid-upload and has written that down), or panics after `within`.
fn wait_mid_upload(repo: &S3Repo, child: &mut std::process::Child, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the backup ended ({status}) before it was caught mid-upload");
        }
        let unfinished = repo.repository().unfinished().unwrap();
        let recorded = |name: &str| {
            let lease = repo
                .try_get(&format!("{name}/.in-progress"))
                .unwrap_or_default();
            serde_json::from_slice::<Value>(&lease).is_ok_and(|lease| {
                lease["uploads"]
                    .as_array()
                    .is_some_and(|uploads| !uploads.is_empty())
            })
        };
        if unfinished
            .iter()
            .any(|u| u.open_uploads > 0 && recorded(&u.name))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no upload started within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn key_pair(dir: &Path) -> (PathBuf, PathBuf, String) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let recipients = dir.join("recipients.txt");
    std::fs::write(&recipients, format!("# the ops team\n{public}\n")).unwrap();
    let key = dir.join("key.txt");
    std::fs::write(
        &key,
        format!(
            "# created for a test\n{}\n",
            identity.to_string().expose_secret()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (recipients, key, public)
}

#[test]
fn every_type_round_trips_through_s3() {
    let _cluster = garage().shared();
    let repo = S3Repo::new("types");
    let source = rich_source("s3_types_src");
    let id = create(&source, &repo.url, &["--jobs", "2"]);

    // Stored as in a folder: one object per file under <prefix>/<id>/, the manifest among
    // them, and no lease left behind.
    let objects = repo.objects();
    assert!(objects
        .iter()
        .any(|(k, _)| *k == format!("{id}/manifest.json")));
    assert!(objects
        .iter()
        .any(|(k, _)| *k == format!("{id}/schema.dump")));
    assert!(objects
        .iter()
        .all(|(k, _)| k.starts_with(&format!("{id}/"))));
    assert!(!objects.iter().any(|(k, _)| k.ends_with(".in-progress")));
    assert_eq!(list_ids(&source, &repo.url), std::slice::from_ref(&id));

    let out = palmdb(
        &source,
        &[
            "backup",
            "verify",
            "latest",
            "--repo",
            &repo.url,
            "--restore-test",
        ],
    );
    let text = assert_exit(&out, 0);
    assert!(text.contains("OK: backup"), "{text}");

    let target = TestDb::new("s3_types_dst");
    let out = palmdb(&target, &["restore", &id, "--repo", &repo.url, "--json"]);
    assert_success(&out);
    assert_same_data(&source, &target);
    // Values that only survive an exact round trip.
    for sql in [
        "SELECT j FROM every_type WHERE id = 1",
        "SELECT f8::text FROM every_type WHERE id = 2",
        "SELECT b::text FROM every_type WHERE id = 5",
    ] {
        assert_eq!(target.scalar(sql), source.scalar(sql), "{sql}");
    }

    // PALMDB_REPO names the repository when no --repo is given.
    let out = command(&source, &["backup", "list", "--json"])
        .env("PALMDB_REPO", &repo.url)
        .output()
        .unwrap();
    assert_success(&out);
    assert!(stdout(&out).contains(&id));
}

#[test]
fn a_backup_copied_from_a_folder_to_s3_restores_and_a_second_copy_is_skipped() {
    let _cluster = garage().shared();
    let repo = S3Repo::new("copy");
    let source = rich_source("s3_copy_src");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().to_str().unwrap();
    let first = create(&source, local, &[]);
    std::thread::sleep(Duration::from_millis(1100));
    let second = create(&source, local, &[]);

    let out = palmdb(
        &source,
        &[
            "backup", "copy", "latest", "--from", local, "--to", &repo.url, "--json",
        ],
    );
    assert_success(&out);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["copied"][0]["id"], second.as_str());
    // The manifest is the source's, byte for byte.
    assert_eq!(
        repo.get(&format!("{second}/manifest.json")),
        std::fs::read(dir.path().join(&second).join("manifest.json")).unwrap()
    );

    // --all copies what is missing and skips what is there.
    let out = palmdb(
        &source,
        &[
            "backup", "copy", "--all", "--from", local, "--to", &repo.url, "--json",
        ],
    );
    assert_success(&out);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["copied"][0]["id"], first.as_str());
    assert_eq!(report["skipped"][0], second.as_str());
    assert_eq!(
        list_ids(&source, &repo.url),
        [second.clone(), first.clone()]
    );

    // Restored from the copy, on a machine that never saw the folder.
    let target = TestDb::new("s3_copy_dst");
    assert_success(&palmdb(
        &target,
        &["restore", "latest", "--repo", &repo.url],
    ));
    assert_same_data(&source, &target);

    // A damaged source file stops the copy, and nothing of it is published at the target.
    std::thread::sleep(Duration::from_millis(1100));
    let third = create(&source, local, &[]);
    let folder = dir.path().join(&third);
    let file = table_file(&folder, "every_type");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let out = palmdb(
        &source,
        &["backup", "copy", &third, "--from", local, "--to", &repo.url],
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("does not match"), "{}", stderr(&out));
    assert!(!list_ids(&source, &repo.url).contains(&third));
    assert!(
        !repo.objects().iter().any(|(k, _)| k.starts_with(&third)),
        "{:?}",
        repo.objects()
    );
}

#[test]
fn an_encrypted_backup_round_trips_through_s3_and_the_wrong_key_is_refused() {
    let _cluster = garage().shared();
    let repo = S3Repo::new("encrypted");
    let keys = tempfile::tempdir().unwrap();
    let (recipients, key, public) = key_pair(keys.path());
    let other = tempfile::tempdir().unwrap();
    let (_, wrong_key, _) = key_pair(other.path());
    let source = rich_source("s3_enc_src");
    let id = create(
        &source,
        &repo.url,
        &["--encrypt-to", recipients.to_str().unwrap()],
    );

    // The manifest stays readable: it says encrypted, to whom, and holds no secret.
    let manifest: Value =
        serde_json::from_slice(&repo.get(&format!("{id}/manifest.json"))).unwrap();
    assert_eq!(manifest["encryption"]["format"], "age");
    assert_eq!(manifest["encryption"]["recipients"][0], public.as_str());
    assert_eq!(manifest["format_version"], 3);
    let key_text = std::fs::read_to_string(&key).unwrap();
    let secret_line = key_text.lines().last().unwrap();
    assert!(!serde_json::to_string(&manifest)
        .unwrap()
        .contains(secret_line));
    // Every file is an age file; no row is readable in it.
    for table in manifest["tables"].as_array().unwrap() {
        let stored = repo.get(&format!("{id}/{}", table["file"].as_str().unwrap()));
        assert!(stored.starts_with(b"age-encryption.org/v1"));
        assert!(!String::from_utf8_lossy(&stored).contains("complicated"));
    }
    assert!(repo
        .get(&format!("{id}/schema.dump"))
        .starts_with(b"age-encryption.org/v1"));

    // list, status and a hash-only verify need no key.
    let out = palmdb(&source, &["backup", "list", "--repo", &repo.url]);
    assert_success(&out);
    assert!(stdout(&out).contains(&id));
    assert_exit(
        &palmdb(&source, &["backup", "status", "--repo", &repo.url]),
        0,
    );
    let out = palmdb(&source, &["backup", "verify", &id, "--repo", &repo.url]);
    let text = assert_exit(&out, 0);
    assert!(text.contains("encrypted: pass --identity"), "{text}");
    let out = palmdb(
        &source,
        &[
            "backup",
            "verify",
            &id,
            "--repo",
            &repo.url,
            "--restore-test",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    let text = assert_exit(&out, 0);
    assert!(text.contains("every line is a valid row"), "{text}");

    // Without the key, or with another one: one clear line, and the target untouched.
    let target = TestDb::new("s3_enc_dst");
    let out = palmdb(&target, &["restore", &id, "--repo", &repo.url]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("is encrypted") && err.contains("--identity"),
        "{err}"
    );
    let out = palmdb(
        &target,
        &[
            "restore",
            &id,
            "--repo",
            &repo.url,
            "--identity",
            wrong_key.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot decrypt") && err.contains(&public),
        "{err}"
    );
    assert!(user_tables(&target).is_empty(), "nothing may change");

    // A key file others can read is refused before it is used.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = palmdb(
        &target,
        &[
            "restore",
            &id,
            "--repo",
            &repo.url,
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // With the key (from PALMDB_AGE_IDENTITY): exact.
    let out = command(&target, &["restore", &id, "--repo", &repo.url])
        .env("PALMDB_AGE_IDENTITY", &key)
        .output()
        .unwrap();
    assert_success(&out);
    assert_same_data(&source, &target);
}

#[test]
fn tampered_ciphertext_is_caught() {
    let _cluster = garage().shared();
    let repo = S3Repo::new("tampered");
    let keys = tempfile::tempdir().unwrap();
    let (recipients, key, _) = key_pair(keys.path());
    let source = rich_source("s3_tamper_src");
    let id = create(
        &source,
        &repo.url,
        &["--encrypt-to", recipients.to_str().unwrap()],
    );
    let manifest: Value =
        serde_json::from_slice(&repo.get(&format!("{id}/manifest.json"))).unwrap();
    let entry = manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "every_type")
        .unwrap()
        .clone();
    let file = format!("{id}/{}", entry["file"].as_str().unwrap());
    let mut bytes = repo.get(&file);
    let last = bytes.len() - 20;
    bytes[last] ^= 0x01;
    repo.put(&file, bytes);

    // Same size: the hash catches it without the key, and decryption with it.
    let identity = key.to_str().unwrap();
    let out = palmdb(&source, &["backup", "verify", &id, "--repo", &repo.url]);
    let text = assert_exit(&out, 2);
    assert!(text.contains("SHA-256 does not match"), "{text}");
    let out = palmdb(
        &source,
        &[
            "backup",
            "verify",
            &id,
            "--repo",
            &repo.url,
            "--identity",
            identity,
        ],
    );
    assert_exit(&out, 2);
    let target = TestDb::new("s3_tamper_dst");
    let out = palmdb(
        &target,
        &["restore", &id, "--repo", &repo.url, "--identity", identity],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("failed verification"),
        "{}",
        stderr(&out)
    );
    assert!(user_tables(&target).is_empty(), "nothing may change");
}

#[test]
fn status_never_calls_ok_a_backup_that_restore_refuses() {
    let _cluster = garage().shared();
    let source = rich_source("s3_agree_src");
    let target = TestDb::new("s3_agree_dst");
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Repo::new("agree");
    // Ways a published backup can be unusable without reading its rows.
    let damages: Vec<(&str, Damage)> = vec![
        (
            "a required field is gone",
            Box::new(|m, _| {
                m.as_object_mut().unwrap().remove("total_rows");
            }),
        ),
        (
            "the format is from the future",
            Box::new(|m, _| m["format_version"] = 99.into()),
        ),
        (
            "a file name leaves the backup",
            Box::new(|m, _| m["tables"][0]["file"] = "../elsewhere.jsonl.zst".into()),
        ),
        (
            "the id is not the backup's name",
            Box::new(|m, _| m["id"] = "20000101T000000Z".into()),
        ),
        (
            "a table file is missing",
            Box::new(|m, gone| gone.push(m["tables"][0]["file"].as_str().unwrap().into())),
        ),
        (
            "a file's size is not the manifest's",
            Box::new(|m, _| {
                let bytes = m["tables"][0]["bytes"].as_u64().unwrap();
                m["tables"][0]["bytes"] = (bytes + 1).into();
                let total = m["total_bytes"].as_u64().unwrap();
                m["total_bytes"] = (total + 1).into();
            }),
        ),
    ];
    for repo_kind in ["folder", "s3"] {
        for (case, (what, damage)) in damages.iter().enumerate() {
            let repo = match repo_kind {
                "folder" => dir
                    .path()
                    .join(format!("case-{case}"))
                    .to_str()
                    .unwrap()
                    .to_string(),
                _ => format!("{}/case-{case}", s3.url),
            };
            let id = create(&source, &repo, &[]);
            let manifest_key = format!("case-{case}/{id}/manifest.json");
            let folder = Path::new(&repo).join(&id);
            let before: Value = match repo_kind {
                "folder" => manifest_of_folder(&folder),
                _ => serde_json::from_slice(&s3.get(&manifest_key)).unwrap(),
            };
            let mut manifest = before.clone();
            let mut gone = Vec::new();
            damage(&mut manifest, &mut gone);
            let edited =
                (manifest != before).then(|| serde_json::to_vec_pretty(&manifest).unwrap());
            match repo_kind {
                "folder" => {
                    if let Some(text) = edited {
                        std::fs::write(folder.join("manifest.json"), text).unwrap();
                    }
                    for file in &gone {
                        std::fs::remove_file(folder.join(file)).unwrap();
                    }
                }
                _ => {
                    if let Some(text) = edited {
                        s3.put(&manifest_key, text);
                    }
                    for file in &gone {
                        s3.delete(&format!("case-{case}/{id}/{file}"));
                    }
                }
            }
            let restore = palmdb(&target, &["restore", &id, "--repo", &repo]);
            assert!(
                !restore.status.success(),
                "{repo_kind}, {what}: restore accepted it"
            );
            let status = palmdb(&target, &["backup", "status", "--repo", &repo, "--json"]);
            let body: Value = serde_json::from_str(&stdout(&status)).unwrap();
            assert_ne!(body["status"], "ok", "{repo_kind}, {what}: status said OK");
            assert_eq!(status.status.code(), Some(2), "{repo_kind}, {what}");
            assert_eq!(body["invalid"][0]["id"], id.as_str(), "{repo_kind}, {what}");
            assert!(
                list_ids(&target, &repo).is_empty(),
                "{repo_kind}, {what}: listed"
            );
            assert!(user_tables(&target).is_empty());
        }
    }
}

/// Changes a manifest (and lists files to delete) to make a backup unusable.
type Damage = Box<dyn Fn(&mut Value, &mut Vec<String>)>;

fn manifest_of_folder(folder: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn status_judges_every_repository_and_the_worst_wins() {
    let _cluster = garage().shared();
    let s3 = S3Repo::new("multi");
    let source = big_source("s3_multi_src", 1000);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().to_str().unwrap();
    create(&source, local, &[]);

    // The off-site copy is missing: CRITICAL, naming the repository.
    let out = palmdb(
        &source,
        &["backup", "status", "--repo", local, "--repo", &s3.url],
    );
    let text = assert_exit(&out, 2);
    assert!(text.starts_with("BACKUP CRITICAL:"), "{text}");
    assert!(text.contains(&s3.url) && text.contains(local), "{text}");
    let out = palmdb(
        &source,
        &[
            "backup", "status", "--repo", local, "--repo", &s3.url, "--json",
        ],
    );
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["status"], "critical");
    assert_eq!(body["repo"], s3.url.as_str());
    let repos = body["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 2);
    assert_eq!(repos[0]["repo"], local);
    assert_eq!(repos[0]["status"], "ok");
    assert_eq!(repos[1]["status"], "critical");

    // After the copy both are fine.
    assert_success(&palmdb(
        &source,
        &["backup", "copy", "latest", "--from", local, "--to", &s3.url],
    ));
    let out = palmdb(
        &source,
        &[
            "backup", "status", "--repo", local, "--repo", &s3.url, "--json",
        ],
    );
    assert_exit(&out, 0);

    // A repository that cannot be read is UNKNOWN for that repository; the worst still wins.
    let out = command(
        &source,
        &[
            "backup",
            "status",
            "--repo",
            local,
            "--repo",
            "s3://no-such-bucket-palmdb/x",
            "--json",
        ],
    )
    .env("PALMDB_STORE_RETRY_TIMEOUT", "1s")
    .output()
    .unwrap();
    assert_exit(&out, 3);
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["repositories"][1]["status"], "unknown");
    assert!(body["repositories"][1]["message"]
        .as_str()
        .unwrap()
        .contains("no-such-bucket-palmdb"));
}

#[test]
fn serve_reports_every_repository() {
    let _cluster = garage().shared();
    let s3 = S3Repo::new("serve");
    let source = big_source("s3_serve_src", 1000);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().to_str().unwrap();
    let id = create(&source, local, &[]);
    create(&source, &s3.url, &[]);

    let token = "storage-test-read-token-7c1e93a5d2b84f60";
    let mut cmd = palmdb_command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--repo",
        local,
        "--repo",
        &s3.url,
        "--metrics-public",
    ]);
    garage().apply(&mut cmd);
    cmd.env("DATABASE_URL", &source.url)
        .env("PALMDB_READ_TOKEN", token);
    let serve = ServeProcess::spawn(cmd, |_| {});
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| {
        let response = client
            .get(serve.url(path))
            .bearer_auth(token)
            .send()
            .unwrap();
        let code = response.status();
        let body = response.text().unwrap();
        (code, body)
    };
    let json = |path: &str| -> Value {
        let (code, body) = get(path);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {code}: {e}: {body}"))
    };
    let status = json("/backups/status");
    let repos = status["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 2, "{status}");
    assert!(repos.iter().all(|r| r["status"] == "ok"), "{status}");
    let list = json("/backups");
    let in_repos: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["repo"].as_str().unwrap())
        .collect();
    assert!(
        in_repos.contains(&local) && in_repos.contains(&s3.url.as_str()),
        "{list}"
    );
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["id"] == id.as_str()));
    let (_, metrics) = get("/metrics");
    for repo in [local, s3.url.as_str()] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&format!("palmdb_backup_age_seconds{{repo=\"{repo}\"}} "))),
            "{metrics}"
        );
    }
    // The dashboard's backups page, logged in with the read token: both repositories, and
    // each backup with the repository it is in.
    let browser = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = browser
        .post(serve.url("/login"))
        .form(&[("token", token)])
        .send()
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = browser
        .get(serve.url("/backups"))
        .header("accept", "text/html")
        .header("cookie", cookie)
        .send()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().unwrap();
    for repo in [local, s3.url.as_str()] {
        assert!(
            page.contains(&format!("<td><code>{repo}</code></td>")),
            "{page}"
        );
    }
    drop(serve);
}

#[test]
fn a_backup_killed_mid_upload_is_never_listed_and_prune_cleans_it_up() {
    let _cluster = garage().shared();
    let repo = S3Repo::new("killed");
    let source = big_source("s3_kill_src", 400_000);
    let mut child = command(&source, &["backup", "create", "--repo", &repo.url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_mid_upload(&repo, &mut child, Duration::from_secs(120));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Nothing listed, nothing counted, nothing restorable; the lease tells what is open.
    assert!(list_ids(&source, &repo.url).is_empty());
    assert_exit(
        &palmdb(&source, &["backup", "status", "--repo", &repo.url]),
        2,
    );
    let target = TestDb::new("s3_kill_dst");
    assert_exit(
        &palmdb(&target, &["restore", "latest", "--repo", &repo.url]),
        1,
    );
    let unfinished = repo.repository().unfinished().unwrap();
    assert_eq!(unfinished.len(), 1);
    let lease_key = format!("{}/.in-progress", unfinished[0].name);
    let lease: Value = serde_json::from_slice(&repo.get(&lease_key)).unwrap();
    let mut uploads: Vec<(String, String)> = lease["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                format!("{}/{}", unfinished[0].name, u["file"].as_str().unwrap()),
                u["upload_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!uploads.is_empty());
    // A writer killed between starting an upload and writing it down in its lease leaves an
    // upload only the store knows of; prune must find it there too.
    let unrecorded = format!("{}/public.unrecorded.jsonl.zst", unfinished[0].name);
    let unrecorded_id = {
        let store = store();
        let path = ObjectPath::from(format!("{}/{unrecorded}", repo.prefix));
        common::block_on(async move {
            use object_store::multipart::MultipartStore;
            store.create_multipart(&path).await
        })
        .unwrap()
    };
    uploads.push((unrecorded, unrecorded_id));

    // A writer that may be alive (its lease is fresh) is left alone...
    let prune = |grace: &str| {
        let out = palmdb(
            &source,
            &[
                "backup",
                "prune",
                "--repo",
                &repo.url,
                "--unfinished-grace",
                grace,
                "--json",
            ],
        );
        assert_success(&out);
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()
    };
    assert!(prune("30s")["deleted"].as_array().unwrap().is_empty());
    // ...and once its lease has been silent for the grace, its objects and open uploads go.
    std::thread::sleep(Duration::from_secs(32));
    let report = prune("30s");
    assert_eq!(report["deleted"][0]["kind"], "partial", "{report}");
    assert!(
        report["deleted"][0]["open_uploads"].as_u64().unwrap() >= uploads.len() as u64,
        "{report}"
    );
    assert!(repo.objects().is_empty(), "{:?}", repo.objects());
    for (key, upload_id) in uploads {
        let store = store();
        let path = ObjectPath::from(format!("{}/{key}", repo.prefix));
        let part = common::block_on(async move {
            use object_store::multipart::MultipartStore;
            store
                .put_part(
                    &path,
                    &upload_id,
                    99,
                    bytes::Bytes::from_static(b"x").into(),
                )
                .await
        });
        assert!(part.is_err(), "the upload of {key} was not aborted");
    }

    // The next backup works.
    let id = create(&source, &repo.url, &[]);
    assert_eq!(list_ids(&source, &repo.url), [id]);
}

#[test]
fn one_node_down_mid_backup_still_completes_and_verifies() {
    let mut cluster = garage().exclusive();
    let repo = S3Repo::new("one-down");
    let source = big_source("s3_one_down_src", 300_000);
    let mut child = command(
        &source,
        &[
            "backup", "create", "--repo", &repo.url, "--jobs", "2", "--json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_mid_upload(&repo, &mut child, Duration::from_secs(120));
    cluster.stop_node(3);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup ended before the node was down: the table is too small to test this"
    );
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let id = summary["id"].as_str().unwrap();

    // Still with node 3 down: listed, valid, every byte and line checked, restorable.
    assert_eq!(list_ids(&source, &repo.url), [id.to_string()]);
    let out = palmdb(&source, &["backup", "verify", id, "--repo", &repo.url]);
    assert_exit(&out, 0);
    let target = TestDb::new("s3_one_down_dst");
    assert_success(&palmdb(&target, &["restore", id, "--repo", &repo.url]));
    assert_same_data(&source, &target);
    cluster.start_node(3);
}

#[test]
fn the_store_going_away_for_seconds_mid_backup_is_retried_and_the_backup_completes() {
    let mut cluster = garage().exclusive();
    let repo = S3Repo::new("endpoint-down");
    let source = big_source("s3_endpoint_down_src", 300_000);
    let mut child = command(
        &source,
        &["backup", "create", "--repo", &repo.url, "--json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_mid_upload(&repo, &mut child, Duration::from_secs(120));
    // Node 1 is the endpoint palmdb talks to: while it is down every request is refused
    // (connection refused, then resets and 503s while it rejoins) — transient errors, which
    // are retried with backoff, not failures.
    cluster.stop_node(1);
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup ended while its store was down: it did not wait for it"
    );
    cluster.start_node(1);
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    assert!(
        !stderr(&out).contains("palmdb: "),
        "no error nor warning: {}",
        stderr(&out)
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let id = summary["id"].as_str().unwrap();

    // Whole: listed, every byte and line checked, restorable to the same data.
    assert_eq!(list_ids(&source, &repo.url), [id.to_string()]);
    assert_exit(
        &palmdb(&source, &["backup", "verify", id, "--repo", &repo.url]),
        0,
    );
    let target = TestDb::new("s3_endpoint_down_dst");
    assert_success(&palmdb(&target, &["restore", id, "--repo", &repo.url]));
    assert_same_data(&source, &target);
}

#[test]
fn two_nodes_down_is_a_clear_failure_and_the_next_backup_works() {
    let mut cluster = garage().exclusive();
    let repo = S3Repo::new("two-down");
    let source = big_source("s3_two_down_src", 300_000);
    let mut child = command(&source, &["backup", "create", "--repo", &repo.url])
        .env("PALMDB_STORE_RETRY_TIMEOUT", "15s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_mid_upload(&repo, &mut child, Duration::from_secs(120));
    cluster.stop_node(2);
    cluster.stop_node(3);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup ended before the nodes were down: the table is too small to test this"
    );
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 1);
    // One line says what failed, where (bucket and endpoint) and the store's words; at most a
    // warning beside it (what is left for prune), never a secret.
    let err = stderr(&out);
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("palmdb: ") && !l.starts_with("palmdb: warning: "))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    let error = errors[0];
    assert!(
        error.contains(&garage().bucket) && error.contains(&garage().var("AWS_ENDPOINT_URL")),
        "{err}"
    );
    // The store's own words (Garage: no quorum), or that it stopped answering.
    assert!(
        error.contains("quorum") || error.contains("did not answer"),
        "{err}"
    );
    assert!(
        err.lines()
            .all(|l| l.starts_with("palmdb: ") || l.starts_with("HINT: ")),
        "{err}"
    );
    assert!(!err.contains(&garage().var("AWS_SECRET_ACCESS_KEY")));

    cluster.start_node(2);
    cluster.start_node(3);
    // Nothing valid-looking was left: not listed, not counted, not restorable.
    assert!(list_ids(&source, &repo.url).is_empty());
    assert_exit(
        &palmdb(&source, &["backup", "status", "--repo", &repo.url]),
        2,
    );
    assert!(repo
        .objects()
        .iter()
        .all(|(k, _)| !k.ends_with("manifest.json")));

    // The next backup works and verifies.
    let id = create(&source, &repo.url, &[]);
    assert_exit(
        &palmdb(&source, &["backup", "verify", &id, "--repo", &repo.url]),
        0,
    );
}
