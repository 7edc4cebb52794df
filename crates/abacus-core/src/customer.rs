//! Customers (Alguna "accounts"): what a valid customer is, independent of the API surface.
//!
//! Both API surfaces deserialize into [`CustomerInput`] (a full desired state), validate it with
//! [`CustomerInput::validate`], and store the resulting [`CustomerState`]. A PATCH is applied to
//! the stored customer first ([`CustomerPatch::apply_to`]) and the whole result is validated, so
//! one set of rules covers create and update.

use rust_decimal::Decimal;

use crate::country::parse_country;
use crate::currency::Currency;
use crate::email::is_valid_email;
use crate::time::Micros;
use crate::validation::{FieldError, Naming, Validation};

pub const MAX_TEXT_LEN: usize = 255;
pub const MAX_ALIASES: usize = 50;
pub const MAX_CONTACTS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 once validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Which e-mails a contact receives: `billing` (invoices) and `updates` (product and subscription
/// notices). Alguna allows exactly these two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailPreference {
    Updates,
    Billing,
}

impl EmailPreference {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "updates" => Some(Self::Updates),
            "billing" => Some(Self::Billing),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updates => "updates",
            Self::Billing => "billing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_primary: bool,
    pub email_preferences: Vec<EmailPreference>,
}

pub const TAX_REASONS: &[&str] = &[
    "standard_rated",
    "reverse_charge",
    "not_collecting",
    "customer_exempt",
    "zero_rated",
    "other",
];
pub const TAX_TYPES: &[&str] = &[
    "gst",
    "hst",
    "igst",
    "jct",
    "lease_tax",
    "pst",
    "qst",
    "sales_tax",
    "service_tax",
    "vat",
];

/// The tax treatment of a customer, as Alguna's `CustomerResponse` carries it. `tax_rate` is a
/// decimal fraction (`0.20` is 20 %).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaxDetails {
    pub tax_country: Option<String>,
    pub tax_id: Option<String>,
    pub tax_rate: Option<Decimal>,
    pub tax_reason: Option<String>,
    pub tax_status: Option<String>,
    pub tax_type: Option<String>,
}

/// A stored customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub aliases: Vec<String>,
    pub billing_address: Option<Address>,
    pub contacts: Vec<Contact>,
    pub tax: TaxDetails,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Customer {
    /// The contact marked primary, if any.
    pub fn primary_contact(&self) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.is_primary)
    }
}

/// A contact as a caller sends it (not yet validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactInput {
    pub id: Option<String>,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_primary: bool,
    pub email_preferences: Vec<String>,
}

/// Tax fields as a caller sends them (not yet validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaxInput {
    pub tax_country: Option<String>,
    pub tax_id: Option<String>,
    pub tax_rate: Option<String>,
    pub tax_reason: Option<String>,
    pub tax_status: Option<String>,
    pub tax_type: Option<String>,
}

/// The full desired state of a customer, as sent on create or as produced by applying a patch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerInput {
    pub name: String,
    pub currency: String,
    pub aliases: Vec<String>,
    pub billing_address: Option<Address>,
    pub contacts: Vec<ContactInput>,
    pub tax: TaxInput,
}

/// A contact that passed validation; `id` is kept when the caller named an existing contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContact {
    pub id: Option<String>,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_primary: bool,
    pub email_preferences: Vec<EmailPreference>,
}

/// A validated customer state, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerState {
    pub name: String,
    pub currency: Currency,
    pub aliases: Vec<String>,
    pub billing_address: Option<Address>,
    pub contacts: Vec<ValidContact>,
    pub tax: TaxDetails,
}

/// A field that a PATCH can leave out, clear with `null`, or set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    /// `null` is [`Patch::Null`], a value is [`Patch::Value`]; use `#[serde(default)]` on the
    /// field so that a missing key is [`Patch::Absent`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Value(v),
        })
    }
}

impl<T> Patch<T> {
    fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Absent => current,
            Patch::Null => None,
            Patch::Value(v) => Some(v),
        }
    }
}

/// A partial update. Lists (`aliases`, `contacts`) replace the whole list when present.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub currency: Option<String>,
    pub aliases: Option<Vec<String>>,
    pub billing_address: Patch<Address>,
    pub contacts: Option<Vec<ContactInput>>,
    pub tax_country: Patch<String>,
    pub tax_id: Patch<String>,
    pub tax_rate: Patch<String>,
    pub tax_reason: Patch<String>,
    pub tax_status: Patch<String>,
    pub tax_type: Patch<String>,
}

