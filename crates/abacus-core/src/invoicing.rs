//! Invoice documents after billing: statuses, payment terms, document numbers, the amounts of
//! hand-written lines, what a credit note takes from an invoice line, and how an invoice's
//! totals and balance follow from its lines and payments. Pure; the rules are written out in
//! `docs/invoicing.md` ("Invoices API").

use rust_decimal::Decimal;

use crate::calendar::local_date;
use crate::currency::Currency;
use crate::money::{self, Overflow};
use crate::time::{Micros, parse_rfc3339};
use crate::validation::{Naming, Validation};

/// A day in microseconds.
pub const DAY: Micros = 86_400_000_000;

/// The stored status of an invoice. `overdue` is also what an `issued` invoice past its due date
/// reads as (see [`effective_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    Draft,
    Issued,
    Paid,
    Overdue,
    Void,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 5] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Issued,
        InvoiceStatus::Paid,
        InvoiceStatus::Overdue,
        InvoiceStatus::Void,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Overdue => "overdue",
            InvoiceStatus::Void => "void",
        }
    }

    pub fn parse(s: &str) -> Option<InvoiceStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Issued or overdue: the customer still owes something.
    pub fn is_open(self) -> bool {
        matches!(self, InvoiceStatus::Issued | InvoiceStatus::Overdue)
    }
}

/// The statuses of the SDK's enum that Abacus never gives an invoice (a filter on them matches
/// nothing).
pub const UNUSED_STATUSES: [&str; 6] = [
    "upcoming",
    "pending_approval",
    "scheduled",
    "processing",
    "issuing",
    "canceled",
];

/// What a reader sees: an `issued` invoice whose due date has passed is `overdue`, whether or not
/// the periodic sweep has recorded it yet.
pub fn effective_status(
    stored: InvoiceStatus,
    due_date: Option<Micros>,
    now: Micros,
) -> InvoiceStatus {
    match (stored, due_date) {
        (InvoiceStatus::Issued, Some(due)) if due <= now => InvoiceStatus::Overdue,
        (s, _) => s,
    }
}

/// Payment terms when neither the request nor the subscription names any.
pub const DEFAULT_PAYMENT_TERMS: &str = "net_30";
/// The longest `net_N`.
pub const MAX_NET_DAYS: u32 = 365;

/// The days between issue and due date of `due_on_receipt` (0) or `net_N` (N, at most 365).
pub fn payment_terms_days(terms: &str) -> Option<u32> {
    if terms == "due_on_receipt" {
        return Some(0);
    }
    let n = terms.strip_prefix("net_")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 3 {
        return None;
    }
    n.parse::<u32>().ok().filter(|d| *d <= MAX_NET_DAYS)
}

/// The due date of an invoice issued at `issue_date` on `terms`: whole days of 24 hours later.
pub fn due_date(issue_date: Micros, terms: &str) -> Option<Micros> {
    let days = payment_terms_days(terms)?;
    issue_date.checked_add(i64::from(days) * DAY)
}

/// The customer-facing number of the `n`-th invoice of an organization: `INV-000123`.
pub fn invoice_number(n: i64) -> String {
    format!("INV-{n:06}")
}

/// The customer-facing number of the `n`-th credit note of an organization: `CN-000007`.
pub fn credit_note_number(n: i64) -> String {
    format!("CN-{n:06}")
}

/// `amount = round(quantity × unit_price)` and `tax = round(amount × tax_rate)`, each rounded
/// once to the currency's minor units.
pub fn line_amounts(
    quantity: Decimal,
    unit_price: Decimal,
    tax_rate: Option<Decimal>,
    currency: Currency,
) -> Result<(Decimal, Decimal), Overflow> {
    let amount = money::round(money::mul(quantity, unit_price)?, currency);
    let tax = match tax_rate {
        Some(rate) => money::round(money::mul(amount, rate)?, currency),
        None => money::round(Decimal::ZERO, currency),
    };
    Ok((amount, tax))
}

