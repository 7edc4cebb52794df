//! Invoice PDFs: a one-template layout over [`pdf_writer`] with the PDF's built-in Helvetica and
//! Helvetica-Bold (standard Type 1 fonts every reader has, so no font file is embedded and nothing
//! is read at run time). Text is encoded in WinAnsi; characters outside it print as `?`.
//!
//! The caller formats every value (dates, amounts); this crate only lays them out: seller,
//! customer and billing address, number and dates, one row per line (wrapped descriptions,
//! service periods), totals and the amount due, across as many A4 pages as the lines need.
//! Rendering is deterministic: the same document gives the same bytes.

mod fonts;

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

pub use fonts::{Font, text_width};

/// A party on the invoice: its name and address lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub lines: Vec<String>,
}

/// One row of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentLine {
    pub description: String,
    /// A second, smaller line: the service period.
    pub detail: Option<String>,
    pub quantity: String,
    pub unit_price: String,
    pub tax: String,
    pub amount: String,
}

/// One row of the totals block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalRow {
    pub label: String,
    pub value: String,
    pub bold: bool,
}

impl TotalRow {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            bold: false,
        }
    }

    pub fn bold(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            bold: true,
            ..Self::new(label, value)
        }
    }
}

/// Everything the invoice shows, formatted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceDocument {
    /// `INVOICE`, or `DRAFT INVOICE`.
    pub title: String,
    pub seller: Party,
    pub customer: Party,
    /// Label/value pairs under the title: number, dates, period, PO number.
    pub facts: Vec<(String, String)>,
    /// The memo, printed above the table.
    pub memo: Option<String>,
    pub lines: Vec<DocumentLine>,
    pub totals: Vec<TotalRow>,
    /// Small print at the bottom of the last page.
    pub footer: Option<String>,
    /// The PDF's `/Title`.
    pub document_title: String,
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const LEFT: f32 = 50.0;
const RIGHT: f32 = 545.0;
const BOTTOM: f32 = 60.0;

// Table columns: description from LEFT, the numbers right-aligned at these x.
const DESC_W: f32 = 225.0;
const COL_QTY: f32 = 330.0;
const COL_UNIT: f32 = 405.0;
const COL_TAX: f32 = 470.0;
const COL_AMOUNT: f32 = RIGHT;

/// A page being laid out: its content stream and the current baseline.
struct PageBuf {
    content: Content,
    y: f32,
}

impl PageBuf {
    fn new() -> Self {
        Self {
            content: Content::new(),
            y: PAGE_H - 50.0,
        }
    }

    fn text(&mut self, font: Font, size: f32, x: f32, y: f32, s: &str) {
        let bytes = fonts::win_ansi(s);
        self.content
            .begin_text()
            .set_font(Name(font.resource()), size)
            .next_line(x, y)
            .show(Str(&bytes))
            .end_text();
    }

    fn text_right(&mut self, font: Font, size: f32, right: f32, y: f32, s: &str) {
        let w = text_width(s, font, size);
        self.text(font, size, right - w, y, s);
    }

    fn gray(&mut self, g: f32) {
        self.content.set_fill_gray(g);
    }

    fn rule(&mut self, y: f32, gray: f32, width: f32) {
        self.content
            .save_state()
            .set_stroke_gray(gray)
            .set_line_width(width)
            .move_to(LEFT, y)
            .line_to(RIGHT, y)
            .stroke()
            .restore_state();
    }
}