impl CustomerPatch {
    /// The state the customer would have after this patch; validate it before storing.
    pub fn apply_to(self, current: &Customer) -> CustomerInput {
        let contacts = self.contacts.unwrap_or_else(|| {
            current
                .contacts
                .iter()
                .map(|c| ContactInput {
                    id: Some(c.id.clone()),
                    email: c.email.clone(),
                    first_name: c.first_name.clone(),
                    last_name: c.last_name.clone(),
                    is_primary: c.is_primary,
                    email_preferences: c
                        .email_preferences
                        .iter()
                        .map(|p| p.as_str().to_string())
                        .collect(),
                })
                .collect()
        });
        let tax = &current.tax;
        CustomerInput {
            name: self.name.unwrap_or_else(|| current.name.clone()),
            currency: self.currency.unwrap_or_else(|| current.currency.clone()),
            aliases: self.aliases.unwrap_or_else(|| current.aliases.clone()),
            billing_address: self.billing_address.apply(current.billing_address.clone()),
            contacts,
            tax: TaxInput {
                tax_country: self.tax_country.apply(tax.tax_country.clone()),
                tax_id: self.tax_id.apply(tax.tax_id.clone()),
                tax_rate: self.tax_rate.apply(tax.tax_rate.map(|r| r.to_string())),
                tax_reason: self.tax_reason.apply(tax.tax_reason.clone()),
                tax_status: self.tax_status.apply(tax.tax_status.clone()),
                tax_type: self.tax_type.apply(tax.tax_type.clone()),
            },
        }
    }
}

fn check_text(v: &mut Validation, field: &str, value: &str, required: bool) {
    if value.trim().is_empty() {
        if required {
            v.push(field, "must not be empty");
        }
    } else if value.chars().count() > MAX_TEXT_LEN {
        v.push(field, format!("must be at most {MAX_TEXT_LEN} characters"));
    }
}

fn check_optional_text(v: &mut Validation, field: &str, value: &Option<String>) {
    if let Some(s) = value {
        check_text(v, field, s, false);
    }
}

impl CustomerInput {
    /// Checks every rule and returns the normalised state, or every failing field.
    ///
    /// `existing_contact_ids` are the ids of the customer's current contacts: a contact sent with
    /// one of them keeps it; any other id is rejected.
    pub fn validate(
        self,
        naming: Naming,
        existing_contact_ids: &[String],
    ) -> Result<CustomerState, Vec<FieldError>> {
        let mut v = Validation::new();
        let f = |name: &str| naming.field(name);

        check_text(&mut v, "name", &self.name, true);
        let currency = match Currency::parse(&self.currency) {
            Ok(c) => Some(c),
            Err(e) => {
                v.push("currency", e);
                None
            }
        };

        if self.aliases.len() > MAX_ALIASES {
            v.push(
                "aliases",
                format!("at most {MAX_ALIASES} aliases are allowed"),
            );
        }
        for (i, alias) in self.aliases.iter().enumerate() {
            let field = format!("aliases[{i}]");
            if alias.trim().is_empty() {
                v.push(field, "must not be empty");
            } else if alias.trim() != alias {
                v.push(field, "must not start or end with whitespace");
            } else if alias.chars().count() > MAX_TEXT_LEN {
                v.push(field, format!("must be at most {MAX_TEXT_LEN} characters"));
            } else if self.aliases[..i].contains(alias) {
                v.push(field, format!("duplicate alias '{alias}'"));
            }
        }

        let billing_address = self.billing_address.map(|mut a| {
            let base = f("billing_address");
            for (name, value) in [
                ("line1", &a.line1),
                ("line2", &a.line2),
                ("city", &a.city),
                ("state", &a.state),
                ("postal_code", &a.postal_code),
            ] {
                check_optional_text(&mut v, &format!("{base}.{}", f(name)), value);
            }
            if let Some(country) = &a.country {
                match parse_country(country) {
                    Ok(code) => a.country = Some(code.to_string()),
                    Err(e) => v.push(format!("{base}.country"), e),
                }
            }
            a
        });

        if self.contacts.len() > MAX_CONTACTS {
            v.push(
                "contacts",
                format!("at most {MAX_CONTACTS} contacts are allowed"),
            );
        }
        let primaries = self.contacts.iter().filter(|c| c.is_primary).count();
        if primaries > 1 {
            v.push(
                "contacts",
                format!("at most one contact may be primary, {primaries} are"),
            );
        }
        let mut contacts = Vec::with_capacity(self.contacts.len());
        for (i, c) in self.contacts.into_iter().enumerate() {
            let base = format!("contacts[{i}]");
            if let Some(id) = &c.id {
                if !existing_contact_ids.contains(id) {
                    v.push(
                        format!("{base}.id"),
                        format!("'{id}' is not a contact of this customer"),
                    );
                } else if contacts
                    .iter()
                    .any(|o: &ValidContact| o.id.as_ref() == Some(id))
                {
                    v.push(
                        format!("{base}.id"),
                        format!("contact '{id}' is listed twice"),
                    );
                }
            }
            if c.email.trim().is_empty() {
                v.push(format!("{base}.email"), "must not be empty");
            } else if !is_valid_email(&c.email) {
                v.push(
                    format!("{base}.email"),
                    format!("'{}' is not a valid e-mail address", c.email),
                );
            }
            check_optional_text(
                &mut v,
                &format!("{base}.{}", f("first_name")),
                &c.first_name,
            );
            check_optional_text(&mut v, &format!("{base}.{}", f("last_name")), &c.last_name);
            let mut prefs = Vec::new();
            for (j, p) in c.email_preferences.iter().enumerate() {
                let field = format!("{base}.{}[{j}]", f("email_preferences"));
                match EmailPreference::parse(p) {
                    None => v.push(field, format!("'{p}' is not one of: updates, billing")),
                    Some(pref) if prefs.contains(&pref) => {
                        v.push(field, format!("duplicate preference '{p}'"))
                    }
                    Some(pref) => prefs.push(pref),
                }
            }
            contacts.push(ValidContact {
                id: c.id,
                email: c.email,
                first_name: c.first_name,
                last_name: c.last_name,
                is_primary: c.is_primary,
                email_preferences: prefs,
            });
        }

        let tax = validate_tax(&mut v, naming, self.tax);

        v.into_result()?;
        Ok(CustomerState {
            name: self.name.trim().to_string(),
            currency: currency.expect("currency validated"),
            aliases: self.aliases,
            billing_address,
            contacts,
            tax,
        })
    }
}

