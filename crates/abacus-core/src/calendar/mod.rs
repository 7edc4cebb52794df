//! Billing calendars and proration. (In progress.)
