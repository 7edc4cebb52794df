//! Tier tables and the boundary rule shared by every tiered model.
//!
//! **Boundary rule.** `max_units` is inclusive and a tier begins just above the previous tier's
//! `max_units`. With `0–1000, 1001–10000` (inclusive style) and with `0–1000, 1000–10000`
//! (half-open style) alike, tier 1 is `[0, 1000]` and tier 2 is `(1000, 10000]`: 1000 falls in
//! tier 1, while 1000.5 and 1001 fall in tier 2. So both spellings describe the same tiers, and a
//! fractional quantity never lands in a gap. `min_units` only has to agree with the previous
//! `max_units` (equal to it, or one more).

use rust_decimal::Decimal;

use crate::money::{self, Overflow};

/// Most tiers one table may have.
pub const MAX_TIERS: usize = 100;

/// One tier as the caller wrote it. `rate` is a price per unit, or a percent number in the
/// percentage models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub min_units: Decimal,
    /// Inclusive upper bound; `None` is the open top tier.
    pub max_units: Option<Decimal>,
    pub rate: Decimal,
    pub fixed_fee: Decimal,
}

impl Tier {
    /// `0–1,000`, or `10,001+` for the open top, in the caller's own numbers.
    pub fn range_label(&self) -> String {
        let min = money::format_quantity(self.min_units);
        match self.max_units {
            Some(max) => format!("{min}–{}", money::format_quantity(max)),
            None => format!("{min}+"),
        }
    }
}

/// A problem with a tier table, located by tier index and field (snake_case) so validation can
/// spell the path in the caller's naming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierIssue {
    /// `None` for the table as a whole.
    pub index: Option<usize>,
    pub field: &'static str,
    pub message: String,
}

/// A well-formed tier table: at least one tier, starting at 0, contiguous, upper bounds strictly
/// increasing, and only the last tier (which must exist) open-ended. The fields are private so
/// pricing can rely on that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiers(Vec<Tier>);

/// The units of one tier that fall in a priced range, and whether the tier's fixed fee is due in
/// that range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPart {
    pub index: usize,
    pub units: Decimal,
    pub fee_due: bool,
}

impl Tiers {
    pub fn new(tiers: Vec<Tier>) -> Result<Self, Vec<TierIssue>> {
        let mut issues = Vec::new();
        let mut issue = |index, field, message: String| {
            issues.push(TierIssue {
                index,
                field,
                message,
            })
        };
        if tiers.is_empty() {
            issue(None, "tiers", "at least one tier is required".into());
        }
        if tiers.len() > MAX_TIERS {
            issue(
                None,
                "tiers",
                format!("at most {MAX_TIERS} tiers are allowed"),
            );
        }
        let mut prev_max: Option<Decimal> = None;
        for (i, t) in tiers.iter().enumerate() {
            let last = i + 1 == tiers.len();
            if i == 0 {
                if !t.min_units.is_zero() {
                    issue(
                        Some(i),
                        "min_units",
                        "the first tier must start at 0".into(),
                    );
                }
            } else if let Some(prev) = prev_max {
                let next = prev.checked_add(Decimal::ONE);
                if t.min_units != prev && Some(t.min_units) != next {
                    issue(
                        Some(i),
                        "min_units",
                        format!(
                            "must be {} or {} (the previous tier ends at {}): tiers must follow \
                             each other without gaps or overlaps",
                            money::format_quantity(prev),
                            next.map(money::format_quantity).unwrap_or_default(),
                            money::format_quantity(prev),
                        ),
                    );
                }
            }
            match t.max_units {
                Some(max) => {
                    let floor = prev_max.unwrap_or(Decimal::ZERO);
                    if max <= floor || max < t.min_units {
                        issue(
                            Some(i),
                            "max_units",
                            format!(
                                "must be greater than {}",
                                money::format_quantity(floor.max(t.min_units))
                            ),
                        );
                    }
                    if last {
                        issue(
                            Some(i),
                            "max_units",
                            "the last tier must be unbounded (max_units null) so that every \
                             quantity has a tier"
                                .into(),
                        );
                    }
                    prev_max = Some(max.max(floor));
                }
                None if !last => {
                    issue(
                        Some(i),
                        "max_units",
                        "only the last tier may be unbounded (max_units null)".into(),
                    );
                    // Later tiers cannot be checked against an open bound.
                    break;
                }
                None => {}
            }
        }
        if issues.is_empty() {
            Ok(Tiers(tiers))
        } else {
            Err(issues)
        }
    }

    pub fn as_slice(&self) -> &[Tier] {
        &self.0
    }

    /// Where tier `index` begins (exclusive): the previous tier's `max_units`, or 0.
    fn lower(&self, index: usize) -> Decimal {
        index
            .checked_sub(1)
            .and_then(|p| self.0.get(p))
            .and_then(|t| t.max_units)
            .unwrap_or(Decimal::ZERO)
    }

    /// Whether a quantity has reached tier `index`. The first tier is reached at zero, so its
    /// fixed fee is due even without usage.
    fn reached(&self, index: usize, quantity: Decimal) -> bool {
        index == 0 || quantity > self.lower(index)
    }

    /// The tier a (non-negative) quantity falls in: the whole quantity is priced there (volume).
    pub fn tier_for(&self, quantity: Decimal) -> (usize, &Tier) {
        let found = self
            .0
            .iter()
            .enumerate()
            .find(|(_, t)| t.max_units.is_none_or(|max| quantity <= max));
        // The last tier is open, so `found` is always `Some`; fall back to it all the same.
        found.unwrap_or_else(|| {
            let last = self.0.len().saturating_sub(1);
            (last, &self.0[last])
        })
    }

