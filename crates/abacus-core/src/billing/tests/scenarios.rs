//! Every fixture scenario, billed and compared with its hand-computed invoices.

use super::check_invariants;
use crate::billing::fixtures::{self, Scenario};
use crate::billing::{Biller, Invoice, InvoiceContext};

fn bill(s: &Scenario, boundary: crate::time::Micros) -> Result<Invoice, String> {
    let biller = Biller::new(&s.subscription).map_err(|e| e.to_string())?;
    let requests = biller.usage_requests(boundary).map_err(|e| e.to_string())?;
    let usage = fixtures::usage(&s.events, &requests);
    let cx = InvoiceContext {
        tax_rate: s.tax_rate,
        credits: s.credits.clone(),
        credits_as_of: None,
    };
    biller
        .bill(boundary, &usage, &cx)
        .map_err(|e| e.to_string())
}

fn render(inv: &Invoice) -> String {
    let mut out = String::new();
    for l in &inv.lines {
        out.push_str(&format!(
            "  {:<16} {:<10} {:>10} tax {:>8}  {}\n",
            l.kind.as_str(),
            l.item_key
                .as_deref()
                .or(l.credit_grant_id.as_deref())
                .unwrap_or("-"),
            l.amount,
            l.tax,
            l.description
        ));
    }
    out.push_str(&format!(
        "  subtotal {} tax {} credits {} total {}\n",
        inv.subtotal, inv.tax, inv.credits_applied, inv.total
    ));
    out
}

/// Runs one scenario; every difference is reported.
fn run(name: &str) {
    let all = fixtures::all();
    let s = all
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"));
    let mut problems = Vec::new();
    for exp in &s.invoices {
        let at = crate::time::format_micros(exp.boundary);
        let inv = match bill(s, exp.boundary) {
            Ok(inv) => inv,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        if let Err(e) = check_invariants(&inv) {
            problems.push(format!("{at}: {e}"));
        }
        let got: Vec<(String, Option<String>, String, String)> = inv
            .lines
            .iter()
            .map(|l| {
                (
                    l.kind.as_str().to_string(),
                    l.item_key.clone().or(l.credit_grant_id.clone()),
                    l.amount.to_string(),
                    if l.tax.is_zero() {
                        String::new()
                    } else {
                        l.tax.to_string()
                    },
                )
            })
            .collect();
        let want: Vec<(String, Option<String>, String, String)> = exp
            .lines
            .iter()
            .map(|l| {
                (
                    l.kind.as_str().to_string(),
                    l.item.map(str::to_string),
                    l.amount.to_string(),
                    l.tax.to_string(),
                )
            })
            .collect();
        let totals = (
            inv.subtotal.to_string(),
            inv.tax.to_string(),
            inv.credits_applied.to_string(),
            inv.total.to_string(),
        );
        let want_totals = (
            exp.subtotal.to_string(),
            exp.tax.to_string(),
            exp.credits.to_string(),
            exp.total.to_string(),
        );
        if got != want || totals != want_totals {
            problems.push(format!(
                "{at}: expected {want:?} {want_totals:?}, got\n{}",
                render(&inv)
            ));
        }
        if let Some((start, end)) = exp.opening {
            let opening = inv.opening.map(|p| (p.start, p.end));
            if opening != Some((start, end)) {
                problems.push(format!(
                    "{at}: opening period {opening:?}, expected {:?}",
                    (start, end)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "scenario {name}:\n{}",
        problems.join("\n")
    );
}

macro_rules! scenarios {
    ($($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )+

        #[test]
        fn every_scenario_has_a_test() {
            let names = [$(stringify!($name)),+];
            let all = fixtures::all();
            assert!(all.len() >= 25);
            assert_eq!(all.len(), names.len());
            for s in &all {
                assert!(names.contains(&s.name), "{} has no test", s.name);
            }
        }
    };
}

scenarios!(
    fixed_fee_in_advance,
    fixed_fee_in_arrears,
    unit_usage_and_platform_fee,
    tiered_volume_usage,
    graduated_tiered_usage,
    tiered_percentage_usage,
    graduated_percentage_usage,
    volume_percentage_usage,
    prepaid_tiered_usage,
    prepaid_fixed_tiered_usage,
    package_usage,
    expression_usage,
    matrix_usage,
    mid_month_start,
    upgrade_mid_period,
    downgrade_mid_period,
    immediate_cancellation,
    end_of_term_cancellation,
    trial_with_one_off_charges,
    subscription_minimum_spend,
    minimum_spend_prorated_for_a_stub,
    subscription_maximum_spend,
    percentage_discount_for_two_months,
    fixed_discount_per_period,
    tax_rounded_per_line,
    credits_in_expiry_order,
    credits_partly_cover,
    thirty_first_anchor,
    quarterly_plan_started_mid_quarter,
    yearly_plan_upgraded,
    new_york_dst_cancellation,
    yen,
    bahraini_dinar,
    yearly_escalation,
    item_trial,
    arrears_price_change,
    price_level_minimum_spend,
    seats_added_mid_period,
    yearly_fee_with_monthly_usage,
    tiered_seats_from_a_stub,
);

/// Every boundary of every scenario over two years bills without error and keeps the invariants.
#[test]
fn every_boundary_of_every_scenario_bills() {
    for s in fixtures::all() {
        let biller = Biller::new(&s.subscription).unwrap();
        let from = biller.service_start();
        let to = from + 2 * 366 * 86_400 * 1_000_000;
        for b in biller.boundaries(from, to).unwrap() {
            let inv = bill(&s, b).unwrap_or_else(|e| panic!("{} at {b}: {e}", s.name));
            check_invariants(&inv).unwrap_or_else(|e| panic!("{} at {b}: {e}", s.name));
        }
    }
}
