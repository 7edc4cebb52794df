//! The metering repositories (events, metrics, rollups, ingestion) on SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::str::FromStr;

use abacus_core::customer::CustomerInput;
use abacus_core::metering::bucket::Bucket;
use abacus_core::metering::deltas::Deltas;
use abacus_core::metering::event::ValidEvent;
use abacus_core::metering::metric::MetricDraft;
use abacus_core::metering::properties::{PropValue, Properties};
use abacus_core::metering::usage::{RawEvent, Rollups};
use abacus_core::validation::Naming;
use abacus_store::events::{self, ListFilter, NewEvent, Stored};
use abacus_store::ingest::{self, Outcome};
use abacus_store::metrics::{self, Diagnostics, SortField};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Conn, Db, customers, on_both_backends, orgs, tail, usage};
use rust_decimal::Decimal;

on_both_backends!(
    events_insert_dedup_and_list,
    accounts_resolve_and_unmatched_events_are_claimed,
    metrics_crud_lists_and_diagnostics,
    ingest_counts_once_and_rollups_merge_exactly,
    backfill_and_raw_reads,
    raw_reads_cover_the_index_and_its_tail,
    decimal_rollups_merge_in_sql,
    rollups_read_the_same_settled_or_not,
    daily_rollups_are_built_from_older_hourly_ones,
    a_prepared_pass_applies_only_if_nothing_changed,
);

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

async fn setup(backend: Backend) -> Option<(TestDb, Db, String)> {
    let t = TestDb::fresh(backend).await?;
    let db = t.migrated().await;
    let org = orgs::Organization {
        id: orgs::new_id(),
        name: "Acme".into(),
        time_zone: "UTC".into(),
        created_at: 1,
    };
    let mut tx = db.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    tx.commit().await.unwrap();
    Some((t, db, org.id))
}

async fn customer(db: &Db, org: &str, name: &str, aliases: &[&str]) -> String {
    let input = CustomerInput {
        name: name.into(),
        currency: "USD".into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    let mut tx = db.begin().await.unwrap();
    let c = customers::insert(
        &mut tx,
        org,
        &input.validate(Naming::Snake, &[]).unwrap(),
        1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    c.id
}

fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), PropValue::Num(v.to_string())))
        .collect()
}

fn valid(id: &str, account: &str, ts: i64, p: Properties) -> ValidEvent {
    ValidEvent::new(id.into(), account.into(), "api".into(), ts, p)
}

async fn metric(
    db: &Db,
    org: &str,
    method: &str,
    field: Option<&str>,
) -> abacus_core::metering::Metric {
    let draft = MetricDraft {
        name: method.into(),
        event_name: "api".into(),
        method: method.into(),
        field: field.map(String::from),
        ..Default::default()
    };
    let spec = draft.validate(Naming::Snake).unwrap();
    let mut tx = db.begin().await.unwrap();
    events::lock_org(&mut tx, org, true).await.unwrap();
    let m = metrics::insert(&mut tx, org, &spec, 5).await.unwrap();
    usage::backfill(&mut tx, org, &m).await.unwrap();
    tx.commit().await.unwrap();
    m
}

/// Settles SQLite's tail (see `abacus_store::tail`); nothing to do on PostgreSQL.
async fn settle(db: &Db) {
    let mut tx = db.begin().await.unwrap();
    tail::settle(&mut tx).await.unwrap();
    assert_eq!(tail::pending(&mut tx).await.unwrap(), 0);
    tx.commit().await.unwrap();
}

