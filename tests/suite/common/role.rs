//! A login role for one test: a name of its own, created by the admin connection, dropped
//! when the value is dropped. Declare it before the databases it owns, so that they are
//! dropped first.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{admin, admin_url, system_admin_url, TestDb};

static ROLES: AtomicUsize = AtomicUsize::new(0);

pub struct TestRole {
    pub name: String,
    /// The admin URL of the server it was created on.
    admin: String,
}

impl TestRole {
    /// `CREATE ROLE <name> LOGIN <options>`, e.g. `NOSUPERUSER NOCREATEDB IN ROLE pg_monitor`
    /// or `PASSWORD '...' IN ROLE palmdb_password_auth`.
    pub fn create(tag: &str, options: &str) -> TestRole {
        TestRole::create_on(&admin_url(), tag, options)
    }

    /// [`TestRole::create`] on this machine's own server ([`system_admin_url`]).
    pub fn create_on_system(tag: &str, options: &str) -> TestRole {
        TestRole::create_on(&system_admin_url(), tag, options)
    }

    fn create_on(admin: &str, tag: &str, options: &str) -> TestRole {
        let name = format!(
            "palmdb_{tag}_{}_{}",
            std::process::id(),
            ROLES.fetch_add(1, Ordering::SeqCst)
        );
        let sql = format!("DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN {options}");
        admin::execute(admin, &sql).unwrap_or_else(|e| panic!("cannot create the test role: {e}"));
        TestRole {
            name,
            admin: admin.to_string(),
        }
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
        if let Err(e) = admin::execute(&self.admin, &sql) {
            eprintln!("could not drop the test role: {e}");
        }
    }
}
