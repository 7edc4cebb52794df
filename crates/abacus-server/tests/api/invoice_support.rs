//! Helpers for the invoice tests: customers with a tax rate and an address, ad-hoc invoices,
//! issuing and paying them, and reading PDFs back.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, V2};

/// A customer in USD with 20 % tax and a billing address; returns its id.
pub async fn taxed_customer(app: &TestApp, name: &str) -> String {
    let r = app
        .post_v2(
            "/customers",
            &json!({
                "name": name,
                "currency": "USD",
                "tax_rate": "0.20",
                "billing_address": {"line1": "123 Main St", "city": "New York", "state": "NY",
                                    "postal_code": "10001", "country": "US"},
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

pub fn line(description: &str, quantity: &str, unit_price: &str) -> Value {
    json!({"description": description, "quantity": quantity, "unit_price": unit_price})
}

impl TestApp {
    /// Creates a v2 invoice; asserts 201 and returns it.
    pub async fn invoice(&self, body: Value) -> Value {
        let r = self.post_v2("/invoices", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    /// A draft for `customer` with these lines.
    pub async fn draft_invoice(&self, customer: &str, lines: Value) -> Value {
        self.invoice(
            json!({"customer_id": customer, "line_items": lines, "description": "Services"}),
        )
        .await
    }

    /// An issued invoice for `customer` with these lines.
    pub async fn issued_invoice(&self, customer: &str, lines: Value) -> Value {
        self.invoice(
            json!({"customer_id": customer, "line_items": lines, "status": "issued", "description": "Services"}),
        )
        .await
    }

    /// A v2 action that must succeed with `status`; returns the body.
    pub async fn ok_v2(&self, status: u16, path: &str, body: Value) -> Value {
        let r = self.post_v2(path, &body).await;
        assert_eq!(r.status, status, "POST {path}: {}", r.text);
        r.body
    }

    /// The PDF bytes of an invoice (asserts 200 and the content type).
    pub async fn pdf(&self, id: &str) -> (Vec<u8>, reqwest::header::HeaderMap) {
        let r = self
            .req(Method::GET, &format!("/invoices/{id}/pdf"))
            .header(V2.0, V2.1)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let headers = r.headers().clone();
        assert_eq!(
            headers.get("content-type").unwrap().to_str().unwrap(),
            "application/pdf"
        );
        (r.bytes().await.unwrap().to_vec(), headers)
    }
}

/// The text of a PDF, read with `lopdf` (an independent parser): proves the file is a valid PDF.
pub fn pdf_text(bytes: &[u8]) -> String {
    assert!(bytes.starts_with(b"%PDF-"), "a PDF header");
    let doc = lopdf::Document::load_mem(bytes).expect("lopdf reads the PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    assert!(!pages.is_empty());
    doc.extract_text(&pages).expect("the text extracts")
}