/// An invoice line as totals see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAmounts {
    pub amount: Decimal,
    pub tax: Decimal,
    /// A `credit_applied` line: a draw on monetary credit, after tax (acts as a payment).
    pub credit_applied: bool,
}

/// An invoice's totals, in Alguna's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Σ amounts of the lines that are not credits applied.
    pub subtotal: Decimal,
    /// Σ taxes.
    pub tax: Decimal,
    /// `subtotal + tax` (Alguna's `total`: credits applied act as a payment).
    pub total: Decimal,
    /// Σ credits drawn (positive).
    pub credits_applied: Decimal,
}

pub fn totals(
    lines: impl IntoIterator<Item = LineAmounts>,
    currency: Currency,
) -> Result<Totals, Overflow> {
    let (mut subtotal, mut tax, mut credits) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for l in lines {
        if l.credit_applied {
            credits = money::sub(credits, l.amount)?;
        } else {
            subtotal = money::add(subtotal, l.amount)?;
        }
        tax = money::add(tax, l.tax)?;
    }
    let total = money::add(subtotal, tax)?;
    Ok(Totals {
        subtotal: money::round(subtotal, currency),
        tax: money::round(tax, currency),
        total: money::round(total, currency),
        credits_applied: money::round(credits, currency),
    })
}

/// What an invoice still asks for: `total − credits_applied − paid`, never below zero (a net
/// credit owes nothing).
pub fn amount_remaining(
    total: Decimal,
    credits_applied: Decimal,
    paid: Decimal,
    currency: Currency,
) -> Result<Decimal, Overflow> {
    let r = money::sub(money::sub(total, credits_applied)?, paid)?;
    Ok(money::round(r.max(Decimal::ZERO), currency))
}

/// An invoice line a credit note credits, and what earlier credit notes took from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditableLine {
    pub quantity: Decimal,
    pub amount: Decimal,
    pub tax: Decimal,
    pub credited_quantity: Decimal,
    pub credited_amount: Decimal,
    pub credited_tax: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("must be greater than 0")]
    NotPositive,
    #[error("{asked} is more than the {left} left to credit on this line")]
    MoreThanLeft { asked: Decimal, left: Decimal },
    #[error("the amount is out of range")]
    Overflow,
}

impl From<Overflow> for CreditError {
    fn from(_: Overflow) -> Self {
        CreditError::Overflow
    }
}

impl CreditableLine {
    /// The quantity not yet credited.
    pub fn quantity_left(&self) -> Decimal {
        (self.quantity - self.credited_quantity).max(Decimal::ZERO)
    }

    /// The amount and tax of crediting `quantity` units, at the price and tax the line was issued
    /// with: `round(amount × q / quantity)` and likewise for tax; crediting the last units takes
    /// exactly what is left (the subtraction rule), so a line credited in parts never gives back
    /// more, or less, than it charged.
    pub fn credit(
        &self,
        quantity: Decimal,
        currency: Currency,
    ) -> Result<(Decimal, Decimal), CreditError> {
        if quantity <= Decimal::ZERO {
            return Err(CreditError::NotPositive);
        }
        let left = self.quantity_left();
        if quantity > left {
            return Err(CreditError::MoreThanLeft {
                asked: quantity,
                left,
            });
        }
        if quantity == left {
            let amount = money::sub(self.amount, self.credited_amount)?;
            let tax = money::sub(self.tax, self.credited_tax)?;
            return Ok((money::round(amount, currency), money::round(tax, currency)));
        }
        let share = |v: Decimal| -> Result<Decimal, CreditError> {
            let scaled = money::mul(v, quantity)?
                .checked_div(self.quantity)
                .ok_or(CreditError::Overflow)?;
            Ok(money::round(scaled, currency))
        };
        Ok((share(self.amount)?, share(self.tax)?))
    }
}

