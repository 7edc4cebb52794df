//! Billing intervals: Alguna's named intervals (`monthly`, `quarterly`, `semi_annual`, `yearly`)
//! and the general `billing_interval_count` × `billing_interval_unit` form.

use super::CalendarError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntervalUnit {
    Day,
    Week,
    Month,
    Year,
}

impl IntervalUnit {
    pub fn parse(s: &str) -> Result<Self, CalendarError> {
        match s {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "year" => Ok(Self::Year),
            _ => Err(CalendarError::UnknownIntervalUnit(s.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// The largest count accepted for this unit: about a century, so that no interval runs past
    /// the calendar's range from any realistic anchor.
    pub fn max_count(self) -> u32 {
        match self {
            Self::Day => 36_525,
            Self::Week => 5_218,
            Self::Month => 1_200,
            Self::Year => 100,
        }
    }
}

/// How a schedule advances: whole days or whole months. Weeks are 7 days and years 12 months, so
/// `1 year` and `12 months` produce the same dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Days(i64),
    Months(i64),
}

/// A validated billing interval: `count` (at least 1) of `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    count: u32,
    unit: IntervalUnit,
}

impl Interval {
    pub const MONTHLY: Interval = Interval {
        count: 1,
        unit: IntervalUnit::Month,
    };
    pub const QUARTERLY: Interval = Interval {
        count: 3,
        unit: IntervalUnit::Month,
    };
    pub const SEMI_ANNUAL: Interval = Interval {
        count: 6,
        unit: IntervalUnit::Month,
    };
    pub const YEARLY: Interval = Interval {
        count: 1,
        unit: IntervalUnit::Year,
    };

    /// `count` of `unit`; the count is taken as the API sends it (any integer) and checked here.
    pub fn new(count: i64, unit: IntervalUnit) -> Result<Self, CalendarError> {
        let max = unit.max_count();
        match u32::try_from(count) {
            Ok(c) if (1..=max).contains(&c) => Ok(Self { count: c, unit }),
            _ => Err(CalendarError::IntervalCount {
                count,
                unit: unit.as_str(),
                max,
            }),
        }
    }

    /// One of Alguna's named intervals (`billing_interval`).
    pub fn from_name(name: &str) -> Result<Self, CalendarError> {
        match name {
            "monthly" => Ok(Self::MONTHLY),
            "quarterly" => Ok(Self::QUARTERLY),
            "semi_annual" => Ok(Self::SEMI_ANNUAL),
            "yearly" => Ok(Self::YEARLY),
            _ => Err(CalendarError::UnknownInterval(name.to_string())),
        }
    }

    /// The interval of a price as the API carries it. `billing_interval_unit` (with
    /// `billing_interval_count`, default 1) is the precise form; `billing_interval` alone is the
    /// named form. When both are sent they must describe the same dates.
    pub fn from_fields(
        billing_interval: Option<&str>,
        count: Option<i64>,
        unit: Option<&str>,
    ) -> Result<Self, CalendarError> {
        let named = billing_interval.map(Self::from_name).transpose()?;
        let Some(unit) = unit else {
            return match (named, count) {
                (Some(named), None) => Ok(named),
                (Some(named), Some(c)) if i64::from(named.count) == c => Ok(named),
                (Some(_), Some(_)) => Err(CalendarError::ConflictingInterval {
                    named: billing_interval.unwrap_or_default().to_string(),
                }),
                (None, _) => Err(CalendarError::MissingInterval),
            };
        };
        let counted = Self::new(count.unwrap_or(1), IntervalUnit::parse(unit)?)?;
        match named {
            Some(named) if named.step() != counted.step() => {
                Err(CalendarError::ConflictingInterval {
                    named: billing_interval.unwrap_or_default().to_string(),
                })
            }
            _ => Ok(counted),
        }
    }

    pub fn count(self) -> u32 {
        self.count
    }

    pub fn unit(self) -> IntervalUnit {
        self.unit
    }

    /// The named form of this interval, when it has one.
    pub fn name(self) -> Option<&'static str> {
        match self.step() {
            Step::Months(1) => Some("monthly"),
            Step::Months(3) => Some("quarterly"),
            Step::Months(6) => Some("semi_annual"),
            Step::Months(12) => Some("yearly"),
            _ => None,
        }
    }

    pub(crate) fn step(self) -> Step {
        let n = i64::from(self.count);
        match self.unit {
            IntervalUnit::Day => Step::Days(n),
            IntervalUnit::Week => Step::Days(7 * n),
            IntervalUnit::Month => Step::Months(n),
            IntervalUnit::Year => Step::Months(12 * n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_intervals() {
        assert_eq!(Interval::from_name("monthly").unwrap(), Interval::MONTHLY);
        assert_eq!(Interval::from_name("semi_annual").unwrap().count(), 6);
        assert_eq!(Interval::YEARLY.name(), Some("yearly"));
        assert_eq!(
            Interval::new(12, IntervalUnit::Month).unwrap().name(),
            Some("yearly")
        );
        assert_eq!(Interval::new(2, IntervalUnit::Week).unwrap().name(), None);
        assert!(matches!(
            Interval::from_name("fortnightly"),
            Err(CalendarError::UnknownInterval(_))
        ));
    }

    #[test]
    fn counts_are_checked() {
        assert!(Interval::new(0, IntervalUnit::Month).is_err());
        assert!(Interval::new(-3, IntervalUnit::Day).is_err());
        assert!(Interval::new(i64::MAX, IntervalUnit::Year).is_err());
        assert!(Interval::new(100, IntervalUnit::Year).is_ok());
        assert_eq!(
            Interval::new(101, IntervalUnit::Year),
            Err(CalendarError::IntervalCount {
                count: 101,
                unit: "year",
                max: 100
            })
        );
    }

    #[test]
    fn api_fields() {
        let f = Interval::from_fields;
        assert_eq!(
            f(Some("quarterly"), None, None).unwrap(),
            Interval::QUARTERLY
        );
        assert_eq!(
            f(Some("quarterly"), Some(3), Some("month")).unwrap(),
            Interval::QUARTERLY
        );
        assert_eq!(
            f(None, Some(2), Some("week")).unwrap(),
            Interval::new(2, IntervalUnit::Week).unwrap()
        );
        assert_eq!(
            f(None, None, Some("day")).unwrap(),
            Interval::new(1, IntervalUnit::Day).unwrap()
        );
        assert_eq!(
            f(Some("yearly"), Some(12), Some("month")).unwrap().name(),
            Some("yearly")
        );
        assert!(matches!(
            f(Some("monthly"), Some(2), Some("month")),
            Err(CalendarError::ConflictingInterval { .. })
        ));
        assert!(matches!(
            f(Some("monthly"), Some(2), None),
            Err(CalendarError::ConflictingInterval { .. })
        ));
        assert_eq!(f(None, Some(2), None), Err(CalendarError::MissingInterval));
        assert!(matches!(
            f(None, Some(1), Some("fortnight")),
            Err(CalendarError::UnknownIntervalUnit(_))
        ));
    }
}
