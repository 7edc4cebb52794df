//! Bad input on `/webhook-endpoints`, each with its status and the field it names, on a server
//! with the production rules (https only, no private addresses).

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestApp;

on_both_backends!(bad_endpoint_bodies, bad_paths_and_queries);

async fn bad_endpoint_bodies(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ok = "https://hooks.example.com/abacus";
    let long = "d".repeat(1025);
    // (case, body, status, field)
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        ("missing url", json!({}), 422, Some("url")),
        ("url not a string", json!({"url": 42}), 422, Some("url")),
        ("empty url", json!({"url": ""}), 422, Some("url")),
        (
            "not a URL",
            json!({"url": "hooks dot example"}),
            422,
            Some("url"),
        ),
        (
            "plain http",
            json!({"url": "http://hooks.example.com/"}),
            422,
            Some("url"),
        ),
        (
            "another scheme",
            json!({"url": "ftp://hooks.example.com/"}),
            422,
            Some("url"),
        ),
        (
            "credentials",
            json!({"url": "https://u:p@hooks.example.com/"}),
            422,
            Some("url"),
        ),
        (
            "loopback",
            json!({"url": "https://127.0.0.1/hook"}),
            422,
            Some("url"),
        ),
        (
            "localhost",
            json!({"url": "https://localhost:8443/hook"}),
            422,
            Some("url"),
        ),
        (
            "private 10/8",
            json!({"url": "https://10.0.0.5/hook"}),
            422,
            Some("url"),
        ),
        (
            "private 192.168/16",
            json!({"url": "https://192.168.1.20/hook"}),
            422,
            Some("url"),
        ),
        (
            "link-local metadata",
            json!({"url": "https://169.254.169.254/latest"}),
            422,
            Some("url"),
        ),
        (
            "IPv6 loopback",
            json!({"url": "https://[::1]/hook"}),
            422,
            Some("url"),
        ),
        (
            "IPv6 unique local",
            json!({"url": "https://[fd12::1]/hook"}),
            422,
            Some("url"),
        ),
        (
            "too long",
            json!({"url": format!("{ok}/{}", "x".repeat(2100))}),
            422,
            Some("url"),
        ),
        (
            "unknown event type",
            json!({"url": ok, "event_types": ["invoice.paid", "invoice.exploded"]}),
            422,
            Some("event_types[1]"),
        ),
        (
            "the test event is not subscribable",
            json!({"url": ok, "event_types": ["webhook.test"]}),
            422,
            Some("event_types[0]"),
        ),
        (
            "event_types not a list",
            json!({"url": ok, "event_types": "invoice.paid"}),
            422,
            Some("event_types"),
        ),
        (
            "event type not a string",
            json!({"url": ok, "event_types": [7]}),
            422,
            Some("event_types[0]"),
        ),
        (
            "oversized description",
            json!({"url": ok, "description": long}),
            422,
            Some("description"),
        ),
        (
            "description not a string",
            json!({"url": ok, "description": ["a"]}),
            422,
            Some("description"),
        ),
        (
            "enabled not a boolean",
            json!({"url": ok, "enabled": "yes"}),
            422,
            Some("enabled"),
        ),
    ];
    for (case, body, status, field) in &cases {
        let r = app.post("/webhook-endpoints", body).await;
        r.problem(*status);
        if let Some(f) = field {
            assert_eq!(r.error_fields(), vec![f.to_string()], "{case}: {}", r.text);
        }
    }
    // Several bad fields are reported together.
    let r = app
        .post(
            "/webhook-endpoints",
            &json!({"url": "http://10.0.0.1/", "event_types": ["nope"], "description": long}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["url", "event_types[0]", "description"]);
    // Malformed and empty bodies are 400.
    let raw = |body: &'static str| {
        app.req(Method::POST, "/webhook-endpoints")
            .header("content-type", "application/json")
            .body(body)
    };
    app.send(raw("{\"url\": ")).await.problem(400);
    app.send(raw("")).await.problem(400);
    assert_eq!(
        app.get("/webhook-endpoints").await.body["data"],
        json!([]),
        "nothing was created"
    );

    // The same rules on update.
    let r = app.post("/webhook-endpoints", &json!({"url": ok})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    for (body, field) in [
        (json!({"url": "https://192.168.0.1/"}), "url"),
        (json!({"url": "http://hooks.example.com/"}), "url"),
        (json!({"event_types": ["nope"]}), "event_types[0]"),
        (json!({"description": "d".repeat(1025)}), "description"),
        (json!({"enabled": 1}), "enabled"),
    ] {
        let r = app.patch(&format!("/webhook-endpoints/{id}"), &body).await;
        r.problem(422);
        assert_eq!(r.error_fields(), [field], "{body}: {}", r.text);
    }
    assert_eq!(
        app.get(&format!("/webhook-endpoints/{id}")).await.body["url"],
        ok,
        "unchanged"
    );
    // http and private addresses are fine when the server allows them.
    let dev = TestApp::spawn_with(backend, |c| c.webhooks_allow_private = true)
        .await
        .unwrap();
    let r = dev
        .post(
            "/webhook-endpoints",
            &json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn bad_paths_and_queries(backend: Backend) {
    let Some(app) = crate::webhook_support::app(backend).await else {
        return;
    };
    // Messages are delivered: to a receiver on this machine.
    let rx = crate::webhook_support::Receiver::ok().await;
    let r = app
        .post("/webhook-endpoints", &json!({"url": rx.url}))
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let m = app
        .post(&format!("/webhook-endpoints/{id}/test"), &json!({}))
        .await;
    assert_eq!(m.status, 202, "{}", m.text);
    let msg = m.body["id"].as_str().unwrap().to_string();
    // (case, method, path, status, parameter named)
    let cases: Vec<(&str, Method, String, u16, Option<&str>)> = vec![
        (
            "unknown endpoint",
            Method::GET,
            "/webhook-endpoints/we_nope".into(),
            404,
            None,
        ),
        (
            "unknown endpoint's messages",
            Method::GET,
            "/webhook-endpoints/we_nope/messages".into(),
            404,
            None,
        ),
        (
            "unknown message",
            Method::GET,
            format!("/webhook-endpoints/{id}/messages/msg_nope"),
            404,
            None,
        ),
        (
            "unknown message's attempts",
            Method::GET,
            format!("/webhook-endpoints/{id}/messages/msg_nope/attempts"),
            404,
            None,
        ),
        (
            "resend an unknown message",
            Method::POST,
            format!("/webhook-endpoints/{id}/messages/msg_nope/resend"),
            404,
            None,
        ),
        (
            "test an unknown endpoint",
            Method::POST,
            "/webhook-endpoints/we_nope/test".into(),
            404,
            None,
        ),
        (
            "rotate an unknown endpoint",
            Method::POST,
            "/webhook-endpoints/we_nope/rotate-secret".into(),
            404,
            None,
        ),
        (
            "bad status filter",
            Method::GET,
            format!("/webhook-endpoints/{id}/messages?status=lost"),
            400,
            Some("status"),
        ),
        (
            "limit 0",
            Method::GET,
            format!("/webhook-endpoints/{id}/messages?limit=0"),
            400,
            Some("limit"),
        ),
        (
            "negative offset",
            Method::GET,
            "/webhook-endpoints?offset=-1".into(),
            400,
            Some("offset"),
        ),
        (
            "recover without since",
            Method::POST,
            format!("/webhook-endpoints/{id}/recover"),
            400,
            Some("since"),
        ),
        (
            "recover with a bad since",
            Method::POST,
            format!("/webhook-endpoints/{id}/recover?since=yesterday"),
            400,
            Some("since"),
        ),
        (
            "method not allowed",
            Method::PUT,
            format!("/webhook-endpoints/{id}"),
            405,
            None,
        ),
    ];
    for (case, method, path, status, param) in cases {
        let r = app.send(app.req(method, &path).json(&json!({}))).await;
        r.problem(status);
        if let Some(p) = param {
            assert_eq!(r.error_fields(), [p], "{case}: {}", r.text);
        }
    }
    // A disabled endpoint refuses test events, resends and recovery with 409.
    let r = app
        .patch(
            &format!("/webhook-endpoints/{id}"),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    for path in [
        format!("/webhook-endpoints/{id}/test"),
        format!("/webhook-endpoints/{id}/messages/{msg}/resend"),
        format!("/webhook-endpoints/{id}/recover?since=2020-01-01T00:00:00Z"),
    ] {
        let r = app.post(&path, &json!({})).await;
        r.problem(409);
        assert!(
            r.body["detail"].as_str().unwrap().contains("disabled"),
            "{path}"
        );
    }
}
