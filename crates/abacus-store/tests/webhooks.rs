//! The webhook repositories (endpoints, the outbox, claiming, attempts) on SQLite and PostgreSQL.

use abacus_core::webhooks::{Event, TestPayload};
use abacus_store::testing::TestDb;
use abacus_store::webhooks::{
    self, AfterFailure, AttemptOutcome, Claimed, EndpointSpec, MessageStatus,
};
use abacus_store::{Backend, Db, on_both_backends, orgs};

on_both_backends!(
    endpoints_crud_and_tenancy,
    rotation_keeps_the_old_secret_for_the_overlap,
    enqueue_targets_matching_enabled_endpoints_in_the_callers_transaction,
    claims_one_message_per_endpoint_in_creation_order,
    attempts_move_messages_on_and_disable_failing_endpoints,
    resend_and_recover_requeue_failed_messages,
    expired_leases_are_claimed_again,
    deleting_an_endpoint_deletes_its_messages,
);

const SEC: i64 = 1_000_000;

async fn setup(backend: Backend) -> Option<(TestDb, Db, String, String)> {
    let t = TestDb::fresh(backend).await?;
    let db = t.migrated().await;
    let mut ids = Vec::new();
    let mut tx = db.begin().await.unwrap();
    for name in ["Acme", "Other"] {
        let org = orgs::Organization {
            id: orgs::new_id(),
            name: name.into(),
            time_zone: "UTC".into(),
            created_at: 1,
        };
        orgs::insert(&mut tx, &org).await.unwrap();
        ids.push(org.id);
    }
    tx.commit().await.unwrap();
    let other = ids.pop().unwrap();
    Some((t, db, ids.pop().unwrap(), other))
}

fn spec(url: &str, types: Option<&[&str]>) -> EndpointSpec {
    EndpointSpec {
        url: url.into(),
        description: Some("billing".into()),
        event_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
        enabled: true,
    }
}

