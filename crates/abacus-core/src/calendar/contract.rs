//! Contract terms and renewals (Alguna's `contract` and `renewal` objects).
//!
//! Term boundaries are whole months from the contract start, each computed from the start
//! (`start + n months`), so a contract starting on the 31st renews on the 31st (or the month's last
//! day) forever.

use jiff::civil::Date;

use super::CalendarError;
use super::dates::{add_months, months_floor};

/// A contract's term (`period_type` with `duration_months`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Term {
    /// A commitment of `months` months; the contract ends (or renews) after it.
    Fixed { months: u32 },
    /// Evergreen: renews every month until cancelled.
    MonthlyRolling,
}

impl Term {
    /// About a century, the longest contract the calendar accepts.
    pub const MAX_MONTHS: u32 = 1_200;

    pub fn fixed(months: i64) -> Result<Term, CalendarError> {
        match u32::try_from(months) {
            Ok(m) if (1..=Self::MAX_MONTHS).contains(&m) => Ok(Term::Fixed { months: m }),
            _ => Err(CalendarError::ContractMonths {
                months,
                max: Self::MAX_MONTHS,
            }),
        }
    }

    /// A term as the API carries it. `duration_months` is required for `fixed` and ignored for
    /// `monthly_rolling`.
    pub fn from_fields(
        period_type: &str,
        duration_months: Option<i64>,
    ) -> Result<Term, CalendarError> {
        match period_type {
            "fixed" => Term::fixed(duration_months.ok_or(CalendarError::MissingContractMonths)?),
            "monthly_rolling" => Ok(Term::MonthlyRolling),
            _ => Err(CalendarError::UnknownPeriodType(period_type.to_string())),
        }
    }

    pub fn period_type(self) -> &'static str {
        match self {
            Term::Fixed { .. } => "fixed",
            Term::MonthlyRolling => "monthly_rolling",
        }
    }

    pub fn duration_months(self) -> Option<u32> {
        match self {
            Term::Fixed { months } => Some(months),
            Term::MonthlyRolling => None,
        }
    }

    fn months(self) -> i64 {
        match self {
            Term::Fixed { months } => i64::from(months),
            Term::MonthlyRolling => 1,
        }
    }
}

/// What happens when a fixed term ends. `term: None` renews for the same term as the initial one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Renewal {
    pub auto_renew: bool,
    pub term: Option<Term>,
}

/// One term of a contract, `[start, end)`; `index` 0 is the initial term, 1 the first renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContractTerm {
    pub index: i64,
    pub kind: Term,
    pub start: Date,
    pub end: Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Contract {
    pub start: Date,
    pub term: Term,
    pub renewal: Renewal,
}

impl Contract {
    pub fn new(start: Date, term: Term, renewal: Renewal) -> Self {
        Self {
            start,
            term,
            renewal,
        }
    }

    /// A monthly-rolling contract from `start`, the default when no term is given.
    pub fn evergreen(start: Date) -> Self {
        Self::new(start, Term::MonthlyRolling, Renewal::default())
    }

    /// Whether the contract continues after its initial term. A rolling contract always does;
    /// `renewal` only matters for fixed terms.
    pub fn renews(&self) -> bool {
        matches!(self.term, Term::MonthlyRolling) || self.renewal.auto_renew
    }

    /// The end of the initial term (`start + duration_months`; one month for a rolling contract).
    pub fn initial_end(&self) -> Result<Date, CalendarError> {
        add_months(self.start, self.term.months())
    }

    /// The date the contract ends for good: the end of a fixed term that does not renew.
    pub fn end(&self) -> Result<Option<Date>, CalendarError> {
        if self.renews() {
            Ok(None)
        } else {
            self.initial_end().map(Some)
        }
    }

