//! When a change, a version or a cancellation takes effect: `immediate`, `next_billing_period`,
//! `end_of_term`, a date (local midnight in the billing time zone) or an RFC 3339 instant, turned
//! into an instant by the subscription's calendar.

use jiff::civil::Date;

use crate::calendar::{SubscriptionCalendar, local_date, start_of_day};
use crate::time::{Micros, format_micros, parse_rfc3339};

/// A parsed `effective` (or `effective_at`) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effective {
    /// Now (the default).
    Immediate,
    /// The start of the next billing period (the end of the current one). `billing_cycle_start`
    /// and `end_of_billing_period` are read the same way.
    NextBillingPeriod,
    /// The end of the current contract term (`next_term_renewal` is read the same way).
    EndOfTerm,
    /// Local midnight of this date in the billing time zone.
    Date(Date),
    /// This instant.
    Instant(Micros),
}

pub const EFFECTIVE_VALUES: &str =
    "immediate, next_billing_period, end_of_term, a date (YYYY-MM-DD) or an RFC 3339 timestamp";

impl Effective {
    pub fn parse(s: &str) -> Result<Effective, String> {
        let t = s.trim();
        Ok(match t {
            "immediate" | "now" => Effective::Immediate,
            "next_billing_period" | "billing_cycle_start" | "end_of_billing_period" => {
                Effective::NextBillingPeriod
            }
            "end_of_term" | "next_term_renewal" => Effective::EndOfTerm,
            _ if t.len() == 10 => Effective::Date(
                t.parse::<Date>()
                    .map_err(|_| format!("'{t}' is not a valid date (YYYY-MM-DD)"))?,
            ),
            _ => Effective::Instant(
                parse_rfc3339(t).map_err(|_| format!("'{t}' is not one of: {EFFECTIVE_VALUES}"))?,
            ),
        })
    }
}

fn date_text(d: Date) -> String {
    d.to_string()
}

/// The local date of the end of service, for messages.
fn end_text(cal: &SubscriptionCalendar, end: Micros) -> String {
    cal.service_end_date()
        .map(date_text)
        .unwrap_or_else(|| format_micros(end))
}

/// The start of the contract term in effect at `now` (or at the start, before it), as an end:
/// the term's end instant.
fn term_end(cal: &SubscriptionCalendar, now: Micros) -> Result<Micros, String> {
    let at = now.max(cal.service_start());
    let today = local_date(at, cal.time_zone()).map_err(|e| e.to_string())?;
    let term = cal
        .contract()
        .term_on(today.max(cal.contract().start))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the contract has ended".to_string())?;
    start_of_day(term.end, cal.time_zone()).map_err(|e| e.to_string())
}

/// The end of the billing period in effect at `now` (the first period's start before the start).
fn period_end(cal: &SubscriptionCalendar, now: Micros) -> Result<Micros, String> {
    if now < cal.service_start() {
        return Ok(cal.service_start());
    }
    cal.period_at(now)
        .map_err(|e| e.to_string())?
        .map(|p| p.period.end)
        .ok_or_else(|| "the subscription has ended".to_string())
}

/// When a new version takes over. It cannot start before the contract start, and must start
/// before the end of service. `immediate` before the start means the start.
pub fn version_start(
    e: Effective,
    cal: &SubscriptionCalendar,
    now: Micros,
) -> Result<Micros, String> {
    let start = cal.service_start();
    let contract_start = cal.contract().start;
    let at = match e {
        Effective::Immediate => now.max(start),
        Effective::NextBillingPeriod => period_end(cal, now)?,
        Effective::EndOfTerm => term_end(cal, now)?,
        Effective::Date(d) => {
            if d < contract_start {
                return Err(format!(
                    "{} is before the contract start ({})",
                    date_text(d),
                    date_text(contract_start)
                ));
            }
            start_of_day(d, cal.time_zone()).map_err(|e| e.to_string())?
        }
        Effective::Instant(t) => {
            if t < start {
                return Err(format!(
                    "{} is before the contract start ({})",
                    format_micros(t),
                    date_text(contract_start)
                ));
            }
            t
        }
    };
    if let Some(end) = cal.service_end()
        && at >= end
    {
        return Err(format!(
            "the subscription ends on {}, before this takes effect",
            end_text(cal, end)
        ));
    }
    Ok(at)
}

/// When a cancellation ends the service. `cal` is the calendar without any cancellation. A date
/// or instant may not lie in the past (today means now) or after the contract's own end.
pub fn cancellation_at(
    e: Effective,
    cal: &SubscriptionCalendar,
    now: Micros,
) -> Result<Micros, String> {
    let tz = cal.time_zone();
    let at = match e {
        Effective::Immediate => now,
        Effective::NextBillingPeriod => period_end(cal, now)?,
        Effective::EndOfTerm => term_end(cal, now)?,
        Effective::Date(d) => {
            let today = local_date(now, tz).map_err(|e| e.to_string())?;
            if d < today {
                return Err(format!("{} is in the past", date_text(d)));
            }
            if d < cal.contract().start {
                return Err(format!(
                    "{} is before the contract start ({})",
                    date_text(d),
                    date_text(cal.contract().start)
                ));
            }
            if d == today {
                now
            } else {
                start_of_day(d, tz).map_err(|e| e.to_string())?
            }
        }
        Effective::Instant(t) => {
            if t < now {
                return Err(format!("{} is in the past", format_micros(t)));
            }
            t
        }
    };
    if let Some(end) = cal.service_end()
        && at > end
    {
        return Err(format!(
            "the contract already ends on {}",
            end_text(cal, end)
        ));
    }
    Ok(at)
}