/// `Jan 1, 2024 - Jan 31, 2024`: a half-open period `[start, end)` as the dates it covers in the
/// organization's time zone (the end date is the last day, the day before `end`).
pub fn billing_period_label(start: Micros, end: Micros, tz: &jiff::tz::TimeZone) -> String {
    let first = local_date(start, tz);
    let last = local_date(end.saturating_sub(1), tz);
    match (first, last) {
        (Ok(a), Ok(b)) => format!("{} - {}", short_date(a), short_date(b)),
        _ => String::new(),
    }
}

/// `Jan 1, 2024`.
pub fn short_date(d: jiff::civil::Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {}, {}",
        MONTHS[(d.month() - 1) as usize],
        d.day(),
        d.year()
    )
}

/// The longest description of an invoice, a line or a credit note.
pub const MAX_DESCRIPTION_LEN: usize = 2_000;
/// The longest purchase order number.
pub const MAX_PO_LEN: usize = 255;
/// The most lines one request may carry.
pub const MAX_LINES: usize = 500;

/// A hand-written invoice line as a request gives it (`line_items[i]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub description: Option<String>,
    pub product_id: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub billing_period_start: Option<String>,
    pub billing_period_end: Option<String>,
}

/// A validated hand-written line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSpec {
    /// `None` when the caller left it to the product's name.
    pub description: Option<String>,
    pub product_id: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub period: Option<(Micros, Micros)>,
}

/// `base.field` in the caller's naming.
pub fn field_at(naming: Naming, base: &str, snake: &str) -> String {
    let f = naming.field(snake);
    if base.is_empty() {
        f
    } else {
        format!("{base}.{f}")
    }
}

/// An optional text: trimmed, not empty, at most `max` characters.
pub fn check_text(
    v: &mut Validation,
    field: String,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let t = value?.trim();
    if t.is_empty() {
        v.push(field, "must not be empty");
    } else if t.chars().count() > max {
        v.push(field, format!("must be at most {max} characters"));
    }
    Some(t.to_string())
}

/// A pair of optional RFC 3339 instants `[start, end)`: both or neither, start before end.
pub fn check_period(
    v: &mut Validation,
    naming: Naming,
    base: &str,
    start: Option<&str>,
    end: Option<&str>,
) -> Option<(Micros, Micros)> {
    let fs = field_at(naming, base, "billing_period_start");
    let fe = field_at(naming, base, "billing_period_end");
    let parse = |v: &mut Validation, f: &str, s: Option<&str>| {
        s.and_then(|s| match parse_rfc3339(s) {
            Ok(t) => Some(t),
            Err(e) => {
                v.push(f.to_string(), e);
                None
            }
        })
    };
    let (s, e) = (parse(v, &fs, start), parse(v, &fe, end));
    match (start.is_some(), end.is_some(), s, e) {
        (true, false, ..) => {
            v.push(fe, "is required with billing_period_start");
            None
        }
        (false, true, ..) => {
            v.push(fs, "is required with billing_period_end");
            None
        }
        (_, _, Some(s), Some(e)) if s >= e => {
            v.push(fe, "must be after billing_period_start");
            None
        }
        (_, _, Some(s), Some(e)) => Some((s, e)),
        _ => None,
    }
}

/// Checks a decimal's scale against the currency, as an amount of money.
pub fn check_money_scale(v: &mut Validation, field: String, d: Decimal, currency: Currency) {
    if d.normalize().scale() > currency.minor_units() {
        v.push(
            field,
            format!(
                "{d} has more decimal places than {} allows ({})",
                currency.code(),
                currency.minor_units()
            ),
        );
    }
}