    /// The term containing `date`; `None` before the start or after a final end.
    pub fn term_on(&self, date: Date) -> Result<Option<ContractTerm>, CalendarError> {
        if date < self.start {
            return Ok(None);
        }
        let initial = self.term.months();
        let elapsed = months_floor(self.start, date)?;
        if elapsed < initial {
            return Ok(Some(ContractTerm {
                index: 0,
                kind: self.term,
                start: self.start,
                end: add_months(self.start, initial)?,
            }));
        }
        if !self.renews() {
            return Ok(None);
        }
        let kind = match self.term {
            Term::MonthlyRolling => Term::MonthlyRolling,
            Term::Fixed { .. } => self.renewal.term.unwrap_or(self.term),
        };
        let each = kind.months();
        let j = (elapsed - initial).div_euclid(each);
        let offset = initial + j * each;
        Ok(Some(ContractTerm {
            index: 1 + j,
            kind,
            start: add_months(self.start, offset)?,
            end: add_months(self.start, offset + each)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn fields() {
        assert_eq!(
            Term::from_fields("fixed", Some(12)).unwrap(),
            Term::Fixed { months: 12 }
        );
        assert_eq!(
            Term::from_fields("monthly_rolling", None).unwrap(),
            Term::MonthlyRolling
        );
        assert_eq!(
            Term::from_fields("fixed", None),
            Err(CalendarError::MissingContractMonths)
        );
        assert!(Term::from_fields("fixed", Some(0)).is_err());
        assert!(Term::from_fields("fixed", Some(-1)).is_err());
        assert!(Term::from_fields("fixed", Some(i64::MAX)).is_err());
        assert!(matches!(
            Term::from_fields("weekly", Some(1)),
            Err(CalendarError::UnknownPeriodType(_))
        ));
    }

    #[test]
    fn fixed_term_without_renewal_ends() {
        let c = Contract::new(
            date(2026, 1, 1),
            Term::Fixed { months: 12 },
            Renewal::default(),
        );
        assert_eq!(c.end().unwrap(), Some(date(2027, 1, 1)));
        let t = c.term_on(date(2026, 12, 31)).unwrap().unwrap();
        assert_eq!(
            (t.index, t.start, t.end),
            (0, date(2026, 1, 1), date(2027, 1, 1))
        );
        assert_eq!(c.term_on(date(2027, 1, 1)).unwrap(), None);
        assert_eq!(c.term_on(date(2025, 12, 31)).unwrap(), None);
    }

    #[test]
    fn renewals_are_anchored_on_the_start() {
        let c = Contract::new(
            date(2024, 1, 31),
            Term::Fixed { months: 1 },
            Renewal {
                auto_renew: true,
                term: None,
            },
        );
        assert_eq!(c.end().unwrap(), None);
        let ends: Vec<Date> = [date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)]
            .into_iter()
            .map(|d| c.term_on(d).unwrap().unwrap().end)
            .collect();
        assert_eq!(
            ends,
            [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]
        );
    }

    #[test]
    fn fixed_then_rolling() {
        let c = Contract::new(
            date(2024, 1, 15),
            Term::Fixed { months: 12 },
            Renewal {
                auto_renew: true,
                term: Some(Term::MonthlyRolling),
            },
        );
        let t = c.term_on(date(2025, 3, 20)).unwrap().unwrap();
        assert_eq!(t.kind, Term::MonthlyRolling);
        assert_eq!(
            (t.index, t.start, t.end),
            (3, date(2025, 3, 15), date(2025, 4, 15))
        );
        let c = Contract::new(
            date(2024, 1, 15),
            Term::Fixed { months: 12 },
            Renewal {
                auto_renew: true,
                term: Some(Term::Fixed { months: 24 }),
            },
        );
        let t = c.term_on(date(2027, 1, 14)).unwrap().unwrap();
        assert_eq!(
            (t.index, t.start, t.end),
            (1, date(2025, 1, 15), date(2027, 1, 15))
        );
    }

    #[test]
    fn evergreen_rolls_monthly() {
        let c = Contract::evergreen(date(2024, 1, 31));
        assert!(c.renews());
        let t = c.term_on(date(2024, 3, 1)).unwrap().unwrap();
        assert_eq!((t.start, t.end), (date(2024, 2, 29), date(2024, 3, 31)));
    }
}
