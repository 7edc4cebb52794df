//! Every repository function, on SQLite and on PostgreSQL.

use std::collections::BTreeSet;

use abacus_core::customer::{Address, ContactInput, CustomerInput, TaxInput};
use abacus_core::validation::Naming;
use abacus_store::customers::{self, AliasConflict, ListFilter, Sort, SortField};
use abacus_store::idempotency::{self, Claim, StoredResponse};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Conn, Connection, Db, api_keys, on_both_backends, orgs};

on_both_backends!(
    organizations,
    api_key_lifecycle,
    idempotency_claims,
    customers_insert_get_resolve,
    customers_update_and_delete,
    customers_list_filters_sort_and_paging,
    alias_conflicts,
);

async fn setup(backend: Backend) -> Option<(TestDb, Db, String)> {
    let t = TestDb::fresh(backend).await?;
    let db = t.migrated().await;
    let org = new_org(&db, "Acme").await;
    Some((t, db, org))
}

async fn new_org(db: &Db, name: &str) -> String {
    let org = orgs::Organization {
        id: orgs::new_id(),
        name: name.into(),
        time_zone: "UTC".into(),
        created_at: 1,
    };
    let mut tx = db.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    tx.commit().await.unwrap();
    org.id
}

fn input(name: &str, aliases: &[&str]) -> CustomerInput {
    CustomerInput {
        name: name.into(),
        currency: "EUR".into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        billing_address: Some(Address {
            line1: Some("1 Rue".into()),
            country: Some("FR".into()),
            ..Default::default()
        }),
        contacts: vec![
            ContactInput {
                email: format!("billing@{}.example", name.to_lowercase()),
                first_name: Some("Bea".into()),
                is_primary: true,
                email_preferences: vec!["billing".into(), "updates".into()],
                ..Default::default()
            },
            ContactInput {
                email: "ops@x.example".into(),
                ..Default::default()
            },
        ],
        tax: TaxInput {
            tax_rate: Some("0.20".into()),
            tax_type: Some("vat".into()),
            ..Default::default()
        },
    }
}

async fn organizations(backend: Backend) {
    let Some(t) = TestDb::fresh(backend).await else {
        return;
    };
    let db = t.migrated().await;
    let mut c = db.read().await.unwrap();
    assert_eq!(orgs::count(&mut c).await.unwrap(), 0);
    drop(c);
    let a = new_org(&db, "A").await;
    let b = new_org(&db, "B").await;
    let mut tx = db.begin().await.unwrap();
    orgs::lock_for_bootstrap(&mut tx).await.unwrap();
    assert_eq!(orgs::count(&mut tx).await.unwrap(), 2);
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    let all = orgs::list(&mut c).await.unwrap();
    assert_eq!(
        all.iter().map(|o| o.id.clone()).collect::<BTreeSet<_>>(),
        BTreeSet::from([a.clone(), b])
    );
    let got = orgs::get(&mut c, &a).await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.time_zone.as_str()), ("A", "UTC"));
    assert!(orgs::get(&mut c, "org_missing").await.unwrap().is_none());
}

async fn api_key_lifecycle(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    let key = api_keys::insert(&mut tx, "ak_one", &org, "ci", &[7u8; 32], 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(key.org_id, org);

    let mut c = db.read().await.unwrap();
    let creds = api_keys::find_active(&mut c, "ak_one")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            creds.org_id.as_str(),
            creds.secret_hash.as_slice(),
            creds.last_used_at
        ),
        (org.as_str(), &[7u8; 32][..], None)
    );
    drop(c);

    let mut tx = db.begin().await.unwrap();
    api_keys::touch(&mut tx, "ak_one", 1_000, 500)
        .await
        .unwrap();
    // Not stale yet: the second touch keeps the first time.
    api_keys::touch(&mut tx, "ak_one", 1_200, 900)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    assert_eq!(
        api_keys::list(&mut c, Some(&org)).await.unwrap()[0].last_used_at,
        Some(1_000)
    );
    assert_eq!(api_keys::list(&mut c, None).await.unwrap().len(), 1);
    assert!(
        api_keys::list(&mut c, Some("org_other"))
            .await
            .unwrap()
            .is_empty()
    );
    drop(c);

    let mut tx = db.begin().await.unwrap();
    assert!(api_keys::revoke(&mut tx, "ak_one", 2_000).await.unwrap());
    assert!(api_keys::revoke(&mut tx, "ak_one", 3_000).await.unwrap());
    assert!(!api_keys::revoke(&mut tx, "ak_none", 3_000).await.unwrap());
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    assert!(
        api_keys::find_active(&mut c, "ak_one")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        api_keys::list(&mut c, None).await.unwrap()[0].revoked_at,
        Some(2_000)
    );
}