fn validate_tax(v: &mut Validation, naming: Naming, t: TaxInput) -> TaxDetails {
    let f = |name: &str| naming.field(name);
    let tax_country = t.tax_country.and_then(|c| match parse_country(&c) {
        Ok(code) => Some(code.to_string()),
        Err(e) => {
            v.push(f("tax_country"), e);
            None
        }
    });
    if let Some(id) = &t.tax_id
        && (id.trim().is_empty() || id.chars().count() > 64)
    {
        v.push(f("tax_id"), "must be 1 to 64 characters");
    }
    let tax_rate = t.tax_rate.and_then(|r| match r.trim().parse::<Decimal>() {
        Ok(d) if d >= Decimal::ZERO && d <= Decimal::ONE => Some(d),
        Ok(_) => {
            v.push(
                f("tax_rate"),
                format!("'{r}' must be a fraction between 0 and 1 (0.20 is 20%)"),
            );
            None
        }
        Err(_) => {
            v.push(f("tax_rate"), format!("'{r}' is not a decimal number"));
            None
        }
    });
    if let Some(reason) = &t.tax_reason
        && !TAX_REASONS.contains(&reason.as_str())
    {
        v.push(
            f("tax_reason"),
            format!("'{reason}' is not one of: {}", TAX_REASONS.join(", ")),
        );
    }
    if let Some(kind) = &t.tax_type
        && !TAX_TYPES.contains(&kind.as_str())
    {
        v.push(
            f("tax_type"),
            format!("'{kind}' is not one of: {}", TAX_TYPES.join(", ")),
        );
    }
    if let Some(status) = &t.tax_status {
        let ok = !status.is_empty()
            && status.len() <= 64
            && status.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        if !ok {
            v.push(
                f("tax_status"),
                "must be a lower-case word such as 'taxable' or 'exempt'",
            );
        }
    }
    TaxDetails {
        tax_country,
        tax_id: t.tax_id,
        tax_rate,
        tax_reason: t.tax_reason,
        tax_status: t.tax_status,
        tax_type: t.tax_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> CustomerInput {
        CustomerInput {
            name: "GoJo".into(),
            currency: "USD".into(),
            aliases: vec!["JoGo".into()],
            billing_address: Some(Address {
                line1: Some("123 Main St".into()),
                city: Some("New York".into()),
                ..Default::default()
            }),
            contacts: vec![
                ContactInput {
                    email: "sales@gojo.com".into(),
                    is_primary: true,
                    email_preferences: vec!["updates".into()],
                    ..Default::default()
                },
                ContactInput {
                    email: "finance@gojo.com".into(),
                    email_preferences: vec!["billing".into()],
                    ..Default::default()
                },
            ],
            tax: TaxInput::default(),
        }
    }

    fn fields(r: Result<CustomerState, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_seed_is_valid() {
        let s = seed().validate(Naming::Camel, &[]).unwrap();
        assert_eq!(s.currency.code(), "USD");
        assert_eq!(
            s.contacts[1].email_preferences,
            vec![EmailPreference::Billing]
        );
    }

    #[test]
    fn reports_every_bad_field_in_the_callers_naming() {
        let mut c = seed();
        c.name = " ".into();
        c.currency = "XYZ".into();
        c.aliases.push("".into());
        c.billing_address.as_mut().unwrap().country = Some("Atlantis".into());
        c.contacts[0].email = "nope".into();
        c.contacts[1].email_preferences = vec!["billing".into(), "billing".into(), "spam".into()];
        c.contacts[1].is_primary = true;
        c.tax.tax_rate = Some("1.5".into());
        let f = fields(c.validate(Naming::Camel, &[]));
        assert_eq!(
            f,
            vec![
                "name",
                "currency",
                "aliases[1]",
                "billingAddress.country",
                "contacts",
                "contacts[0].email",
                "contacts[1].emailPreferences[1]",
                "contacts[1].emailPreferences[2]",
                "taxRate",
            ]
        );
    }

    #[test]
    fn snake_naming_for_v2() {
        let mut c = seed();
        c.contacts[0].email_preferences = vec!["weekly".into()];
        c.tax.tax_type = Some("income".into());
        let f = fields(c.validate(Naming::Snake, &[]));
        assert_eq!(f, vec!["contacts[0].email_preferences[0]", "tax_type"]);
    }

    #[test]
    fn duplicate_aliases_and_unknown_contact_ids() {
        let mut c = seed();
        c.aliases = vec!["a".into(), "a".into()];
        c.contacts[0].id = Some("zzzzzzzz".into());
        assert_eq!(
            fields(c.validate(Naming::Snake, &[])),
            vec!["aliases[1]", "contacts[0].id"]
        );
    }

    #[test]
    fn country_codes_normalise_to_alpha2() {
        let mut c = seed();
        c.billing_address.as_mut().unwrap().country = Some("usa".into());
        c.tax.tax_country = Some("deu".into());
        let s = c.validate(Naming::Snake, &[]).unwrap();
        assert_eq!(s.billing_address.unwrap().country.as_deref(), Some("US"));
        assert_eq!(s.tax.tax_country.as_deref(), Some("DE"));
    }

    #[test]
    fn patch_keeps_left_out_fields_and_replaces_lists() {
        let state = seed().validate(Naming::Camel, &[]).unwrap();
        let current = Customer {
            id: "ywgWhtGp".into(),
            name: state.name,
            currency: "USD".into(),
            aliases: state.aliases,
            billing_address: state.billing_address,
            contacts: vec![Contact {
                id: "OLgPyqFF".into(),
                email: "sales@gojo.com".into(),
                first_name: None,
                last_name: None,
                is_primary: true,
                email_preferences: vec![EmailPreference::Updates],
            }],
            tax: TaxDetails {
                tax_rate: Some("0.20".parse().unwrap()),
                ..Default::default()
            },
            created_at: 1,
            updated_at: 1,
        };
        let patch = CustomerPatch {
            name: Some("GoJo Inc".into()),
            aliases: Some(vec![]),
            billing_address: Patch::Null,
            ..Default::default()
        };
        let next = patch.apply_to(&current);
        assert_eq!(next.name, "GoJo Inc");
        assert_eq!(next.currency, "USD");
        assert!(next.aliases.is_empty());
        assert!(next.billing_address.is_none());
        assert_eq!(next.contacts[0].id.as_deref(), Some("OLgPyqFF"));
        assert_eq!(next.tax.tax_rate.as_deref(), Some("0.20"));
        let ids = vec!["OLgPyqFF".to_string()];
        assert!(next.validate(Naming::Camel, &ids).is_ok());
    }
}
