//! Rendered invoices are valid PDFs (read back with an independent parser, `lopdf`) whose text
//! holds what the document says.

use abacus_pdf::{DocumentLine, InvoiceDocument, Party, TotalRow, render};

fn document(lines: usize) -> InvoiceDocument {
    InvoiceDocument {
        title: "INVOICE".into(),
        seller: Party {
            name: "Acme Billing GmbH".into(),
            lines: vec!["Invoices from Abacus".into()],
        },
        customer: Party {
            name: "GoJo (Café & Co)".into(),
            lines: vec![
                "123 Main St".into(),
                "Suite 100".into(),
                "New York, NY 10001".into(),
                "US".into(),
            ],
        },
        facts: vec![
            ("Invoice number".into(), "INV-000042".into()),
            ("Issue date".into(), "Mar 1, 2024".into()),
            ("Due date".into(), "Mar 31, 2024".into()),
        ],
        memo: Some("Thank you for your business.".into()),
        lines: (0..lines)
            .map(|i| DocumentLine {
                description: format!(
                    "Line {i}: API calls billed per thousand, with a description long enough to wrap onto a second line of the table"
                ),
                detail: Some("Feb 1, 2024 - Feb 29, 2024".into()),
                quantity: "1,000".into(),
                unit_price: "0.10".into(),
                tax: "20.00".into(),
                amount: "100.00".into(),
            })
            .collect(),
        totals: vec![
            TotalRow::new("Subtotal", "1,234.50"),
            TotalRow::new("Tax", "246.90"),
            TotalRow::new("Total", "USD 1,481.40"),
            TotalRow::bold("Amount due", "USD 1,481.40"),
        ],
        footer: Some("Payment terms: net_30.".into()),
        document_title: "Invoice INV-000042".into(),
    }
}

fn text_of(pdf: &[u8]) -> (usize, String) {
    let doc = lopdf::Document::load_mem(pdf).expect("a PDF lopdf can read");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).expect("text extracts");
    (pages.len(), text)
}

#[test]
fn a_one_page_invoice_reads_back() {
    let pdf = render(&document(3));
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
    let (pages, text) = text_of(&pdf);
    assert_eq!(pages, 1);
    for needle in [
        "INV-000042",
        "Acme Billing GmbH",
        "GoJo (Café & Co)",
        "123 Main St",
        "New York, NY 10001",
        "Mar 31, 2024",
        "USD 1,481.40",
        "Amount due",
        "Feb 1, 2024 - Feb 29, 2024",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
}

#[test]
fn many_lines_flow_onto_numbered_pages() {
    let pdf = render(&document(60));
    let (pages, text) = text_of(&pdf);
    assert!(pages >= 3, "{pages} pages");
    assert!(text.contains(&format!("Page {pages} of {pages}")), "{text}");
    assert!(text.contains("Line 59"));
    assert!(text.contains("USD 1,481.40"));
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render(&document(5)), render(&document(5)));
}

#[test]
fn wrapping_cuts_words_longer_than_a_line() {
    let lines = abacus_pdf::wrap(&"x".repeat(300), abacus_pdf::Font::Regular, 9.0, 100.0);
    assert!(lines.len() > 2);
    for l in &lines {
        assert!(abacus_pdf::text_width(l, abacus_pdf::Font::Regular, 9.0) <= 100.0);
    }
    assert_eq!(lines.concat(), "x".repeat(300));
}