async fn endpoint(db: &Db, org: &str, url: &str, types: Option<&[&str]>) -> String {
    let mut tx = db.begin().await.unwrap();
    let e = webhooks::insert_endpoint(&mut tx, org, &spec(url, types), "whsec_AAAA", 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    e.id
}

fn test_event(n: u32) -> Event {
    Event::Test(TestPayload {
        endpoint_id: "x".into(),
        message: format!("n{n}"),
    })
}

async fn enqueue(db: &Db, org: &str, event: &Event, now: i64) -> webhooks::Enqueued {
    let mut tx = db.begin().await.unwrap();
    let e = webhooks::enqueue_event(&mut tx, org, event, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    e
}

async fn claim(db: &Db, now: i64, limit: i64) -> Vec<Claimed> {
    let mut tx = db.begin().await.unwrap();
    let c = webhooks::claim_due(&mut tx, now, now + 60 * SEC, limit)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    c
}

fn outcome(at: i64, success: bool) -> AttemptOutcome {
    AttemptOutcome {
        started_at: at,
        success,
        status_code: Some(if success { 200 } else { 500 }),
        latency_ms: 12,
        response_body: Some("ok".into()),
        error: (!success).then(|| "HTTP 500".into()),
    }
}

async fn record(
    db: &Db,
    c: &Claimed,
    at: i64,
    success: bool,
    next: Option<i64>,
    disable_before: i64,
) -> webhooks::Recorded {
    let mut tx = db.begin().await.unwrap();
    let r = webhooks::record_attempt(
        &mut tx,
        c,
        &outcome(at, success),
        AfterFailure {
            next_attempt_at: next,
            disable_if_failing_since: disable_before,
        },
        at,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    r
}

async fn endpoints_crud_and_tenancy(backend: Backend) {
    let Some((_t, db, org, other)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    let a = webhooks::insert_endpoint(
        &mut tx,
        &org,
        &spec("https://a.example/", Some(&["invoice.paid"])),
        "whsec_AAAA",
        10,
    )
    .await
    .unwrap();
    let b = webhooks::insert_endpoint(
        &mut tx,
        &org,
        &spec("https://b.example/", None),
        "whsec_BBBB",
        20,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(a.id.starts_with("we_") && a.id.len() == 25, "{}", a.id);
    assert_eq!(a.event_types, Some(vec!["invoice.paid".to_string()]));
    assert_eq!(b.event_types, None);
    assert!(a.wants("invoice.paid") && !a.wants("invoice.issued"));
    assert!(b.wants("anything"));
    assert_eq!((a.created_at, a.updated_at), (10, 10));

    let mut c = db.read().await.unwrap();
    let (list, total) = webhooks::list_endpoints(&mut c, &org, 1, 0).await.unwrap();
    assert_eq!((list.len(), total), (1, 2));
    assert_eq!(list[0].id, a.id, "oldest first");
    let (list, _) = webhooks::list_endpoints(&mut c, &org, 10, 1).await.unwrap();
    assert_eq!(list[0].id, b.id);
    assert_eq!(
        webhooks::list_endpoints(&mut c, &other, 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    assert!(
        webhooks::get_endpoint(&mut c, &other, &a.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        webhooks::get_endpoint(&mut c, &org, &a.id)
            .await
            .unwrap()
            .unwrap(),
        a
    );
    drop(c);

    let mut tx = db.begin().await.unwrap();
    let changed = EndpointSpec {
        url: "https://a2.example/".into(),
        description: None,
        event_types: None,
        enabled: false,
    };
    assert!(
        webhooks::update_endpoint(&mut tx, &other, &a.id, &changed, 30)
            .await
            .unwrap()
            .is_none()
    );
    let a2 = webhooks::update_endpoint(&mut tx, &org, &a.id, &changed, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a2.url, "https://a2.example/");
    assert_eq!(
        (a2.description.clone(), a2.event_types.clone(), a2.enabled),
        (None, None, false)
    );
    assert_eq!((a2.created_at, a2.updated_at), (10, 30));
    assert!(
        !webhooks::delete_endpoint(&mut tx, &other, &a.id)
            .await
            .unwrap()
    );
    assert!(
        webhooks::delete_endpoint(&mut tx, &org, &a.id)
            .await
            .unwrap()
    );
    assert!(
        !webhooks::delete_endpoint(&mut tx, &org, &a.id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    assert_eq!(
        webhooks::list_endpoints(&mut c, &org, 10, 0)
            .await
            .unwrap()
            .1,
        1
    );
}

async fn rotation_keeps_the_old_secret_for_the_overlap(backend: Backend) {
    let Some((_t, db, org, other)) = setup(backend).await else {
        return;
    };
    let id = endpoint(&db, &org, "https://a.example/", None).await;
    let mut tx = db.begin().await.unwrap();
    assert!(
        webhooks::rotate_secret(&mut tx, &other, &id, "whsec_NEW", 100, 50)
            .await
            .unwrap()
            .is_none()
    );
    let e = webhooks::rotate_secret(&mut tx, &org, &id, "whsec_NEW", 100, 50)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(e.secret, "whsec_NEW");
    assert_eq!(e.previous_secret.as_deref(), Some("whsec_AAAA"));
    assert_eq!(e.signing_secrets(99), vec!["whsec_NEW", "whsec_AAAA"]);
    assert_eq!(e.signing_secrets(100), vec!["whsec_NEW"]);
    // A second rotation drops the first secret.
    let mut tx = db.begin().await.unwrap();
    let e = webhooks::rotate_secret(&mut tx, &org, &id, "whsec_NEWER", 200, 60)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(e.signing_secrets(150), vec!["whsec_NEWER", "whsec_NEW"]);
}

async fn enqueue_targets_matching_enabled_endpoints_in_the_callers_transaction(backend: Backend) {
    let Some((_t, db, org, other)) = setup(backend).await else {
        return;
    };
    let all = endpoint(&db, &org, "https://all.example/", None).await;
    let paid = endpoint(&db, &org, "https://paid.example/", Some(&["invoice.paid"])).await;
    let disabled = endpoint(&db, &org, "https://off.example/", None).await;
    let foreign = endpoint(&db, &other, "https://other.example/", None).await;
    let mut tx = db.begin().await.unwrap();
    let mut off = spec("https://off.example/", None);
    off.enabled = false;
    webhooks::update_endpoint(&mut tx, &org, &disabled, &off, 11)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let samples = Event::samples(1_000 * SEC);
    let paid_event = samples
        .iter()
        .find(|e| e.event_type() == "invoice.paid")
        .unwrap();
    let issued = samples
        .iter()
        .find(|e| e.event_type() == "invoice.issued")
        .unwrap();
    let e1 = enqueue(&db, &org, paid_event, 1_000 * SEC).await;
    assert_eq!(
        e1.message_ids.len(),
        2,
        "the catch-all and the invoice.paid endpoint"
    );
    let e2 = enqueue(&db, &org, issued, 1_001 * SEC).await;
    assert_eq!(e2.message_ids.len(), 1);
    assert!(e1.event_id.starts_with("evt_") && e1.message_ids[0].starts_with("msg_"));

    // The untyped form, and an event nobody wants (still recorded).
    let mut tx = db.begin().await.unwrap();
    let e3 = webhooks::enqueue(
        &mut tx,
        &org,
        "payment.created",
        &serde_json::json!({"id": "p"}),
        1_002 * SEC,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(e3.message_ids.len(), 1);
    let mut tx = db.begin().await.unwrap();
    let lone = webhooks::enqueue_to_endpoint(&mut tx, &org, &paid, &test_event(1), 1_003 * SEC)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        lone.message_ids.len(),
        1,
        "the test event ignores the filter"
    );

    // Rolled back with the caller's transaction: nothing left.
    let mut tx = db.begin().await.unwrap();
    webhooks::enqueue_event(&mut tx, &org, paid_event, 1_004 * SEC)
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let mut c = db.read().await.unwrap();
    let (msgs, total) = webhooks::list_messages(&mut c, &org, &all, None, 10, 0)
        .await
        .unwrap();
    assert_eq!(total, 3);
    let types: Vec<&str> = msgs.iter().map(|m| m.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["payment.created", "invoice.issued", "invoice.paid"],
        "newest first"
    );
    let m = &msgs[2];
    assert_eq!(m.status, MessageStatus::Pending);
    assert_eq!(
        (m.attempts, m.step, m.next_attempt_at),
        (0, 0, Some(1_000 * SEC))
    );
    let body: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
    assert_eq!(body["type"], "invoice.paid");
    assert_eq!(body["timestamp"], "1970-01-01T00:16:40.000000Z");
    assert_eq!(body["data"]["accountId"], "ywgWhtGp");
    assert!(
        m.payload
            .starts_with(r#"{"type":"invoice.paid","timestamp":"#)
    );
    let (paid_msgs, _) = webhooks::list_messages(&mut c, &org, &paid, None, 10, 0)
        .await
        .unwrap();
    assert_eq!(paid_msgs.len(), 2);
    assert_eq!(paid_msgs[0].event_type, "webhook.test");
    assert_eq!(
        paid_msgs[1].event_id, e1.event_id,
        "both endpoints got the same event"
    );
    assert_eq!(
        webhooks::list_messages(&mut c, &org, &disabled, None, 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    assert_eq!(
        webhooks::list_messages(&mut c, &org, &foreign, None, 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    assert_eq!(
        webhooks::list_messages(&mut c, &other, &all, None, 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    let one = webhooks::get_message(&mut c, &org, &all, &m.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&one, m);
    assert!(
        webhooks::get_message(&mut c, &org, &paid, &m.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        webhooks::get_message(&mut c, &other, &all, &m.id)
            .await
            .unwrap()
            .is_none()
    );
    let pending = webhooks::list_messages(&mut c, &org, &all, Some(MessageStatus::Pending), 2, 0)
        .await
        .unwrap();
    assert_eq!((pending.0.len(), pending.1), (2, 3));
    let failed = webhooks::list_messages(&mut c, &org, &all, Some(MessageStatus::Failed), 10, 0)
        .await
        .unwrap();
    assert_eq!(failed.1, 0);
}

async fn claims_one_message_per_endpoint_in_creation_order(backend: Backend) {
    let Some((_t, db, org, other)) = setup(backend).await else {
        return;
    };
    let a = endpoint(&db, &org, "https://a.example/", None).await;
    let b = endpoint(&db, &other, "https://b.example/", None).await;
    let mut first = Vec::new();
    for n in 0..3 {
        first.push(
            enqueue(&db, &org, &test_event(n), 100 * SEC)
                .await
                .message_ids[0]
                .clone(),
        );
    }
    enqueue(&db, &other, &test_event(9), 100 * SEC).await;
    let mut c = db.read().await.unwrap();
    assert!(
        !webhooks::has_due(&mut c, 99 * SEC).await.unwrap(),
        "nothing due yet"
    );
    assert!(webhooks::has_due(&mut c, 100 * SEC).await.unwrap());
    drop(c);

    let claimed = claim(&db, 100 * SEC, 10).await;
    assert_eq!(claimed.len(), 2, "one message per endpoint");
    let ca = claimed.iter().find(|c| c.endpoint.id == a).unwrap();
    assert_eq!(ca.message.id, first[0], "the oldest first");
    assert_eq!(ca.org_id, org);
    assert_eq!(ca.endpoint.secret, "whsec_AAAA");
    assert!(claimed.iter().any(|c| c.endpoint.id == b));
    // Both endpoints are leased: nothing more to claim, and nothing due for a worker to look at.
    assert!(claim(&db, 101 * SEC, 10).await.is_empty());
    let mut c = db.read().await.unwrap();
    assert!(!webhooks::has_due(&mut c, 101 * SEC).await.unwrap());
    drop(c);

    record(&db, ca, 101 * SEC, true, None, 0).await;
    let next = claim(&db, 102 * SEC, 10).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message.id, first[1], "then the next one");
    // Giving a claim up leaves the message as it was.
    let mut tx = db.begin().await.unwrap();
    webhooks::release(&mut tx, &next[0], 102 * SEC)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let again = claim(&db, 103 * SEC, 1).await;
    assert_eq!(again[0].message.id, first[1]);
    assert_eq!(again[0].message.attempts, 0);
}

async fn attempts_move_messages_on_and_disable_failing_endpoints(backend: Backend) {
    let Some((_t, db, org, other)) = setup(backend).await else {
        return;
    };
    let a = endpoint(&db, &org, "https://a.example/", None).await;
    let m = enqueue(&db, &org, &test_event(0), 100 * SEC)
        .await
        .message_ids[0]
        .clone();
    let c1 = claim(&db, 100 * SEC, 10).await.pop().unwrap();
    let r = record(&db, &c1, 100 * SEC, false, Some(105 * SEC), 0).await;
    assert_eq!(r.status, MessageStatus::Pending);
    assert!(!r.endpoint_disabled);
    assert!(r.attempt_id.starts_with("atm_"));
    assert!(
        claim(&db, 104 * SEC, 10).await.is_empty(),
        "not before its retry time"
    );
    let c2 = claim(&db, 105 * SEC, 10).await.pop().unwrap();
    assert_eq!(
        (c2.message.id.clone(), c2.message.step, c2.message.attempts),
        (m.clone(), 1, 1)
    );
    let r = record(&db, &c2, 105 * SEC, true, None, 0).await;
    assert_eq!(r.status, MessageStatus::Succeeded);

    let mut c = db.read().await.unwrap();
    let msg = webhooks::get_message(&mut c, &org, &a, &m)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.status, MessageStatus::Succeeded);
    assert_eq!(
        (msg.attempts, msg.next_attempt_at, msg.last_attempt_at),
        (2, None, Some(105 * SEC))
    );
    let attempts = webhooks::list_attempts(&mut c, &org, &m).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (
            attempts[0].attempt,
            attempts[0].success,
            attempts[0].status_code
        ),
        (1, false, Some(500))
    );
    assert_eq!(attempts[0].error.as_deref(), Some("HTTP 500"));
    assert_eq!((attempts[1].attempt, attempts[1].success), (2, true));
    assert_eq!(attempts[1].latency_ms, 12);
    assert_eq!(attempts[1].response_body.as_deref(), Some("ok"));
    assert!(
        webhooks::list_attempts(&mut c, &other, &m)
            .await
            .unwrap()
            .is_empty()
    );
    let e = webhooks::get_endpoint(&mut c, &org, &a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.failing_since, None, "a success ends the failure streak");
    drop(c);

    // The schedule runs out: the message fails. Failing since 200 s, disabled once that is
    // before the threshold.
    let m2 = enqueue(&db, &org, &test_event(1), 200 * SEC)
        .await
        .message_ids[0]
        .clone();
    let c3 = claim(&db, 200 * SEC, 10).await.pop().unwrap();
    let r = record(&db, &c3, 200 * SEC, false, None, 100 * SEC).await;
    assert_eq!(
        (r.status, r.endpoint_disabled),
        (MessageStatus::Failed, false)
    );
    let m3 = enqueue(&db, &org, &test_event(2), 300 * SEC)
        .await
        .message_ids[0]
        .clone();
    let c4 = claim(&db, 300 * SEC, 10).await.pop().unwrap();
    assert_eq!(c4.message.id, m3);
    let r = record(&db, &c4, 300 * SEC, false, Some(400 * SEC), 200 * SEC).await;
    assert!(r.endpoint_disabled);
    let mut c = db.read().await.unwrap();
    let e = webhooks::get_endpoint(&mut c, &org, &a)
        .await
        .unwrap()
        .unwrap();
    assert!(!e.enabled);
    assert_eq!(e.failing_since, Some(200 * SEC));
    assert!(e.disabled_reason.is_some());
    let failed = webhooks::get_message(&mut c, &org, &a, &m2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (failed.status, failed.next_attempt_at),
        (MessageStatus::Failed, None)
    );
    assert!(
        !webhooks::has_due(&mut c, 500 * SEC).await.unwrap(),
        "a disabled endpoint gets nothing"
    );
    drop(c);
    assert!(claim(&db, 500 * SEC, 10).await.is_empty());
    // Events enqueued while it is disabled do not reach it.
    assert!(
        enqueue(&db, &org, &test_event(3), 500 * SEC)
            .await
            .message_ids
            .is_empty()
    );
    // Enabling it clears the streak and resumes its pending message.
    let mut tx = db.begin().await.unwrap();
    let e = webhooks::update_endpoint(
        &mut tx,
        &org,
        &a,
        &spec("https://a.example/", None),
        600 * SEC,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    assert!(e.enabled && e.failing_since.is_none() && e.disabled_reason.is_none());
    assert_eq!(claim(&db, 600 * SEC, 10).await[0].message.id, m3);
}

async fn resend_and_recover_requeue_failed_messages(backend: Backend) {
    let Some((_t, db, org, other)) = setup(backend).await else {
        return;
    };
    let a = endpoint(&db, &org, "https://a.example/", None).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let m = enqueue(&db, &org, &test_event(n), (100 + n as i64) * SEC)
            .await
            .message_ids[0]
            .clone();
        let c = claim(&db, 200 * SEC, 10).await.pop().unwrap();
        assert_eq!(c.message.id, m);
        record(&db, &c, 200 * SEC, false, None, 0).await;
        ids.push(m);
    }
    let mut tx = db.begin().await.unwrap();
    assert!(
        !webhooks::resend_message(&mut tx, &other, &a, &ids[0], 300 * SEC)
            .await
            .unwrap()
    );
    assert!(
        !webhooks::resend_message(&mut tx, &org, &a, "msg_nope", 300 * SEC)
            .await
            .unwrap()
    );
    assert!(
        webhooks::resend_message(&mut tx, &org, &a, &ids[0], 300 * SEC)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    let m = webhooks::get_message(&mut c, &org, &a, &ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.status, m.step, m.attempts, m.next_attempt_at),
        (MessageStatus::Pending, 0, 1, Some(300 * SEC))
    );
    drop(c);
    let claimed = claim(&db, 300 * SEC, 10).await.pop().unwrap();
    assert_eq!(claimed.message.id, ids[0]);
    record(&db, &claimed, 300 * SEC, true, None, 0).await;

    // Recover: the failed messages created since 101 s (ids[1] and ids[2]).
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        webhooks::recover_failed(&mut tx, &other, &a, 0, 400 * SEC)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        webhooks::recover_failed(&mut tx, &org, &a, 101 * SEC, 400 * SEC)
            .await
            .unwrap(),
        2
    );
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    let (pending, _) =
        webhooks::list_messages(&mut c, &org, &a, Some(MessageStatus::Pending), 10, 0)
            .await
            .unwrap();
    let mut got: Vec<String> = pending.into_iter().map(|m| m.id).collect();
    got.sort();
    let mut want = vec![ids[1].clone(), ids[2].clone()];
    want.sort();
    assert_eq!(got, want);
    let done = webhooks::get_message(&mut c, &org, &a, &ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        done.status,
        MessageStatus::Succeeded,
        "recover leaves delivered messages alone"
    );
}

async fn expired_leases_are_claimed_again(backend: Backend) {
    let Some((_t, db, org, _)) = setup(backend).await else {
        return;
    };
    endpoint(&db, &org, "https://a.example/", None).await;
    let m = enqueue(&db, &org, &test_event(0), 100 * SEC)
        .await
        .message_ids[0]
        .clone();
    let first = claim(&db, 100 * SEC, 10).await.pop().unwrap();
    // The worker died: no attempt recorded. Within the lease nothing is claimed; after it, the
    // same message is, under a new lease.
    assert!(claim(&db, 159 * SEC, 10).await.is_empty());
    let second = claim(&db, 160 * SEC, 10).await.pop().unwrap();
    assert_eq!(second.message.id, m);
    assert_ne!(second.lease_token, first.lease_token);
    // The stale worker's late release does not end the new lease.
    let mut tx = db.begin().await.unwrap();
    webhooks::release(&mut tx, &first, 161 * SEC).await.unwrap();
    tx.commit().await.unwrap();
    assert!(claim(&db, 162 * SEC, 10).await.is_empty());
}

async fn deleting_an_endpoint_deletes_its_messages(backend: Backend) {
    let Some((_t, db, org, _)) = setup(backend).await else {
        return;
    };
    let a = endpoint(&db, &org, "https://a.example/", None).await;
    let m = enqueue(&db, &org, &test_event(0), 100 * SEC)
        .await
        .message_ids[0]
        .clone();
    let c = claim(&db, 100 * SEC, 10).await.pop().unwrap();
    record(&db, &c, 100 * SEC, false, Some(200 * SEC), 0).await;
    let c = claim(&db, 200 * SEC, 10).await.pop().unwrap();
    let mut tx = db.begin().await.unwrap();
    assert!(webhooks::delete_endpoint(&mut tx, &org, &a).await.unwrap());
    tx.commit().await.unwrap();
    // An attempt that finishes after the deletion is dropped.
    let mut tx = db.begin().await.unwrap();
    let r = webhooks::record_attempt(
        &mut tx,
        &c,
        &outcome(201 * SEC, true),
        AfterFailure {
            next_attempt_at: None,
            disable_if_failing_since: 0,
        },
        201 * SEC,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(r.is_none());
    let mut conn = db.read().await.unwrap();
    assert!(
        webhooks::get_message(&mut conn, &org, &a, &m)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        webhooks::list_attempts(&mut conn, &org, &m)
            .await
            .unwrap()
            .is_empty()
    );
}