async fn idempotency_claims(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let sec = 1_000_000;
    let mut tx = db.begin().await.unwrap();
    let claim = async |tx: &mut abacus_store::Tx, key: &str, hash: &[u8], owner: &str, now: i64| {
        idempotency::claim(tx, &org, key, hash, owner, now, now + 60 * sec)
            .await
            .unwrap()
    };
    assert_eq!(
        claim(&mut tx, "k1", b"h1", "o1", 10 * sec).await,
        Claim::Claimed
    );
    assert_eq!(
        claim(&mut tx, "k1", b"h2", "o2", 11 * sec).await,
        Claim::Mismatch
    );
    assert!(matches!(
        claim(&mut tx, "k1", b"h1", "o2", 11 * sec).await,
        Claim::InProgress { .. }
    ));
    let response = StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        body: b"{}".to_vec(),
    };
    assert!(
        !idempotency::complete(&mut tx, &org, "k1", "o2", &response)
            .await
            .unwrap(),
        "not o2's claim"
    );
    assert!(
        idempotency::complete(&mut tx, &org, "k1", "o1", &response)
            .await
            .unwrap()
    );
    assert_eq!(
        claim(&mut tx, "k1", b"h1", "o3", 12 * sec).await,
        Claim::Replay(response.clone())
    );

    // A released claim can be taken again.
    assert_eq!(
        claim(&mut tx, "k2", b"h", "o1", 10 * sec).await,
        Claim::Claimed
    );
    idempotency::release(&mut tx, &org, "k2", "o1")
        .await
        .unwrap();
    assert_eq!(
        claim(&mut tx, "k2", b"h", "o2", 10 * sec).await,
        Claim::Claimed
    );

    // An abandoned claim (lease over) is taken over, and the first owner can no longer complete.
    assert_eq!(
        claim(&mut tx, "k3", b"h", "o1", 10 * sec).await,
        Claim::Claimed
    );
    assert_eq!(
        claim(&mut tx, "k3", b"h", "o2", 100 * sec).await,
        Claim::Claimed
    );
    assert!(
        !idempotency::complete(&mut tx, &org, "k3", "o1", &response)
            .await
            .unwrap()
    );
    assert!(
        idempotency::complete(&mut tx, &org, "k3", "o2", &response)
            .await
            .unwrap()
    );

    // After 24 hours a key is new again, and purge removes old records.
    let day = idempotency::RETENTION_MICROS;
    assert_eq!(
        claim(&mut tx, "k1", b"other", "o4", 10 * sec + day).await,
        Claim::Claimed
    );
    let purged = idempotency::purge(&mut tx, 11 * sec + day + day)
        .await
        .unwrap();
    assert_eq!(purged, 3);
    tx.commit().await.unwrap();
}

async fn customers_insert_get_resolve(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let state = input("Globex", &["globex", "stripe:cus_1"])
        .validate(Naming::Snake, &[])
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        customers::check_aliases(&mut tx, &org, None, &state.aliases)
            .await
            .unwrap(),
        None
    );
    let created = customers::insert(&mut tx, &org, &state, 42).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(created.id.len(), 8);
    assert_eq!(created.aliases, vec!["globex", "stripe:cus_1"]);
    assert_eq!(created.contacts.len(), 2);
    assert!(created.contacts.iter().all(|c| c.id.len() == 8));
    assert_eq!(created.contacts[0].email_preferences.len(), 2);
    assert_eq!(created.tax.tax_rate.unwrap().to_string(), "0.20");
    assert_eq!(
        created.billing_address.as_ref().unwrap().country.as_deref(),
        Some("FR")
    );
    assert_eq!((created.created_at, created.updated_at), (42, 42));

    let mut c = db.read().await.unwrap();
    assert_eq!(
        customers::get(&mut c, &org, &created.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&created)
    );
    assert_eq!(
        customers::resolve(&mut c, &org, &created.id)
            .await
            .unwrap()
            .as_deref(),
        Some(created.id.as_str())
    );
    assert_eq!(
        customers::resolve(&mut c, &org, "stripe:cus_1")
            .await
            .unwrap()
            .as_deref(),
        Some(created.id.as_str())
    );
    assert_eq!(
        customers::alias_owner(&mut c, &org, "globex")
            .await
            .unwrap()
            .as_deref(),
        Some(created.id.as_str())
    );
    assert_eq!(
        customers::resolve(&mut c, &org, "nobody").await.unwrap(),
        None
    );
    assert_eq!(
        customers::dependents(&mut c, &org, &created.id)
            .await
            .unwrap(),
        Vec::<&str>::new()
    );
    // Another tenant sees nothing.
    let other = new_org(&db, "Other").await;
    assert_eq!(
        customers::get(&mut c, &other, &created.id).await.unwrap(),
        None
    );
    assert_eq!(
        customers::resolve(&mut c, &other, "globex").await.unwrap(),
        None
    );
}