async fn events_insert_dedup_and_list(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let row = |id: &'static str, customer: Option<&'static str>, ts: i64| NewEvent {
        unique_id: id,
        account: "acct",
        customer_id: customer,
        event_name: "api",
        ts,
        received_at: 100,
        properties: "{\"n\":1}",
    };
    let mut tx = db.begin().await.unwrap();
    let first = events::insert(
        &mut tx,
        &org,
        &[row("a", Some("cust1"), 10), row("b", None, 20)],
    )
    .await
    .unwrap();
    assert!(matches!(first[0], Stored::New { .. }) && matches!(first[1], Stored::New { .. }));
    let again = events::insert(
        &mut tx,
        &org,
        &[row("b", None, 20), row("a", None, 99), row("c", None, 30)],
    )
    .await
    .unwrap();
    assert_eq!(again[0], Stored::Duplicate { matched: false });
    assert_eq!(
        again[1],
        Stored::Duplicate { matched: true },
        "the stored copy keeps its customer"
    );
    assert!(matches!(again[2], Stored::New { .. }));
    tx.commit().await.unwrap();

    let mut c = db.read().await.unwrap();
    let all = events::list(&mut c, &org, &ListFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.unique_id.as_str()).collect::<Vec<_>>(),
        vec!["c", "b", "a"]
    );
    assert_eq!(all[2].duplicates, 1);
    assert_eq!(all[2].ts, 10, "a resend never changes the stored event");
    let page = events::list(&mut c, &org, &ListFilter::default(), Some(all[0].seq), 1)
        .await
        .unwrap();
    assert_eq!(page[0].unique_id, "b");
    let unmatched = ListFilter {
        unmatched_only: true,
        ..Default::default()
    };
    assert_eq!(
        events::list(&mut c, &org, &unmatched, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let ranged = ListFilter {
        from: Some(15),
        to: Some(30),
        event_name: Some("api".into()),
        ..Default::default()
    };
    assert_eq!(
        events::list(&mut c, &org, &ranged, None, 10).await.unwrap()[0].unique_id,
        "b"
    );
    let by_customer = ListFilter {
        account: Some("nobody".into()),
        customer_id: Some("cust1".into()),
        ..Default::default()
    };
    assert_eq!(
        events::list(&mut c, &org, &by_customer, None, 10)
            .await
            .unwrap()[0]
            .unique_id,
        "a"
    );
    // The same unique id in another organization is another event.
    let other = orgs::Organization {
        id: orgs::new_id(),
        name: "Other".into(),
        time_zone: "UTC".into(),
        created_at: 1,
    };
    drop(c);
    let mut tx = db.begin().await.unwrap();
    orgs::insert(&mut tx, &other).await.unwrap();
    assert!(matches!(
        events::insert(&mut tx, &other.id, &[row("a", None, 1)])
            .await
            .unwrap()[0],
        Stored::New { .. }
    ));
    tx.commit().await.unwrap();
}

async fn accounts_resolve_and_unmatched_events_are_claimed(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &["acme", "stripe:1"]).await;
    let mut c = db.read().await.unwrap();
    let found = events::resolve_accounts(&mut c, &org, &["acme", &acme, "stripe:1", "ghost"])
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert!(found.values().all(|v| *v == acme));
    drop(c);
    let m = metric(&db, &org, "sum", Some("v")).await;
    let mut tx = db.begin().await.unwrap();
    let batch = [
        valid("g1", "ghost", HOUR, props(&[("v", "2.5")])),
        valid("g2", "ghost", 2 * HOUR, props(&[("v", "1")])),
    ];
    let refs: Vec<&ValidEvent> = batch.iter().collect();
    assert_eq!(
        ingest::ingest(&mut tx, &org, &refs, 0).await.unwrap(),
        vec![Outcome::Stored { matched: false }; 2]
    );
    events::lock_org(&mut tx, &org, true).await.unwrap();
    // SQLite returns only claimed events its tail has passed; the others are counted when the
    // tail is settled.
    let claimed = events::claim_unmatched(&mut tx, &org, &acme, &["ghost".to_string()])
        .await
        .unwrap();
    let pairs: Vec<(&str, &RawEvent)> = claimed.iter().map(|e| (acme.as_str(), e)).collect();
    usage::record(&mut tx, &org, &pairs).await.unwrap();
    assert!(
        events::claim_unmatched(&mut tx, &org, &acme, &["ghost".to_string()])
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();
    let total = async || {
        let mut c = db.read().await.unwrap();
        let r = usage::rollups(&mut c, &org, &m, &acme, &[], &[(0, 10 * HOUR)])
            .await
            .unwrap();
        r.hours.iter().map(|(_, b)| b.sum).sum::<Decimal>()
    };
    assert_eq!(total().await, Decimal::from_str("3.5").unwrap());
    settle(&db).await;
    assert_eq!(total().await, Decimal::from_str("3.5").unwrap());
}

async fn metrics_crud_lists_and_diagnostics(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let sum = metric(&db, &org, "sum", Some("v")).await;
    let count = metric(&db, &org, "count", None).await;
    let mut tx = db.begin().await.unwrap();
    let renamed = metrics::update(
        &mut tx,
        &org,
        &sum.id,
        Some("Total"),
        Some(Some("all of it")),
        9,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.description.as_deref(),
            renamed.updated_at
        ),
        ("Total", Some("all of it"), 9)
    );
    let kept = metrics::update(&mut tx, &org, &sum.id, None, None, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.description.as_deref(), Some("all of it"));
    let cleared = metrics::update(&mut tx, &org, &sum.id, None, Some(None), 11)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.description, None);
    assert!(
        metrics::update(&mut tx, &org, "mtr_none", Some("x"), None, 1)
            .await
            .unwrap()
            .is_none()
    );
    metrics::add_diagnostics(
        &mut tx,
        &org,
        &sum.id,
        Diagnostics {
            skipped_missing: 2,
            skipped_non_numeric: 1,
        },
    )
    .await
    .unwrap();
    metrics::add_diagnostics(
        &mut tx,
        &org,
        &sum.id,
        Diagnostics {
            skipped_missing: 1,
            skipped_non_numeric: 0,
        },
    )
    .await
    .unwrap();
    let archived = metrics::archive(&mut tx, &org, &count.id, 12)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(archived.archived_at, Some(12));
    tx.commit().await.unwrap();

    let mut c = db.read().await.unwrap();
    assert_eq!(
        metrics::diagnostics(&mut c, &org, &sum.id).await.unwrap(),
        Diagnostics {
            skipped_missing: 3,
            skipped_non_numeric: 1
        }
    );
    let f = metrics::ListFilter::default();
    let (live, total) = metrics::list(&mut c, &org, &f, (SortField::CreatedAt, false), 10, 0)
        .await
        .unwrap();
    assert_eq!((live.len(), total), (1, 1));
    let all = metrics::ListFilter {
        include_archived: true,
        ..Default::default()
    };
    let (both, _) = metrics::list(&mut c, &org, &all, (SortField::Name, true), 10, 0)
        .await
        .unwrap();
    assert_eq!(
        both.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        vec!["count", "Total"]
    );
    let by_method = metrics::ListFilter {
        methods: vec!["count".into()],
        include_archived: true,
        ..Default::default()
    };
    assert_eq!(
        metrics::list(
            &mut c,
            &org,
            &by_method,
            (SortField::EventName, false),
            10,
            0
        )
        .await
        .unwrap()
        .1,
        1
    );
    let by_field = metrics::ListFilter {
        fields: vec!["v".into()],
        event_names: vec!["api".into()],
        ..Default::default()
    };
    assert_eq!(
        metrics::list(&mut c, &org, &by_field, (SortField::CreatedAt, true), 10, 0)
            .await
            .unwrap()
            .1,
        1
    );
    let by_tag = metrics::ListFilter {
        tag_ids: vec!["tag_x".into()],
        include_archived: true,
        ..Default::default()
    };
    assert_eq!(
        metrics::list(&mut c, &org, &by_tag, (SortField::CreatedAt, false), 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    assert_eq!(
        metrics::for_event_names(&mut c, &org, &["api"])
            .await
            .unwrap()
            .len(),
        2,
        "archived metrics keep counting"
    );
    assert!(
        metrics::for_event_names(&mut c, &org, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        metrics::get(&mut c, "org_other", &sum.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn ingest_counts_once_and_rollups_merge_exactly(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &["acme"]).await;
    let sum = metric(&db, &org, "sum", Some("v")).await;
    let latest = metric(&db, &org, "latest", Some("v")).await;
    let uniq = metric(&db, &org, "count_unique", Some("v")).await;
    let batches = [
        vec![
            valid("e1", "acme", 10, props(&[("v", "0.1")])),
            valid("e1", "acme", 10, props(&[("v", "0.1")])),
            valid("e2", "acme", 20, props(&[("v", "-7.25")])),
        ],
        vec![
            valid("e2", "acme", 20, props(&[("v", "-7.25")])),
            valid("e3", "acme", HOUR + 5, props(&[("v", "0.1")])),
        ],
        vec![
            valid("e4", acme.as_str(), 30, props(&[("v", "100")])),
            valid("e5", "acme", 30, props(&[("w", "1")])),
        ],
    ];
    let mut outcomes = Vec::new();
    for b in &batches {
        let mut tx = db.begin().await.unwrap();
        let refs: Vec<&ValidEvent> = b.iter().collect();
        outcomes.push(ingest::ingest(&mut tx, &org, &refs, 1).await.unwrap());
        tx.commit().await.unwrap();
    }
    let stored = Outcome::Stored { matched: true };
    let dup = Outcome::Duplicate { matched: true };
    assert_eq!(
        outcomes,
        vec![
            vec![stored, dup, stored],
            vec![dup, stored],
            vec![stored, stored]
        ]
    );

    settle(&db).await;
    let mut c = db.read().await.unwrap();
    let buckets: BTreeMap<i64, Bucket> =
        usage::buckets(&mut c, &org, &sum.id, &acme, (0, 2 * HOUR))
            .await
            .unwrap()
            .into_iter()
            .collect();
    let h0 = &buckets[&0];
    assert_eq!((h0.events, h0.values), (4, 3), "e5 matched without a value");
    assert_eq!(h0.sum, Decimal::from_str("92.85").unwrap());
    assert_eq!(h0.min, Some(Decimal::from_str("-7.25").unwrap()));
    assert_eq!(h0.max, Some(Decimal::from(100)));
    assert_eq!(buckets[&HOUR].sum, Decimal::from_str("0.1").unwrap());
    let l = usage::buckets(&mut c, &org, &latest.id, &acme, (0, HOUR))
        .await
        .unwrap();
    assert_eq!(
        l[0].1.latest.unwrap().value,
        Decimal::from(100),
        "latest: the later timestamp wins"
    );
    let d = usage::distinct(&mut c, &org, &uniq.id, &acme, (0, 2 * HOUR))
        .await
        .unwrap();
    let mut values: Vec<String> = d.into_iter().map(|(_, v)| v).collect();
    values.sort();
    assert_eq!(
        values,
        vec!["-7.25", "0.1", "0.1", "100"],
        "one row per value per hour"
    );
    assert_eq!(
        metrics::diagnostics(&mut c, &org, &sum.id)
            .await
            .unwrap()
            .skipped_missing,
        1
    );
    assert!(
        usage::buckets(&mut c, &org, &sum.id, &acme, (2 * HOUR, 3 * HOUR))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn backfill_and_raw_reads(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &["acme"]).await;
    let batch: Vec<ValidEvent> = (0..50)
        .map(|i| {
            valid(
                &format!("b{i}"),
                "acme",
                i * HOUR / 10,
                props(&[("v", "1.01")]),
            )
        })
        .collect();
    let refs: Vec<&ValidEvent> = batch.iter().collect();
    let mut tx = db.begin().await.unwrap();
    ingest::ingest(&mut tx, &org, &refs, 1).await.unwrap();
    tx.commit().await.unwrap();
    let sum = metric(&db, &org, "sum", Some("v")).await;
    settle(&db).await;
    let mut c = db.read().await.unwrap();
    let buckets = usage::buckets(&mut c, &org, &sum.id, &acme, (0, 10 * HOUR))
        .await
        .unwrap();
    assert_eq!(buckets.len(), 5);
    assert_eq!(
        buckets.iter().map(|(_, b)| b.sum).sum::<Decimal>(),
        Decimal::from_str("50.50").unwrap()
    );
    let raw = usage::raw_events(
        &mut c,
        &org,
        &acme,
        "api",
        &[(0, HOUR / 2), (4 * HOUR, 10 * HOUR)],
    )
    .await
    .unwrap();
    assert_eq!(raw.len(), 5 + 10);
    assert_eq!(raw[0].properties["v"], PropValue::Num("1.01".into()));
}

/// Raw reads find every event of a customer whether it is in SQLite's batched `event_index` or in
/// the unsettled tail above its watermark, including events claimed on either side of it, and the
/// ingest path settles the tail once it is `tail::LIMIT` long. (On PostgreSQL settling is a no-op
/// and the same reads must hold.)
async fn raw_reads_cover_the_index_and_its_tail(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &["acme"]).await;
    // (account, n, ts) of everything sent; n is the event's `n` property.
    let mut sent: Vec<(&str, i64, i64)> = Vec::new();
    let mut n = 0;
    let mut send = async |db: &Db, account: &'static str, count: i64, sent: &mut Vec<_>| {
        let batch: Vec<ValidEvent> = (0..count)
            .map(|_| {
                n += 1;
                let ts = (n * 7_919) % (10 * HOUR / 1_000) * 1_000;
                sent.push((account, n, ts));
                valid(
                    &format!("e{n}"),
                    account,
                    ts,
                    props(&[("n", &n.to_string())]),
                )
            })
            .collect();
        let refs: Vec<&ValidEvent> = batch.iter().collect();
        let mut tx = db.begin().await.unwrap();
        ingest::ingest(&mut tx, &org, &refs, 0).await.unwrap();
        tx.commit().await.unwrap();
    };
    let index = settle;
    let claim = async |db: &Db, name: &str, account: &str| {
        let id = customer(db, &org, name, &[]).await;
        let mut tx = db.begin().await.unwrap();
        events::lock_org(&mut tx, &org, true).await.unwrap();
        events::claim_unmatched(&mut tx, &org, &id, &[account.to_string()])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    let check = async |db: &Db, customer: &str, accounts: &[&str], sent: &[(&str, i64, i64)]| {
        let ranges = [
            (0, 10 * HOUR),
            (HOUR / 3, 2 * HOUR + 17),
            (5 * HOUR, 5 * HOUR + 1),
        ];
        let mut c = db.read().await.unwrap();
        for range in ranges {
            let raw = usage::raw_events(&mut c, &org, customer, "api", &[range])
                .await
                .unwrap();
            let mut got: Vec<String> = raw
                .iter()
                .map(|e| match &e.properties["n"] {
                    PropValue::Num(n) => n.clone(),
                    other => panic!("n is {other:?}"),
                })
                .collect();
            got.sort();
            let mut want: Vec<String> = sent
                .iter()
                .filter(|(a, _, ts)| accounts.contains(a) && range.0 <= *ts && *ts < range.1)
                .map(|(_, n, _)| n.to_string())
                .collect();
            want.sort();
            assert_eq!(got, want, "{customer} in {range:?}");
        }
    };

    send(&db, "acme", 30, &mut sent).await;
    send(&db, "ghost", 10, &mut sent).await;
    check(&db, &acme, &["acme"], &sent).await;
    index(&db).await;
    check(&db, &acme, &["acme"], &sent).await;
    send(&db, "acme", 20, &mut sent).await;
    send(&db, "late", 10, &mut sent).await;
    check(&db, &acme, &["acme"], &sent).await;
    // Claimed below the watermark ("ghost", indexed while unmatched) and above it ("late").
    let ghost = claim(&db, "Ghost", "ghost").await;
    let late = claim(&db, "Late", "late").await;
    check(&db, &ghost, &["ghost"], &sent).await;
    check(&db, &late, &["late"], &sent).await;
    index(&db).await;
    for (id, account) in [(&acme, "acme"), (&ghost, "ghost"), (&late, "late")] {
        check(&db, id, &[account], &sent).await;
    }

    // A tail of LIMIT events is settled by the ingest transaction that reaches it.
    send(&db, "acme", tail::LIMIT, &mut sent).await;
    let mut c = db.read().await.unwrap();
    assert_eq!(tail::pending(&mut c).await.unwrap(), 0);
    drop(c);
    check(&db, &acme, &["acme"], &sent).await;
}

/// SQLite merges rollup decimals with its registered functions, PostgreSQL with NUMERIC: both
/// exact beyond what a float can hold.
async fn decimal_rollups_merge_in_sql(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &["acme"]).await;
    let sum = metric(&db, &org, "sum", Some("v")).await;
    let min = metric(&db, &org, "min", Some("v")).await;
    for (i, v) in ["0.1", "0.2", "12345678901234567.0000000001", "-0.3"]
        .iter()
        .enumerate()
    {
        let e = [valid(&format!("d{i}"), "acme", 5, props(&[("v", v)]))];
        let refs: Vec<&ValidEvent> = e.iter().collect();
        let mut tx = db.begin().await.unwrap();
        ingest::ingest(&mut tx, &org, &refs, 1).await.unwrap();
        tx.commit().await.unwrap();
        // Settled one at a time, so SQLite merges in SQL as the ingest path once did.
        settle(&db).await;
    }
    let mut c = db.read().await.unwrap();
    let s = usage::buckets(&mut c, &org, &sum.id, &acme, (0, HOUR))
        .await
        .unwrap();
    assert_eq!(
        s[0].1.sum,
        Decimal::from_str("12345678901234567.0000000001").unwrap()
    );
    let m = usage::buckets(&mut c, &org, &min.id, &acme, (0, HOUR))
        .await
        .unwrap();
    assert_eq!(m[0].1.min, Some(Decimal::from_str("-0.3").unwrap()));
    assert_eq!(
        m[0].1.max,
        Some(Decimal::from_str("12345678901234567.0000000001").unwrap())
    );
}

/// On SQLite the newest events reach the stored rollups only when the tail is settled, and every
/// reader adds the tail itself. Whenever it is read, each event counts once: before settling and
/// after, for a metric created while a tail was waiting (its backfill covers the settled events,
/// settling the rest), and for unmatched events claimed out of the tail.
async fn rollups_read_the_same_settled_or_not(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &["acme"]).await;
    let sum = metric(&db, &org, "sum", Some("v")).await;
    let uniq = metric(&db, &org, "count_unique", Some("v")).await;
    let mut n = 0;
    // Event n: value n % 7 (a word when n % 5 == 0, none when n % 11 == 0), 10 minutes apart.
    let mut send = async |db: &Db, account: &str, count: usize| {
        let batch: Vec<ValidEvent> = (0..count)
            .map(|_| {
                n += 1;
                let mut p = Properties::new();
                if n % 5 == 0 {
                    p.insert("v".into(), PropValue::Str("many".into()));
                } else if n % 11 != 0 {
                    p.insert("v".into(), PropValue::Num((n % 7).to_string()));
                }
                valid(&format!("s{n}"), account, n * HOUR / 6, p)
            })
            .collect();
        let refs: Vec<&ValidEvent> = batch.iter().collect();
        let mut tx = db.begin().await.unwrap();
        ingest::ingest(&mut tx, &org, &refs, 0).await.unwrap();
        tx.commit().await.unwrap();
    };
    send(&db, "acme", 30).await;
    settle(&db).await;
    send(&db, "acme", 25).await;
    send(&db, "ghost", 12).await;
    // Created with a tail waiting: the same definition as `sum`, so it must read the same.
    let late = metric(&db, &org, "sum", Some("v")).await;
    let ghost = customer(&db, &org, "Ghost", &[]).await;
    let mut tx = db.begin().await.unwrap();
    events::lock_org(&mut tx, &org, true).await.unwrap();
    let claimed = events::claim_unmatched(&mut tx, &org, &ghost, &["ghost".to_string()])
        .await
        .unwrap();
    let pairs: Vec<(&str, &RawEvent)> = claimed.iter().map(|e| (ghost.as_str(), e)).collect();
    usage::record(&mut tx, &org, &pairs).await.unwrap();
    tx.commit().await.unwrap();

    // Both levels: the hours of the first 20 hours, and the day they lie in (its own range, read
    // separately).
    type Read = Vec<(Vec<(i64, Bucket)>, Vec<(i64, String)>, Diagnostics, Rollups)>;
    let read = async |db: &Db| -> Read {
        let mut c = db.read().await.unwrap();
        let mut out = Vec::new();
        for m in [&sum, &late, &uniq] {
            for customer in [&acme, &ghost] {
                let mut r =
                    usage::rollups(&mut c, &org, m, customer, &[(0, DAY)], &[(0, 20 * HOUR)])
                        .await
                        .unwrap();
                r.distinct_hours.sort();
                r.distinct_hours.dedup();
                r.distinct_days.sort();
                r.distinct_days.dedup();
                let d = usage::diagnostics(&mut c, &org, m).await.unwrap();
                let (hours, distinct) = (r.hours.clone(), r.distinct_hours.clone());
                out.push((hours, distinct, d, r));
            }
        }
        out
    };
    let before = read(&db).await;
    let total = |r: &Read, i: usize| r[i].0.iter().map(|(_, b)| b.sum).sum::<Decimal>();
    let events = |r: &Read, i: usize| r[i].0.iter().map(|(_, b)| b.events).sum::<i64>();
    // Events 1..=55 are acme's, 56..=67 ghost's.
    let want = |ns: std::ops::RangeInclusive<i64>| -> Decimal {
        ns.filter(|n| n % 5 != 0 && n % 11 != 0)
            .map(|n| Decimal::from(n % 7))
            .sum()
    };
    assert_eq!(total(&before, 0), want(1..=55), "sum, acme");
    assert_eq!(total(&before, 1), want(56..=67), "sum, ghost");
    assert_eq!((events(&before, 0), events(&before, 1)), (55, 12));
    assert_eq!(before[0], before[2], "a metric made with a tail waiting");
    assert_eq!(before[1], before[3], "a metric made with a tail waiting");
    assert_eq!(
        before[0].2,
        Diagnostics {
            skipped_missing: 5,
            skipped_non_numeric: 13
        },
        "11, 22, 33, 44 and 66 carry no value; 5, 10, ..., 65 a word"
    );
    let mut distinct: Vec<(i64, String)> = (1..=55i64)
        .filter(|n| n % 5 == 0 || n % 11 != 0)
        .map(|n| {
            let v = if n % 5 == 0 {
                "many".to_string()
            } else {
                (n % 7).to_string()
            };
            (n * HOUR / 6 / HOUR * HOUR, v)
        })
        .collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(before[4].1, distinct, "count_unique, acme");
    // The day holds exactly its hours, settled or not.
    for (hours, _, _, r) in &before {
        let mut day = Bucket::default();
        for (_, b) in hours {
            day.merge(b).unwrap();
        }
        assert_eq!(r.days, vec![(0, day)]);
        let values: std::collections::BTreeSet<&String> =
            r.distinct_hours.iter().map(|(_, v)| v).collect();
        let day_values: Vec<&String> = r.distinct_days.iter().map(|(_, v)| v).collect();
        assert_eq!(day_values, values.into_iter().collect::<Vec<_>>());
    }
    settle(&db).await;
    assert_eq!(read(&db).await, before, "settling changes no answer");
}

/// A database whose hourly rollups predate the daily level (migration 0011) has its days gathered
/// once, at start-up, across several build pages; later starts leave them alone.
async fn daily_rollups_are_built_from_older_hourly_ones(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &[]).await;
    let beta = customer(&db, &org, "Beta", &[]).await;
    let metrics = vec![
        metric(&db, &org, "sum", Some("v")).await,
        metric(&db, &org, "count_unique", Some("v")).await,
        metric(&db, &org, "latest", Some("v")).await,
    ];
    // 2 customers x 3 metrics x 3,000 hours: over 10,000 rows per table, more than one page.
    let mut deltas = Deltas::default();
    let mut seq = 0;
    for customer in [&acme, &beta] {
        for h in 0..3_000i64 {
            seq += 1;
            let e = RawEvent {
                seq,
                ts: h * HOUR + 7,
                event_name: "api".into(),
                properties: props(&[("v", &format!("{}.25", (h * 7) % 13))]),
            };
            deltas.add(&metrics, customer, &e).unwrap();
        }
    }
    let mut tx = db.begin().await.unwrap();
    usage::apply(&mut tx, &org, &deltas).await.unwrap();
    tx.commit().await.unwrap();
    let read = async || {
        let mut c = db.read().await.unwrap();
        let mut out = Vec::new();
        for m in &metrics {
            for customer in [&acme, &beta] {
                let mut r = usage::rollups(&mut c, &org, m, customer, &[(0, 125 * DAY)], &[])
                    .await
                    .unwrap();
                r.distinct_days.sort();
                out.push(r);
            }
        }
        out
    };
    let written = read().await;
    assert_eq!(written[0].days.len(), 125);
    assert_eq!(
        written[0].days.iter().map(|(_, b)| b.sum).sum::<Decimal>(),
        deltas
            .buckets
            .iter()
            .filter(|(k, _)| k.metric_id == metrics[0].id && k.customer_id == acme)
            .map(|(_, b)| b.sum)
            .sum::<Decimal>()
    );

    // What a database from before migration 0011 looks like: hourly rows, no days, not built.
    let mut tx = db.begin().await.unwrap();
    for sql in [
        "DELETE FROM usage_days",
        "DELETE FROM usage_distinct_days",
        "UPDATE usage_days_state SET built = 0",
    ] {
        on_conn(&mut tx, sql).await;
    }
    tx.commit().await.unwrap();
    assert!(read().await.iter().all(|r| r.days.is_empty()));
    db.migrate().await.unwrap();
    assert_eq!(read().await, written, "built from the hours");
    db.migrate().await.unwrap();
    assert_eq!(read().await, written, "built once");
}

async fn on_conn(c: &mut impl abacus_store::Connection, sql: &'static str) {
    match c.conn() {
        Conn::Sqlite(e) => drop(sqlx::query(sql).execute(e).await.unwrap()),
        Conn::Postgres(e) => drop(sqlx::query(sql).execute(e).await.unwrap()),
    }
}

/// A settling pass prepared from a snapshot (as the server's writer has one prepared on a read
/// connection) is applied only if nothing it read has changed: events that arrived after it stay
/// in the tail, and a claim, a new metric or another pass in between make it stale. Whichever
/// way, every event counts once. (On PostgreSQL there is never a pass to prepare.)
async fn a_prepared_pass_applies_only_if_nothing_changed(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let acme = customer(&db, &org, "Acme", &["acme"]).await;
    let sum = metric(&db, &org, "sum", Some("v")).await;
    let mut n = 0;
    let mut send = async |account: &str, count: i64| {
        let batch: Vec<ValidEvent> = (0..count)
            .map(|_| {
                n += 1;
                valid(
                    &format!("p{n}"),
                    account,
                    n * 60_000_000,
                    props(&[("v", "1.5")]),
                )
            })
            .collect();
        let refs: Vec<&ValidEvent> = batch.iter().collect();
        let mut tx = db.begin().await.unwrap();
        ingest::ingest(&mut tx, &org, &refs, 0).await.unwrap();
        tx.commit().await.unwrap();
    };
    let prepare = async || {
        let mut tx = db.read_tx().await.unwrap();
        tail::prepare(&mut tx).await.unwrap()
    };
    let apply = async |pass: &tail::Prepared| {
        let mut tx = db.begin().await.unwrap();
        let applied = tail::apply(&mut tx, pass).await.unwrap();
        tx.commit().await.unwrap();
        applied
    };
    let pending = async || tail::pending(&mut db.read().await.unwrap()).await.unwrap();
    let total = async |m: &abacus_core::metering::Metric, customer: &str| {
        let mut c = db.read_tx().await.unwrap();
        let r = usage::rollups(&mut c, &org, m, customer, &[(0, 10 * DAY)], &[])
            .await
            .unwrap();
        r.days.iter().map(|(_, b)| b.sum).sum::<Decimal>()
    };
    let sum_of = |events: i64| Decimal::from_str("1.5").unwrap() * Decimal::from(events);

    send("acme", 40).await;
    if backend == Backend::Postgres {
        assert!(prepare().await.is_none(), "PostgreSQL has no tail");
        assert_eq!(total(&sum, &acme).await, sum_of(40));
        return;
    }
    // Events that arrive after the snapshot stay in the tail.
    let pass = prepare().await.unwrap();
    assert_eq!(pass.len(), 40);
    send("acme", 10).await;
    assert!(apply(&pass).await);
    assert_eq!(pending().await, 10);
    assert_eq!(total(&sum, &acme).await, sum_of(50));

    // A claim of one of its unmatched events makes it stale.
    send("ghost", 5).await;
    let pass = prepare().await.unwrap();
    let ghost = customer(&db, &org, "Ghost", &[]).await;
    let mut tx = db.begin().await.unwrap();
    events::lock_org(&mut tx, &org, true).await.unwrap();
    events::claim_unmatched(&mut tx, &org, &ghost, &["ghost".to_string()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(!apply(&pass).await, "a claim in between");
    assert_eq!(pending().await, 15);
    assert_eq!(total(&sum, &ghost).await, sum_of(5));

    // So does a new metric, which the pass has no rollups for.
    let pass = prepare().await.unwrap();
    let late = metric(&db, &org, "sum", Some("v")).await;
    assert!(!apply(&pass).await, "a metric in between");
    // And another pass in between.
    let pass = prepare().await.unwrap();
    settle(&db).await;
    assert!(!apply(&pass).await, "a pass in between");
    assert_eq!(pending().await, 0);
    for m in [&sum, &late] {
        assert_eq!(total(m, &acme).await, sum_of(50));
        assert_eq!(total(m, &ghost).await, sum_of(5));
    }
    assert!(prepare().await.is_none(), "nothing left to settle");
}