    /// The units of the range `(from, to]` (for `from = 0`, `[0, to]`) in each tier, graduated.
    /// A tier's fee is due in the range where the tier is first reached: the first tier's in the
    /// range starting at 0, any other tier's in the range that first goes past its lower bound.
    /// Tiers with neither units nor a due fee are left out.
    pub fn graduated(&self, from: Decimal, to: Decimal) -> Result<Vec<TierPart>, Overflow> {
        let mut parts = Vec::new();
        for (index, tier) in self.0.iter().enumerate() {
            let lower = self.lower(index);
            let lo = from.max(lower);
            let hi = tier.max_units.map_or(to, |max| to.min(max));
            let units = if hi > lo {
                money::sub(hi, lo)?
            } else {
                Decimal::ZERO
            };
            let fee_due = if index == 0 {
                from.is_zero()
            } else {
                self.reached(index, to) && !self.reached(index, from)
            };
            if units > Decimal::ZERO || fee_due {
                parts.push(TierPart {
                    index,
                    units,
                    fee_due,
                });
            }
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn tier(min: i64, max: Option<i64>) -> Tier {
        Tier {
            min_units: min.into(),
            max_units: max.map(Decimal::from),
            rate: Decimal::ONE,
            fixed_fee: Decimal::ZERO,
        }
    }

    fn fields(r: Result<Tiers, Vec<TierIssue>>) -> Vec<(Option<usize>, &'static str)> {
        r.unwrap_err().iter().map(|i| (i.index, i.field)).collect()
    }

    #[test]
    fn both_boundary_styles_describe_the_same_tiers() {
        let inclusive = Tiers::new(vec![
            tier(0, Some(1000)),
            tier(1001, Some(10000)),
            tier(10001, None),
        ])
        .unwrap();
        let half_open = Tiers::new(vec![
            tier(0, Some(1000)),
            tier(1000, Some(10000)),
            tier(10000, None),
        ])
        .unwrap();
        for (q, expected) in [
            ("0", 0),
            ("1000", 0),
            ("1000.5", 1),
            ("1001", 1),
            ("10000", 1),
            ("10000.01", 2),
            ("1e20", 2),
        ] {
            let q = Decimal::from_scientific(q)
                .or_else(|_| Decimal::from_str(q))
                .unwrap();
            assert_eq!(inclusive.tier_for(q).0, expected, "{q}");
            assert_eq!(half_open.tier_for(q).0, expected, "{q}");
        }
    }

    #[test]
    fn graduated_ranges_split_at_the_boundaries() {
        let t = Tiers::new(vec![
            tier(0, Some(100)),
            tier(101, Some(500)),
            tier(501, None),
        ])
        .unwrap();
        let parts = t.graduated(Decimal::ZERO, d("250.5")).unwrap();
        let units: Vec<_> = parts
            .iter()
            .map(|p| (p.index, p.units, p.fee_due))
            .collect();
        assert_eq!(units, vec![(0, d("100"), true), (1, d("150.5"), true)]);
        // Zero usage still reaches the first tier (its fee is due), nothing else.
        let zero = t.graduated(Decimal::ZERO, Decimal::ZERO).unwrap();
        assert_eq!(zero.len(), 1);
        assert!(zero[0].fee_due && zero[0].units.is_zero());
        // A range that starts inside tier 2 owes no fee for tiers 1 and 2.
        let over = t.graduated(d("300"), d("600")).unwrap();
        let units: Vec<_> = over.iter().map(|p| (p.index, p.units, p.fee_due)).collect();
        assert_eq!(units, vec![(1, d("200"), false), (2, d("100"), true)]);
    }

    #[test]
    fn rejects_malformed_tables() {
        assert_eq!(fields(Tiers::new(vec![])), vec![(None, "tiers")]);
        assert_eq!(
            fields(Tiers::new(vec![tier(1, Some(10)), tier(11, None)])),
            vec![(Some(0), "min_units")]
        );
        // A gap, an overlap, a bound that goes backwards, a bounded top.
        assert_eq!(
            fields(Tiers::new(vec![tier(0, Some(10)), tier(12, None)])),
            vec![(Some(1), "min_units")]
        );
        assert_eq!(
            fields(Tiers::new(vec![tier(0, Some(10)), tier(5, None)])),
            vec![(Some(1), "min_units")]
        );
        assert_eq!(
            fields(Tiers::new(vec![
                tier(0, Some(10)),
                tier(10, Some(10)),
                tier(10, None)
            ])),
            vec![(Some(1), "max_units")]
        );
        assert_eq!(
            fields(Tiers::new(vec![tier(0, Some(10)), tier(11, Some(20))])),
            vec![(Some(1), "max_units")]
        );
        assert_eq!(
            fields(Tiers::new(vec![tier(0, None), tier(0, None)])),
            vec![(Some(0), "max_units")]
        );
        assert_eq!(
            fields(Tiers::new(vec![tier(0, Some(0)), tier(1, None)])),
            vec![(Some(0), "max_units")]
        );
    }

    #[test]
    fn labels_use_the_callers_numbers() {
        assert_eq!(tier(1001, Some(10000)).range_label(), "1,001–10,000");
        assert_eq!(tier(10001, None).range_label(), "10,001+");
    }
}
