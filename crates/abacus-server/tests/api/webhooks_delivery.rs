//! Webhook delivery end to end: signatures checked by an independent Standard Webhooks
//! implementation, rotation, every event type through the outbox, retries on the schedule,
//! Retry-After, failure and resend, recovery, disabling, ordering, timeouts, redirects, bounded
//! response bodies, and the address check at delivery time.

use std::time::Duration;

use abacus_core::time::now_micros;
use abacus_core::webhooks::{EVENT_TYPES, Event};
use abacus_store::webhooks::{self, EndpointSpec};
use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::webhook_support::{Receiver, Reply, app, endpoint, fast, org_of, verify, wait_status};

on_both_backends!(
    test_event_is_signed_per_the_standard,
    rotated_secrets_sign_together_during_the_overlap,
    every_event_type_goes_through_the_outbox_once,
    fails_twice_then_succeeds_with_one_webhook_id,
    retry_after_is_honoured,
    down_for_the_whole_schedule_then_resent_and_recovered,
    endpoints_failing_too_long_are_disabled,
    one_endpoint_gets_its_messages_one_at_a_time_in_order,
    slow_receivers_time_out_and_redirects_are_not_followed,
    response_bodies_are_read_to_a_bound,
    private_addresses_are_refused_at_delivery_time,
);

const LONG: Duration = Duration::from_secs(20);