async fn customers_update_and_delete(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    let state = input("Initech", &["initech"])
        .validate(Naming::Snake, &[])
        .unwrap();
    let created = customers::insert(&mut tx, &org, &state, 1).await.unwrap();
    tx.commit().await.unwrap();

    let kept = created.contacts[1].id.clone();
    let mut next = input("Initech Ltd", &["ini", "initech-2"]);
    next.contacts = vec![ContactInput {
        id: Some(kept.clone()),
        email: "new@x.example".into(),
        ..Default::default()
    }];
    next.billing_address = None;
    let state = next
        .validate(Naming::Snake, std::slice::from_ref(&kept))
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    let updated = customers::update(&mut tx, &org, &created.id, &state, 5)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(updated.name, "Initech Ltd");
    assert_eq!(updated.aliases, vec!["ini", "initech-2"]);
    assert_eq!(updated.contacts.len(), 1);
    assert_eq!(updated.contacts[0].id, kept);
    assert_eq!(updated.contacts[0].email, "new@x.example");
    assert_eq!(updated.billing_address, None);
    assert_eq!((updated.created_at, updated.updated_at), (1, 5));

    let mut c = db.read().await.unwrap();
    assert_eq!(
        customers::resolve(&mut c, &org, "initech").await.unwrap(),
        None,
        "old alias released"
    );
    drop(c);

    let mut tx = db.begin().await.unwrap();
    assert!(
        customers::soft_delete(&mut tx, &org, &created.id, 9)
            .await
            .unwrap()
    );
    assert!(
        !customers::soft_delete(&mut tx, &org, &created.id, 10)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    assert_eq!(
        customers::get(&mut c, &org, &created.id).await.unwrap(),
        None
    );
    assert_eq!(customers::resolve(&mut c, &org, "ini").await.unwrap(), None);
    drop(c);
    // The released alias can be used again.
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        customers::check_aliases(&mut tx, &org, None, &["ini".into()])
            .await
            .unwrap(),
        None
    );
    tx.commit().await.unwrap();
}