impl LineInput {
    /// Checks the line at `base` (`line_items[2]`): a non-negative quantity, a description unless
    /// a product names the line, a well-formed period, and an amount that fits.
    pub fn validate(
        &self,
        v: &mut Validation,
        naming: Naming,
        base: &str,
        currency: Currency,
    ) -> Option<LineSpec> {
        let before = v.len();
        let description = check_text(
            v,
            field_at(naming, base, "description"),
            self.description.as_deref(),
            MAX_DESCRIPTION_LEN,
        );
        let product_id = self
            .product_id
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        if description.is_none() && product_id.is_none() {
            v.push(
                field_at(naming, base, "description"),
                "is required unless product_id names the line",
            );
        }
        if self.quantity < Decimal::ZERO {
            v.push(field_at(naming, base, "quantity"), "must not be negative");
        }
        if line_amounts(self.quantity, self.unit_price, None, currency).is_err() {
            v.push(
                field_at(naming, base, "unit_price"),
                "quantity × unit_price is out of range",
            );
        }
        let period = check_period(
            v,
            naming,
            base,
            self.billing_period_start.as_deref(),
            self.billing_period_end.as_deref(),
        );
        (v.len() == before).then(|| LineSpec {
            description,
            product_id: product_id.map(String::from),
            quantity: self.quantity,
            unit_price: self.unit_price,
            period,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn statuses_round_trip_and_overdue_is_read_from_the_due_date() {
        for s in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(InvoiceStatus::parse("processing"), None);
        let due = 1_000;
        assert_eq!(
            effective_status(InvoiceStatus::Issued, Some(due), due - 1),
            InvoiceStatus::Issued
        );
        assert_eq!(
            effective_status(InvoiceStatus::Issued, Some(due), due),
            InvoiceStatus::Overdue
        );
        assert_eq!(
            effective_status(InvoiceStatus::Paid, Some(due), due + 1),
            InvoiceStatus::Paid
        );
    }

    #[test]
    fn payment_terms() {
        assert_eq!(payment_terms_days("net_30"), Some(30));
        assert_eq!(payment_terms_days("net_0"), Some(0));
        assert_eq!(payment_terms_days("due_on_receipt"), Some(0));
        assert_eq!(payment_terms_days("net_365"), Some(365));
        for bad in [
            "net_366", "net_", "net_-1", "net_3x", "30", "NET_30", "net_0030",
        ] {
            assert_eq!(payment_terms_days(bad), None, "{bad}");
        }
        assert_eq!(due_date(0, "net_30"), Some(30 * DAY));
    }

    #[test]
    fn numbers() {
        assert_eq!(invoice_number(123), "INV-000123");
        assert_eq!(invoice_number(1_234_567), "INV-1234567");
        assert_eq!(credit_note_number(7), "CN-000007");
    }

    #[test]
    fn line_amounts_round_once() {
        let (a, t) = line_amounts(d("3"), d("0.3333"), Some(d("0.2")), usd()).unwrap();
        assert_eq!(
            (a.to_string(), t.to_string()),
            ("1.00".into(), "0.20".into())
        );
        let (a, t) = line_amounts(d("1"), d("10.03"), Some(d("0.2")), usd()).unwrap();
        assert_eq!(
            (a.to_string(), t.to_string()),
            ("10.03".into(), "2.01".into())
        );
        let (a, t) = line_amounts(d("2"), d("5"), None, usd()).unwrap();
        assert_eq!(
            (a.to_string(), t.to_string()),
            ("10.00".into(), "0.00".into())
        );
        assert!(line_amounts(Decimal::MAX, d("2"), None, usd()).is_err());
    }

    #[test]
    fn totals_are_sums_of_lines_and_credits_act_as_a_payment() {
        let l = |a: &str, t: &str, c: bool| LineAmounts {
            amount: d(a),
            tax: d(t),
            credit_applied: c,
        };
        let t = totals(
            [
                l("10.03", "2.01", false),
                l("10.03", "2.01", false),
                l("-5.00", "0.00", true),
            ],
            usd(),
        )
        .unwrap();
        assert_eq!(t.subtotal, d("20.06"));
        assert_eq!(t.tax, d("4.02"));
        assert_eq!(t.total, d("24.08"));
        assert_eq!(t.credits_applied, d("5.00"));
        assert_eq!(
            amount_remaining(t.total, t.credits_applied, d("10"), usd()).unwrap(),
            d("9.08")
        );
        assert_eq!(
            amount_remaining(d("-3"), d("0"), d("0"), usd())
                .unwrap()
                .to_string(),
            "0.00"
        );
        let empty = totals([], Currency::parse("JPY").unwrap()).unwrap();
        assert_eq!(empty.total.to_string(), "0");
    }

    #[test]
    fn crediting_a_line_in_parts_gives_back_exactly_what_it_charged() {
        // 3 seats at 33.33 with 20 % tax, credited one seat at a time.
        let mut line = CreditableLine {
            quantity: d("3"),
            amount: d("99.99"),
            tax: d("20.00"),
            credited_quantity: Decimal::ZERO,
            credited_amount: Decimal::ZERO,
            credited_tax: Decimal::ZERO,
        };
        let mut got = Vec::new();
        for _ in 0..3 {
            let (a, t) = line.credit(d("1"), usd()).unwrap();
            line.credited_quantity += d("1");
            line.credited_amount += a;
            line.credited_tax += t;
            got.push((a.to_string(), t.to_string()));
        }
        assert_eq!(
            got,
            vec![
                ("33.33".to_string(), "6.67".to_string()),
                ("33.33".to_string(), "6.67".to_string()),
                ("33.33".to_string(), "6.66".to_string()),
            ]
        );
        assert_eq!(line.credited_amount, d("99.99"));
        assert_eq!(line.credited_tax, d("20.00"));
        assert_eq!(
            line.credit(d("0.5"), usd()),
            Err(CreditError::MoreThanLeft {
                asked: d("0.5"),
                left: d("0")
            })
        );
        assert_eq!(line.credit(d("0"), usd()), Err(CreditError::NotPositive));
    }

    #[test]
    fn a_prorated_line_is_credited_at_what_it_charged() {
        // 1 unit × 99.00 for 15 of 31 days = 47.90.
        let line = CreditableLine {
            quantity: d("1"),
            amount: d("47.90"),
            tax: d("0.00"),
            credited_quantity: Decimal::ZERO,
            credited_amount: Decimal::ZERO,
            credited_tax: Decimal::ZERO,
        };
        assert_eq!(line.credit(d("1"), usd()).unwrap().0, d("47.90"));
        assert_eq!(line.credit(d("0.5"), usd()).unwrap().0, d("23.95"));
    }

    #[test]
    fn period_labels_use_the_local_days() {
        let utc = jiff::tz::TimeZone::UTC;
        let jan1 = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let feb1 = parse_rfc3339("2024-02-01T00:00:00Z").unwrap();
        assert_eq!(
            billing_period_label(jan1, feb1, &utc),
            "Jan 1, 2024 - Jan 31, 2024"
        );
        let ny = crate::calendar::parse_time_zone("America/New_York").unwrap();
        let mar1 = parse_rfc3339("2024-03-01T05:00:00Z").unwrap();
        let apr1 = parse_rfc3339("2024-04-01T04:00:00Z").unwrap();
        assert_eq!(
            billing_period_label(mar1, apr1, &ny),
            "Mar 1, 2024 - Mar 31, 2024"
        );
    }

    #[test]
    fn line_validation_names_fields() {
        let mut v = Validation::new();
        let bad = LineInput {
            quantity: d("-1"),
            unit_price: d("1"),
            billing_period_start: Some("2024-02-01T00:00:00Z".into()),
            billing_period_end: Some("2024-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert!(
            bad.validate(&mut v, Naming::Snake, "line_items[0]", usd())
                .is_none()
        );
        let fields: Vec<String> = v
            .into_result()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "line_items[0].description",
                "line_items[0].quantity",
                "line_items[0].billing_period_end"
            ]
        );
        let mut v = Validation::new();
        let ok = LineInput {
            description: Some(" Setup ".into()),
            quantity: d("2"),
            unit_price: d("10"),
            ..Default::default()
        };
        let spec = ok
            .validate(&mut v, Naming::Camel, "lineItems[0]", usd())
            .unwrap();
        assert_eq!(spec.description.as_deref(), Some("Setup"));
        assert!(v.is_empty());
    }
}
