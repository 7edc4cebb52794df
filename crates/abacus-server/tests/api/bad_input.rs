//! Bad input on the customer endpoints: each case gets the right status and a problem document
//! naming the field, never a 500, and leaves the data as it was.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::json;

use crate::harness::{TestApp, V2};

on_both_backends!(
    every_bad_request_is_refused_cleanly,
    lenient_where_it_should_be
);

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<String>,
    v2: bool,
    status: u16,
    field: Option<&'static str>,
}

fn case(
    name: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Option<String>,
    status: u16,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        body,
        v2: false,
        status,
        field,
    }
}

fn post(name: &'static str, body: serde_json::Value, status: u16, field: &'static str) -> Case {
    case(
        name,
        Method::POST,
        "/accounts",
        Some(body.to_string()),
        status,
        Some(field),
    )
}

fn post_v2(name: &'static str, body: serde_json::Value, status: u16, field: &'static str) -> Case {
    Case {
        v2: true,
        ..case(
            name,
            Method::POST,
            "/customers",
            Some(body.to_string()),
            status,
            Some(field),
        )
    }
}

fn with_contact(contact: serde_json::Value) -> serde_json::Value {
    json!({"name": "N", "currency": "USD", "contacts": [contact]})
}

async fn every_bad_request_is_refused_cleanly(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let existing = app.customer("Existing", &["taken"]).await;
    let id = existing["id"].as_str().unwrap().to_string();
    let base = json!({"name": "N", "currency": "USD"});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };

    let cases = vec![
        case(
            "malformed JSON",
            Method::POST,
            "/accounts",
            Some(r#"{"name": "x","#.into()),
            400,
            None,
        ),
        case(
            "trailing garbage",
            Method::POST,
            "/accounts",
            Some(r#"{"name": "x", "currency": "USD"} xyz"#.into()),
            400,
            None,
        ),
        case(
            "empty body",
            Method::POST,
            "/accounts",
            Some(String::new()),
            400,
            None,
        ),
        post("array instead of object", json!([]), 422, "body"),
        post("name missing", json!({"currency": "USD"}), 422, "name"),
        post("name empty", with("name", json!("  ")), 422, "name"),
        post("name wrong type", with("name", json!(42)), 422, "name"),
        post(
            "name too long",
            with("name", json!("n".repeat(256))),
            422,
            "name",
        ),
        post("currency missing", json!({"name": "N"}), 422, "currency"),
        post(
            "currency unknown",
            with("currency", json!("XYZ")),
            422,
            "currency",
        ),
        post(
            "currency too short",
            with("currency", json!("US")),
            422,
            "currency",
        ),
        post(
            "currency a number",
            with("currency", json!(840)),
            422,
            "currency",
        ),
        post(
            "currency without minor units",
            with("currency", json!("XAU")),
            422,
            "currency",
        ),
        post(
            "aliases not a list",
            with("aliases", json!("a")),
            422,
            "aliases",
        ),
        post(
            "alias a number",
            with("aliases", json!([1])),
            422,
            "aliases[0]",
        ),
        post(
            "alias empty",
            with("aliases", json!([""])),
            422,
            "aliases[0]",
        ),
        post(
            "alias repeated",
            with("aliases", json!(["a", "a"])),
            422,
            "aliases[1]",
        ),
        post(
            "alias taken",
            with("aliases", json!(["free", "taken"])),
            409,
            "aliases[1]",
        ),
        post(
            "alias is another customer's id",
            with("aliases", json!([id.clone()])),
            409,
            "aliases[0]",
        ),
        post(
            "address not an object",
            with("billingAddress", json!("x")),
            422,
            "billingAddress",
        ),
        post(
            "address country unknown",
            with("billingAddress", json!({"country": "ZZ"})),
            422,
            "billingAddress.country",
        ),
        post(
            "address postal code a number",
            with("billingAddress", json!({"postalCode": 10001})),
            422,
            "billingAddress.postalCode",
        ),
        post(
            "contacts not a list",
            with("contacts", json!({})),
            422,
            "contacts",
        ),
        post(
            "contact email missing",
            with_contact(json!({"firstName": "A"})),
            422,
            "contacts[0].email",
        ),
        post(
            "contact email malformed",
            with_contact(json!({"email": "not-an-email"})),
            422,
            "contacts[0].email",
        ),
        post(
            "contact isPrimary a string",
            with_contact(json!({"email": "a@b.io", "isPrimary": "yes"})),
            422,
            "contacts[0].isPrimary",
        ),
        post(
            "unknown email preference",
            with_contact(json!({"email": "a@b.io", "emailPreferences": ["weekly"]})),
            422,
            "contacts[0].emailPreferences[0]",
        ),
        post(
            "repeated email preference",
            with_contact(json!({"email": "a@b.io", "emailPreferences": ["billing", "billing"]})),
            422,
            "contacts[0].emailPreferences[1]",
        ),
        post(
            "two primary contacts",
            with(
                "contacts",
                json!([{"email": "a@b.io", "isPrimary": true}, {"email": "c@d.io", "isPrimary": true}]),
            ),
            422,
            "contacts",
        ),
        post(
            "contact id never issued",
            with_contact(json!({"id": "AAAAAAAA", "email": "a@b.io"})),
            422,
            "contacts[0].id",
        ),
        post(
            "too many contacts",
            with(
                "contacts",
                json!(
                    (0..101)
                        .map(|i| json!({"email": format!("c{i}@x.io")}))
                        .collect::<Vec<_>>()
                ),
            ),
            422,
            "contacts",
        ),
        post(
            "tax rate not a number",
            with("taxRate", json!("abc")),
            422,
            "taxRate",
        ),
        post(
            "tax rate a JSON number",
            with("taxRate", json!(0.2)),
            422,
            "taxRate",
        ),
        post(
            "tax rate over 100%",
            with("taxRate", json!("1.2")),
            422,
            "taxRate",
        ),
        post_v2(
            "v2 country unknown",
            json!({"name": "N", "currency": "USD", "billing_address": {"country": "Atlantis"}}),
            422,
            "billing_address.country",
        ),
        post_v2(
            "v2 email preference",
            json!({"name": "N", "currency": "USD", "contacts": [{"email": "a@b.io", "is_primary": false, "email_preferences": ["spam"]}]}),
            422,
            "contacts[0].email_preferences[0]",
        ),
        post_v2(
            "v2 tax reason",
            json!({"name": "N", "currency": "USD", "tax_reason": "because"}),
            422,
            "tax_reason",
        ),
        post_v2(
            "v2 tax type",
            json!({"name": "N", "currency": "USD", "tax_type": "income_tax"}),
            422,
            "tax_type",
        ),
        case(
            "patch name null",
            Method::PATCH,
            format!("/accounts/{id}"),
            Some(r#"{"name": null}"#.into()),
            422,
            Some("name"),
        ),
        case(
            "patch currency unknown",
            Method::PATCH,
            format!("/accounts/{id}"),
            Some(r#"{"currency": "ABC"}"#.into()),
            422,
            Some("currency"),
        ),
        case(
            "patch unknown account",
            Method::PATCH,
            "/accounts/zzzzzzzz",
            Some(r#"{"name": "x"}"#.into()),
            404,
            None,
        ),
        case(
            "patch malformed JSON",
            Method::PATCH,
            format!("/accounts/{id}"),
            Some("{".into()),
            400,
            None,
        ),
        case(
            "get unknown account",
            Method::GET,
            "/accounts/zzzzzzzz",
            None,
            404,
            None,
        ),
        case(
            "delete unknown account",
            Method::DELETE,
            "/accounts/zzzzzzzz",
            None,
            404,
            None,
        ),
        case(
            "page zero",
            Method::GET,
            "/accounts?page=0",
            None,
            400,
            Some("page"),
        ),
        case(
            "limit not a number",
            Method::GET,
            "/accounts?limit=ten",
            None,
            400,
            Some("limit"),
        ),
        Case {
            v2: true,
            ..case(
                "negative offset",
                Method::GET,
                "/customers?offset=-1",
                None,
                400,
                Some("offset"),
            )
        },
        Case {
            v2: true,
            ..case(
                "bad boolean",
                Method::GET,
                "/customers?has_active_subscriptions=maybe",
                None,
                400,
                Some("has_active_subscriptions"),
            )
        },
        case(
            "oversized body",
            Method::POST,
            "/accounts",
            Some(json!({"name": "x".repeat(1_100_000), "currency": "USD"}).to_string()),
            413,
            None,
        ),
    ];
    assert!(cases.len() >= 30);

    let before = app.get("/accounts?limit=100").await.text;
    for c in cases {
        let mut rb = app.req(c.method.clone(), &c.path);
        if c.v2 {
            rb = rb.header(V2.0, V2.1);
        }
        if let Some(body) = c.body {
            rb = rb.header("content-type", "application/json").body(body);
        }
        let r = app.send(rb).await;
        assert_eq!(r.status, c.status, "{}: {}", c.name, r.text);
        r.problem(c.status);
        if let Some(field) = c.field {
            assert_eq!(
                r.error_fields().first().map(String::as_str),
                Some(field),
                "{}: {}",
                c.name,
                r.text
            );
            assert!(
                r.body["detail"].as_str().unwrap().contains(field),
                "{}: the detail names the field",
                c.name
            );
        }
        assert_eq!(
            app.get("/accounts?limit=100").await.text,
            before,
            "{}: data unchanged",
            c.name
        );
    }
}

async fn lenient_where_it_should_be(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // Unknown fields are ignored; a body without a content type is still read as JSON; lower-case
    // currency codes are normalised.
    let r = app
        .send(
            app.req(Method::POST, "/accounts")
                .body(r#"{"name": "Lenient", "currency": "eur", "favouriteColour": "blue"}"#),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["currency"], "EUR");
    assert!(r.body.get("favouriteColour").is_none());
}