async fn send_test(app: &TestApp, endpoint: &str) -> Value {
    let r = app
        .post(&format!("/webhook-endpoints/{endpoint}/test"), &json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    r.body
}

async fn attempts(app: &TestApp, endpoint: &str, msg: &str) -> Vec<Value> {
    let r = app
        .get(&format!(
            "/webhook-endpoints/{endpoint}/messages/{msg}/attempts"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

async fn test_event_is_signed_per_the_standard(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::ok().await;
    let ep = endpoint(&app, &rx.url, Some(&["invoice.paid"])).await;
    let (id, secret) = (ep["id"].as_str().unwrap(), ep["secret"].as_str().unwrap());
    let msg = send_test(&app, id).await;
    assert_eq!(msg["status"], "pending");
    assert_eq!(msg["event_type"], "webhook.test");
    let got = rx.wait_for(1, LONG).await;
    let c = &got[0];
    verify(secret, c).expect("the standardwebhooks crate accepts the signature");
    assert!(
        verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", c).is_err(),
        "another key does not"
    );
    assert_eq!(c.header("webhook-id"), msg["id"]);
    assert_eq!(c.header("content-type"), "application/json");
    for (std, svix) in [
        ("webhook-id", "svix-id"),
        ("webhook-timestamp", "svix-timestamp"),
        ("webhook-signature", "svix-signature"),
    ] {
        assert_eq!(c.header(std), c.header(svix), "{svix} twins {std}");
    }
    let ts: i64 = c.header("webhook-timestamp").parse().unwrap();
    assert!((now_micros() / 1_000_000 - ts).abs() < 60);
    let body = c.json();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["endpointId"], id);
    assert!(crate::harness::is_micros_timestamp(&body["timestamp"]));
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["type", "timestamp", "data"]
    );
    let done = wait_status(&app, id, msg["id"].as_str().unwrap(), "succeeded", LONG).await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["payload"], body, "the log shows the body sent");
    let log = attempts(&app, id, msg["id"].as_str().unwrap()).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status_code"], 200);
    assert_eq!(log[0]["success"], true);
    assert_eq!(log[0]["response_body"], "ok");
    assert!(log[0]["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(log[0]["error"], Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.captured().len(), 1, "delivered exactly once");
}

async fn rotated_secrets_sign_together_during_the_overlap(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::ok().await;
    let ep = endpoint(&app, &rx.url, None).await;
    let id = ep["id"].as_str().unwrap();
    let old = ep["secret"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/webhook-endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(new.starts_with("whsec_"));
    send_test(&app, id).await;
    let c = &rx.wait_for(1, LONG).await[0];
    let sigs: Vec<&str> = c.header("webhook-signature").split(' ').collect();
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    verify(&new, c).expect("the new secret verifies");
    verify(&old, c).expect("the old secret still verifies during the overlap");
    // Each signature alone matches exactly one of the keys.
    for (sig, key) in sigs.iter().zip([&new, &old]) {
        let mut one = c.clone();
        one.headers
            .insert("webhook-signature", sig.parse().unwrap());
        verify(key, &one).unwrap();
    }
    // Past the overlap only the new secret signs.
    let mut tx = app.state.db.begin().await.unwrap();
    let org = org_of(&app).await;
    webhooks::rotate_secret(&mut tx, &org, id, &new, now_micros() - 1, now_micros())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    send_test(&app, id).await;
    let c = &rx.wait_for(2, LONG).await[1];
    assert_eq!(c.header("webhook-signature").split(' ').count(), 1);
    verify(&new, c).unwrap();
    assert!(verify(&old, c).is_err());
}

async fn every_event_type_goes_through_the_outbox_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let all = Receiver::ok().await;
    let invoices = Receiver::ok().await;
    let ep_all = endpoint(&app, &all.url, None).await;
    endpoint(
        &app,
        &invoices.url,
        Some(&["invoice.paid", "invoice.issued"]),
    )
    .await;
    let org = org_of(&app).await;
    let now = now_micros();
    let samples = Event::samples(now);
    // Each event in its own transaction, as a state change would enqueue it.
    for e in &samples {
        let mut tx = app.state.db.begin().await.unwrap();
        webhooks::enqueue_event(&mut tx, &org, e, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // One more, rolled back: never delivered.
    let mut tx = app.state.db.begin().await.unwrap();
    webhooks::enqueue_event(&mut tx, &org, &samples[0], now)
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let got = all.wait_for(EVENT_TYPES.len(), LONG).await;
    let inv = invoices.wait_for(2, LONG).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = all.captured();
    assert_eq!(got_all.len(), EVENT_TYPES.len(), "each event exactly once");
    let types: Vec<String> = got
        .iter()
        .map(|c| c.json()["type"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = EVENT_TYPES.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(types, expected, "in creation order");
    let secret = ep_all["secret"].as_str().unwrap();
    for (c, e) in got.iter().zip(&samples) {
        verify(secret, c).unwrap();
        assert_eq!(c.json()["data"], e.data());
    }
    let inv_types: Vec<Value> = inv.iter().map(|c| c.json()["type"].clone()).collect();
    assert_eq!(inv_types, [json!("invoice.issued"), json!("invoice.paid")]);
    assert_eq!(invoices.captured().len(), 2);
    // Distinct messages, distinct ids.
    let mut ids: Vec<&str> = got_all.iter().map(|c| c.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), EVENT_TYPES.len());
}

async fn fails_twice_then_succeeds_with_one_webhook_id(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::start(|n| {
        if n < 2 {
            Reply::Status(500)
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let ep = endpoint(&app, &rx.url, None).await;
    let id = ep["id"].as_str().unwrap();
    let msg = send_test(&app, id).await;
    let msg_id = msg["id"].as_str().unwrap();
    let got = rx.wait_for(3, LONG).await;
    let done = wait_status(&app, id, msg_id, "succeeded", LONG).await;
    assert_eq!(done["attempts"], 3);
    assert!(
        got.iter().all(|c| c.header("webhook-id") == msg_id),
        "one webhook-id"
    );
    assert!(got.iter().all(|c| c.body == got[0].body), "the same body");
    for c in &got {
        verify(ep["secret"].as_str().unwrap(), c).unwrap();
    }
    let log = attempts(&app, id, msg_id).await;
    let codes: Vec<Value> = log.iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(500), json!(204)]);
    assert_eq!(log[0]["error"], "HTTP 500 Internal Server Error");
    assert_eq!(log[0]["attempt"], 1);
    assert_eq!(log[2]["attempt"], 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.captured().len(), 3);
}

async fn retry_after_is_honoured(backend: Backend) {
    // Delays are divided by 10,000: Retry-After: 20000 s means 2 s, the schedule's 5 s 0.5 ms.
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::start(|n| {
        if n == 0 {
            Reply::RetryAfter(503, 20_000)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let ep = endpoint(&app, &rx.url, None).await;
    send_test(&app, ep["id"].as_str().unwrap()).await;
    let got = rx.wait_for(2, LONG).await;
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(1_800), "waited {gap:?}");
    assert!(gap < Duration::from_secs(6), "waited {gap:?}");
}

async fn down_for_the_whole_schedule_then_resent_and_recovered(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::start(|_| Reply::Status(502)).await;
    let ep = endpoint(&app, &rx.url, None).await;
    let id = ep["id"].as_str().unwrap();
    let first = send_test(&app, id).await;
    let second = send_test(&app, id).await;
    let (m1, m2) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    let failed = wait_status(&app, id, m1, "failed", Duration::from_secs(40)).await;
    wait_status(&app, id, m2, "failed", Duration::from_secs(40)).await;
    assert_eq!(failed["attempts"], 8, "the eight attempts of the schedule");
    assert_eq!(failed["next_attempt_at"], Value::Null);
    assert_eq!(attempts(&app, id, m1).await.len(), 8);
    let r = app
        .get(&format!("/webhook-endpoints/{id}/messages?status=failed"))
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(rx.captured().len(), 16);

    rx.set_plan(|_| Reply::Status(200));
    let r = app
        .post(
            &format!("/webhook-endpoints/{id}/messages/{m1}/resend"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "pending");
    let done = wait_status(&app, id, m1, "succeeded", LONG).await;
    assert_eq!(done["attempts"], 9);
    let last = rx.captured().pop().unwrap();
    assert_eq!(
        last.header("webhook-id"),
        m1,
        "the same webhook-id after a resend"
    );
    verify(ep["secret"].as_str().unwrap(), &last).unwrap();

    // Recover: everything failed since an hour ago, which is the second message.
    let since = abacus_core::time::format_micros(now_micros() - 3_600_000_000);
    let r = app
        .post(
            &format!("/webhook-endpoints/{id}/recover?since={since}"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["recovered"], 1);
    wait_status(&app, id, m2, "succeeded", LONG).await;
    assert_eq!(rx.captured().pop().unwrap().header("webhook-id"), m2);
    let r = app
        .get(&format!("/webhook-endpoints/{id}/messages?status=failed"))
        .await;
    assert_eq!(r.body["data"], json!([]));
}

async fn endpoints_failing_too_long_are_disabled(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        fast(10_000)(c);
        c.webhooks_disable_after_secs = 1;
    })
    .await
    else {
        return;
    };
    let rx = Receiver::start(|_| Reply::Status(500)).await;
    let ep = endpoint(&app, &rx.url, None).await;
    let id = ep["id"].as_str().unwrap();
    let msg = send_test(&app, id).await;
    let deadline = std::time::Instant::now() + LONG;
    let disabled = loop {
        let r = app.get(&format!("/webhook-endpoints/{id}")).await;
        if r.body["enabled"] == false {
            break r.body;
        }
        assert!(std::time::Instant::now() < deadline, "{}", r.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failed")
    );
    let n = rx.captured().len();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        rx.captured().len(),
        n,
        "nothing more is sent to a disabled endpoint"
    );
    let m = app
        .get(&format!(
            "/webhook-endpoints/{id}/messages/{}",
            msg["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        m.body["status"], "pending",
        "kept for when it is enabled again"
    );
    // Test events, resends and recovery are refused while disabled.
    let r = app
        .post(&format!("/webhook-endpoints/{id}/test"), &json!({}))
        .await;
    r.problem(409);
    // Enabled again, it gets the message.
    rx.set_plan(|_| Reply::Status(200));
    let r = app
        .patch(
            &format!("/webhook-endpoints/{id}"),
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body.get("disabled_reason"), None);
    wait_status(&app, id, msg["id"].as_str().unwrap(), "succeeded", LONG).await;
}

async fn one_endpoint_gets_its_messages_one_at_a_time_in_order(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::start(|_| Reply::Slow(Duration::from_millis(150))).await;
    let ep = endpoint(&app, &rx.url, None).await;
    assert!(ep["id"].is_string());
    // Five events in one transaction, as one state change might produce.
    let org = org_of(&app).await;
    let samples = Event::samples(now_micros());
    let mut tx = app.state.db.begin().await.unwrap();
    let mut sent = Vec::new();
    for e in samples.iter().take(5) {
        let q = webhooks::enqueue_event(&mut tx, &org, e, now_micros())
            .await
            .unwrap();
        sent.push(q.message_ids[0].clone());
    }
    tx.commit().await.unwrap();
    let got = rx.wait_for(5, LONG).await;
    let order: Vec<&str> = got.iter().map(|c| c.header("webhook-id")).collect();
    assert_eq!(order, sent.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        rx.max_concurrency(),
        1,
        "one delivery in flight per endpoint"
    );
}

async fn slow_receivers_time_out_and_redirects_are_not_followed(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let target = Receiver::ok().await;
    let hang = Receiver::start(|n| {
        if n == 0 {
            Reply::Hang
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let moved = Receiver::start({
        let to = target.url.clone();
        move |_| Reply::Redirect(to.clone())
    })
    .await;
    let e1 = endpoint(&app, &hang.url, None).await;
    let e2 = endpoint(&app, &moved.url, None).await;
    let (id1, id2) = (e1["id"].as_str().unwrap(), e2["id"].as_str().unwrap());
    let started = std::time::Instant::now();
    let m1 = send_test(&app, id1).await;
    let m2 = send_test(&app, id2).await;
    // The hanging receiver holds its slot for the 2 s timeout; the retry then succeeds.
    let done = wait_status(&app, id1, m1["id"].as_str().unwrap(), "succeeded", LONG).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(done["attempts"], 2);
    let log = attempts(&app, id1, m1["id"].as_str().unwrap()).await;
    assert_eq!(log[0]["status_code"], Value::Null);
    assert!(
        log[0]["error"].as_str().unwrap().contains("timed out"),
        "{}",
        log[0]
    );
    assert!(log[0]["latency_ms"].as_i64().unwrap() >= 1_900);
    // The redirect is an answer, a failure, and never followed.
    let deadline = std::time::Instant::now() + LONG;
    while attempts(&app, id2, m2["id"].as_str().unwrap())
        .await
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = attempts(&app, id2, m2["id"].as_str().unwrap()).await;
    assert_eq!(log[0]["status_code"], 302);
    assert_eq!(log[0]["success"], false);
    assert!(log[0]["error"].as_str().unwrap().contains("redirect"));
    assert!(
        target.captured().is_empty(),
        "the redirect target got nothing"
    );
}

async fn response_bodies_are_read_to_a_bound(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let rx = Receiver::start(|n| {
        if n == 0 {
            Reply::Big(500, 5_000_000)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let ep = endpoint(&app, &rx.url, None).await;
    let id = ep["id"].as_str().unwrap();
    let m = send_test(&app, id).await;
    wait_status(&app, id, m["id"].as_str().unwrap(), "succeeded", LONG).await;
    let log = attempts(&app, id, m["id"].as_str().unwrap()).await;
    assert_eq!(log[0]["status_code"], 500);
    assert_eq!(log[0]["response_body"].as_str().unwrap().len(), 1024);
}

async fn private_addresses_are_refused_at_delivery_time(backend: Backend) {
    // The default configuration: private addresses refused. An endpoint that points at one
    // anyway (stored before the rule, or written behind the API's back) is never called.
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.webhooks_poll_ms = 20;
        c.webhooks_time_divisor = 10_000;
    })
    .await
    else {
        return;
    };
    let rx = Receiver::ok().await;
    let org = org_of(&app).await;
    let mut tx = app.state.db.begin().await.unwrap();
    let spec = EndpointSpec {
        url: rx.url.replace("http://", "https://"),
        description: None,
        event_types: None,
        enabled: true,
    };
    let e = webhooks::insert_endpoint(&mut tx, &org, &spec, "whsec_AAAA", now_micros())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let m = send_test(&app, &e.id).await;
    let m_id = m["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + LONG;
    while attempts(&app, &e.id, m_id).await.is_empty() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = attempts(&app, &e.id, m_id).await;
    let error = log[0]["error"].as_str().unwrap();
    assert!(error.contains("loopback, private or link-local"), "{error}");
    assert_eq!(log[0]["status_code"], Value::Null);
    assert!(rx.captured().is_empty());
}