async fn customers_list_filters_sort_and_paging(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    for (i, name) in ["Charlie", "alpha", "Bravo", "Delta", "Echo"]
        .iter()
        .enumerate()
    {
        let state = input(name, &[&format!("a-{i}")])
            .validate(Naming::Snake, &[])
            .unwrap();
        customers::insert(&mut tx, &org, &state, 100 + i as i64)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let other = new_org(&db, "Other").await;
    let mut tx = db.begin().await.unwrap();
    customers::insert(
        &mut tx,
        &other,
        &input("Zulu", &[]).validate(Naming::Snake, &[]).unwrap(),
        1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut c = db.read().await.unwrap();
    let names = |v: &[abacus_core::customer::Customer]| {
        v.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
    };
    let all = ListFilter::default();
    let (page, total) = customers::list(&mut c, &org, &all, Sort::default(), 2, 0)
        .await
        .unwrap();
    assert_eq!(
        (names(&page), total),
        (vec!["Charlie".to_string(), "alpha".into()], 5)
    );
    let (page, _) = customers::list(&mut c, &org, &all, Sort::default(), 2, 4)
        .await
        .unwrap();
    assert_eq!(names(&page), vec!["Echo"]);
    let desc = Sort {
        field: SortField::CreatedAt,
        descending: true,
    };
    let (page, _) = customers::list(&mut c, &org, &all, desc, 1, 0)
        .await
        .unwrap();
    assert_eq!(names(&page), vec!["Echo"]);
    let by_name = Sort {
        field: SortField::Name,
        descending: false,
    };
    let (page, _) = customers::list(&mut c, &org, &all, by_name, 10, 0)
        .await
        .unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[0].contacts.len(), 2, "lists carry contacts");

    let f = ListFilter {
        alias: Some("a-3".into()),
        email: None,
        ..Default::default()
    };
    let (page, total) = customers::list(&mut c, &org, &f, Sort::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!((names(&page), total), (vec!["Delta".to_string()], 1));
    let f = ListFilter {
        alias: None,
        email: Some("BILLING@bravo.example".into()),
        ..Default::default()
    };
    let (page, total) = customers::list(&mut c, &org, &f, Sort::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!((names(&page), total), (vec!["Bravo".to_string()], 1));
    let f = ListFilter {
        alias: None,
        email: Some("ops@x.example".into()),
        ..Default::default()
    };
    assert_eq!(
        customers::list(&mut c, &org, &f, Sort::default(), 10, 0)
            .await
            .unwrap()
            .1,
        5
    );
    let f = ListFilter {
        alias: Some("a-3".into()),
        email: Some("billing@alpha.example".into()),
        ..Default::default()
    };
    assert_eq!(
        customers::list(&mut c, &org, &f, Sort::default(), 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    assert_eq!(
        customers::list(&mut c, &other, &all, Sort::default(), 10, 0)
            .await
            .unwrap()
            .1,
        1
    );
}

async fn alias_conflicts(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    let a = customers::insert(
        &mut tx,
        &org,
        &input("A", &["shared"])
            .validate(Naming::Snake, &[])
            .unwrap(),
        1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let taken = customers::check_aliases(&mut tx, &org, None, &["free".into(), "shared".into()])
        .await
        .unwrap();
    assert_eq!(taken, Some(AliasConflict::TakenByAlias("shared".into())));
    let is_id = customers::check_aliases(&mut tx, &org, None, std::slice::from_ref(&a.id))
        .await
        .unwrap();
    assert_eq!(is_id, Some(AliasConflict::IsCustomerId(a.id.clone())));
    // The owner may keep its own alias, and another tenant may use the same alias.
    assert_eq!(
        customers::check_aliases(&mut tx, &org, Some(&a.id), &["shared".into()])
            .await
            .unwrap(),
        None
    );
    tx.commit().await.unwrap();
    let other = new_org(&db, "Other").await;
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        customers::check_aliases(&mut tx, &other, None, &["shared".into()])
            .await
            .unwrap(),
        None
    );
    customers::insert(
        &mut tx,
        &other,
        &input("B", &["shared"])
            .validate(Naming::Snake, &[])
            .unwrap(),
        2,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // A duplicate insert that skipped the check is refused by the database, naming the alias.
    let mut tx = db.begin().await.unwrap();
    let err = customers::insert(
        &mut tx,
        &org,
        &input("C", &["shared"])
            .validate(Naming::Snake, &[])
            .unwrap(),
        3,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, abacus_store::StoreError::Unique(ref s) if s == "alias:shared"),
        "{err:?}"
    );
}

/// Both migration sets produce the same tables, columns and indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_agree() {
    let sqlite_versions = migration_versions("sqlite");
    let postgres_versions = migration_versions("postgres");
    assert_eq!(
        sqlite_versions, postgres_versions,
        "both folders hold the same migration versions"
    );

    let Some(pg) = TestDb::fresh(Backend::Postgres).await else {
        return;
    };
    let lite = TestDb::fresh(Backend::Sqlite).await.unwrap();
    let (lite_db, pg_db) = (lite.migrated().await, pg.migrated().await);
    let mut lite_schema = schema(&lite_db).await;
    let mut pg_schema = schema(&pg_db).await;
    assert!(!lite_schema.0.is_empty());
    // The one intended difference (migrations 0010): SQLite indexes events by customer in batches,
    // in tables of its own; PostgreSQL with an ordinary index.
    let sqlite_only = ["event_index", "event_index_state"];
    lite_schema
        .0
        .retain(|(table, _)| !sqlite_only.contains(&table.as_str()));
    assert!(pg_schema.1.remove("events_by_customer"));
    assert_eq!(lite_schema.0, pg_schema.0, "tables and columns");
    assert_eq!(lite_schema.1, pg_schema.1, "indexes");
}

fn migration_versions(dialect: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .split('_')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

type Schema = (BTreeSet<(String, String)>, BTreeSet<String>);

async fn schema(db: &Db) -> Schema {
    let mut c = db.read().await.unwrap();
    match c.conn() {
        Conn::Sqlite(e) => {
            let cols: Vec<(String, String)> = sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut *e)
            .await
            .unwrap();
            let idx: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'",
            )
            .fetch_all(&mut *e)
            .await
            .unwrap();
            (cols.into_iter().collect(), idx.into_iter().collect())
        }
        Conn::Postgres(e) => {
            let cols: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut *e)
            .await
            .unwrap();
            let idx: Vec<String> = sqlx::query_scalar(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'",
            )
            .fetch_all(&mut *e)
            .await
            .unwrap();
            (cols.into_iter().collect(), idx.into_iter().collect())
        }
    }
}
