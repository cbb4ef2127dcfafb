//! A login role for one test: a name of its own, created by the admin connection, dropped
//! when the value is dropped. Declare it before the databases it owns, so that they are
//! dropped first.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{admin_url, block_on, connect, TestDb};

static ROLES: AtomicUsize = AtomicUsize::new(0);

pub struct TestRole {
    pub name: String,
}

impl TestRole {
    /// `CREATE ROLE <name> LOGIN <options>`, e.g. `NOSUPERUSER NOCREATEDB IN ROLE pg_monitor`
    /// or `PASSWORD '...' IN ROLE palmdb_password_auth`.
    pub fn create(tag: &str, options: &str) -> TestRole {
        let name = format!(
            "palmdb_{tag}_{}_{}",
            std::process::id(),
            ROLES.fetch_add(1, Ordering::SeqCst)
        );
        let sql = format!("DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN {options}");
        block_on(async move { connect(&admin_url()).await.batch_execute(&sql).await })
            .unwrap_or_else(|e| panic!("cannot create the test role: {e}"));
        TestRole { name }
    }

    /// The URL of `db` as this role.
    pub fn url(&self, db: &TestDb) -> String {
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_username(&self.name).unwrap();
        url.to_string()
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let sql = format!("DROP ROLE IF EXISTS {}", self.name);
        block_on(async move {
            if let Err(e) = connect(&admin_url()).await.batch_execute(&sql).await {
                eprintln!("could not drop the test role: {e}");
            }
        });
    }
}