/// Breaks `s` into lines no wider than `max` points (words longer than a line are cut).
pub fn wrap(s: &str, font: Font, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in s.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if text_width(&candidate, font, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line is cut into pieces that fit.
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if text_width(&piece, font, size) > max && piece.chars().count() > 1 {
                    let last = piece.pop().unwrap_or(' ');
                    lines.push(std::mem::take(&mut piece));
                    piece.push(last);
                }
            }
            line = piece;
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

fn table_header(p: &mut PageBuf) {
    let y = p.y;
    p.gray(0.35);
    p.text(Font::Bold, 8.5, LEFT, y, "DESCRIPTION");
    p.text_right(Font::Bold, 8.5, COL_QTY, y, "QTY");
    p.text_right(Font::Bold, 8.5, COL_UNIT, y, "UNIT PRICE");
    p.text_right(Font::Bold, 8.5, COL_TAX, y, "TAX");
    p.text_right(Font::Bold, 8.5, COL_AMOUNT, y, "AMOUNT");
    p.gray(0.0);
    p.rule(y - 6.0, 0.6, 0.8);
    p.y = y - 20.0;
}

/// The first page's header: seller, title, facts, bill-to and memo.
fn first_page_header(p: &mut PageBuf, doc: &InvoiceDocument) {
    let top = p.y;
    p.text(Font::Bold, 16.0, LEFT, top, &doc.seller.name);
    let mut y = top - 16.0;
    for l in &doc.seller.lines {
        p.text(Font::Regular, 9.0, LEFT, y, l);
        y -= 12.0;
    }
    p.text_right(Font::Bold, 20.0, RIGHT, top, &doc.title);
    let mut fy = top - 24.0;
    for (label, value) in &doc.facts {
        p.gray(0.35);
        p.text(Font::Regular, 9.0, 340.0, fy, label);
        p.gray(0.0);
        p.text_right(Font::Bold, 9.0, RIGHT, fy, value);
        fy -= 13.0;
    }
    let mut y = y.min(fy) - 18.0;
    p.gray(0.35);
    p.text(Font::Bold, 8.5, LEFT, y, "BILL TO");
    p.gray(0.0);
    y -= 14.0;
    p.text(Font::Bold, 11.0, LEFT, y, &doc.customer.name);
    y -= 13.0;
    for l in &doc.customer.lines {
        p.text(Font::Regular, 9.0, LEFT, y, l);
        y -= 12.0;
    }
    y -= 10.0;
    if let Some(memo) = doc.memo.as_deref().filter(|m| !m.trim().is_empty()) {
        for l in wrap(memo, Font::Regular, 9.0, RIGHT - LEFT) {
            p.text(Font::Regular, 9.0, LEFT, y, &l);
            y -= 12.0;
        }
        y -= 8.0;
    }
    p.y = y;
}

/// Renders the invoice: a complete PDF file.
pub fn render(doc: &InvoiceDocument) -> Vec<u8> {
    let mut pages: Vec<PageBuf> = Vec::new();
    let mut p = PageBuf::new();
    first_page_header(&mut p, doc);
    table_header(&mut p);

    for line in &doc.lines {
        let desc = wrap(&line.description, Font::Regular, 9.0, DESC_W);
        let detail = line
            .detail
            .as_deref()
            .map(|d| wrap(d, Font::Regular, 7.5, DESC_W))
            .unwrap_or_default();
        let height = desc.len() as f32 * 11.0 + detail.len() as f32 * 9.5 + 8.0;
        if p.y - height < BOTTOM {
            pages.push(std::mem::replace(&mut p, PageBuf::new()));
            table_header(&mut p);
        }
        let y = p.y;
        p.text_right(Font::Regular, 9.0, COL_QTY, y, &line.quantity);
        p.text_right(Font::Regular, 9.0, COL_UNIT, y, &line.unit_price);
        p.text_right(Font::Regular, 9.0, COL_TAX, y, &line.tax);
        p.text_right(Font::Regular, 9.0, COL_AMOUNT, y, &line.amount);
        let mut ly = y;
        for l in &desc {
            p.text(Font::Regular, 9.0, LEFT, ly, l);
            ly -= 11.0;
        }
        p.gray(0.4);
        for l in &detail {
            p.text(Font::Regular, 7.5, LEFT, ly + 1.5, l);
            ly -= 9.5;
        }
        p.gray(0.0);
        p.rule(ly + 4.0, 0.88, 0.5);
        p.y = ly - 8.0;
    }

    let footer_lines = doc
        .footer
        .as_deref()
        .map(|f| wrap(f, Font::Regular, 8.0, RIGHT - LEFT))
        .unwrap_or_default();
    let needed = doc.totals.len() as f32 * 15.0 + 20.0 + footer_lines.len() as f32 * 10.0;
    if p.y - needed < BOTTOM {
        pages.push(std::mem::replace(&mut p, PageBuf::new()));
    }
    let mut y = p.y - 6.0;
    for row in &doc.totals {
        let font = if row.bold { Font::Bold } else { Font::Regular };
        let size = if row.bold { 10.5 } else { 9.0 };
        if row.bold {
            p.content
                .save_state()
                .set_stroke_gray(0.6)
                .set_line_width(0.8)
                .move_to(330.0, y + 12.0)
                .line_to(RIGHT, y + 12.0)
                .stroke()
                .restore_state();
        }
        p.text_right(font, size, COL_TAX, y, &row.label);
        p.text_right(font, size, COL_AMOUNT, y, &row.value);
        y -= 15.0;
    }
    y -= 12.0;
    p.gray(0.4);
    for l in &footer_lines {
        p.text(Font::Regular, 8.0, LEFT, y, l);
        y -= 10.0;
    }
    p.gray(0.0);
    pages.push(p);

    write_pdf(doc, pages)
}

fn write_pdf(doc: &InvoiceDocument, pages: Vec<PageBuf>) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let n = pages.len() as i32;
    let page_ref = |i: i32| Ref::new(first_page + 2 * i);
    let content_ref = |i: i32| Ref::new(first_page + 2 * i + 1);

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids((0..n).map(page_ref)).count(n);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(&doc.document_title))
        .producer(TextStr("Abacus"));

    for (i, mut page) in pages.into_iter().enumerate() {
        let i = i as i32;
        if n > 1 {
            let label = format!("Page {} of {}", i + 1, n);
            let w = text_width(&label, Font::Regular, 8.0);
            page.gray(0.4);
            page.text(Font::Regular, 8.0, (PAGE_W - w) / 2.0, 30.0, &label);
        }
        let mut p = pdf.page(page_ref(i));
        p.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(content_ref(i));
        let mut resources = p.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(Font::Regular.resource()), regular);
        fonts.pair(Name(Font::Bold.resource()), bold);
        fonts.finish();
        resources.finish();
        p.finish();
        let data = page.content.finish();
        pdf.stream(content_ref(i), data.as_slice());
    }
    pdf.finish()
}
