//! The customer resource as both surfaces spell it.
//!
//! v1 (`/accounts`) and v2 (`/customers`) carry the same fields and differ only in naming
//! (camelCase against snake_case), so the DTOs are declared once here and instantiated per
//! surface with [`customer_dtos!`]: each surface gets its own structs (and its own schemas in the
//! OpenAPI document), with one conversion to and from the domain types.

/// Declares a surface's customer DTOs. Arguments: the serde `rename_all` case, the field naming
/// for error paths, and the names of the response, create, update, address, contact-request and
/// contact-response structs.
macro_rules! customer_dtos {
    ($case:tt, $naming:expr, $Customer:ident, $Create:ident, $Update:ident, $Address:ident, $ContactIn:ident, $ContactOut:ident) => {
        use abacus_core::customer as domain;
        use abacus_core::customer::Patch;

        /// A billing address. `country` is ISO 3166-1 alpha-2 (alpha-3 is accepted and normalised).
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = $case)]
        pub struct $Address {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub line1: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub line2: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub city: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub state: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub postal_code: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub country: Option<String>,
        }

        impl From<$Address> for domain::Address {
            fn from(a: $Address) -> Self {
                domain::Address {
                    line1: a.line1,
                    line2: a.line2,
                    city: a.city,
                    state: a.state,
                    postal_code: a.postal_code,
                    country: a.country,
                }
            }
        }

        impl From<domain::Address> for $Address {
            fn from(a: domain::Address) -> Self {
                $Address {
                    line1: a.line1,
                    line2: a.line2,
                    city: a.city,
                    state: a.state,
                    postal_code: a.postal_code,
                    country: a.country,
                }
            }
        }

        /// A contact as sent. On update, a contact sent with its `id` keeps it.
        #[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = $case)]
        pub struct $ContactIn {
            #[serde(default)]
            pub id: Option<String>,
            pub email: String,
            #[serde(default)]
            pub first_name: Option<String>,
            #[serde(default)]
            pub last_name: Option<String>,
            #[serde(default)]
            pub is_primary: Option<bool>,
            /// `updates` and/or `billing`.
            #[serde(default)]
            pub email_preferences: Option<Vec<String>>,
        }

        impl From<$ContactIn> for domain::ContactInput {
            fn from(c: $ContactIn) -> Self {
                domain::ContactInput {
                    id: c.id,
                    email: c.email,
                    first_name: c.first_name,
                    last_name: c.last_name,
                    is_primary: c.is_primary.unwrap_or(false),
                    email_preferences: c.email_preferences.unwrap_or_default(),
                }
            }
        }

        #[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = $case)]
        pub struct $ContactOut {
            pub id: String,
            pub email: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub first_name: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub last_name: Option<String>,
            pub is_primary: bool,
            pub email_preferences: Vec<String>,
        }

        /// A customer. Optional fields that were never set are left out.
        #[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = $case)]
        pub struct $Customer {
            /// 8-character base62 id.
            pub id: String,
            pub name: String,
            pub aliases: Vec<String>,
            /// ISO 4217 code.
            pub currency: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub billing_address: Option<$Address>,
            pub contacts: Vec<$ContactOut>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tax_country: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tax_id: Option<String>,
            /// Decimal fraction: `"0.20"` is 20 %.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tax_rate: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tax_reason: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tax_status: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tax_type: Option<String>,
            /// RFC 3339, UTC, microseconds.
            pub created_at: String,
            pub updated_at: String,
        }

        impl From<domain::Customer> for $Customer {
            fn from(c: domain::Customer) -> Self {
                $Customer {
                    id: c.id,
                    name: c.name,
                    aliases: c.aliases,
                    currency: c.currency,
                    billing_address: c.billing_address.map(Into::into),
                    contacts: c
                        .contacts
                        .into_iter()
                        .map(|k| $ContactOut {
                            id: k.id,
                            email: k.email,
                            first_name: k.first_name,
                            last_name: k.last_name,
                            is_primary: k.is_primary,
                            email_preferences: k
                                .email_preferences
                                .iter()
                                .map(|p| p.as_str().to_string())
                                .collect(),
                        })
                        .collect(),
                    tax_country: c.tax.tax_country,
                    tax_id: c.tax.tax_id,
                    tax_rate: c.tax.tax_rate.map(|r| r.to_string()),
                    tax_reason: c.tax.tax_reason,
                    tax_status: c.tax.tax_status,
                    tax_type: c.tax.tax_type,
                    created_at: crate::wire::timestamp(c.created_at),
                    updated_at: crate::wire::timestamp(c.updated_at),
                }
            }
        }

        /// A new customer. `name` and `currency` are required.
        #[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = $case)]
        pub struct $Create {
            pub name: String,
            pub currency: String,
            #[serde(default)]
            pub aliases: Option<Vec<String>>,
            #[serde(default)]
            pub billing_address: Option<$Address>,
            #[serde(default)]
            pub contacts: Option<Vec<$ContactIn>>,
            #[serde(default)]
            pub tax_country: Option<String>,
            #[serde(default)]
            pub tax_id: Option<String>,
            #[serde(default)]
            pub tax_rate: Option<String>,
            #[serde(default)]
            pub tax_reason: Option<String>,
            #[serde(default)]
            pub tax_status: Option<String>,
            #[serde(default)]
            pub tax_type: Option<String>,
        }

        impl From<$Create> for domain::CustomerInput {
            fn from(c: $Create) -> Self {
                domain::CustomerInput {
                    name: c.name,
                    currency: c.currency,
                    aliases: c.aliases.unwrap_or_default(),
                    billing_address: c.billing_address.map(Into::into),
                    contacts: c
                        .contacts
                        .unwrap_or_default()
                        .into_iter()
                        .map(Into::into)
                        .collect(),
                    tax: domain::TaxInput {
                        tax_country: c.tax_country,
                        tax_id: c.tax_id,
                        tax_rate: c.tax_rate,
                        tax_reason: c.tax_reason,
                        tax_status: c.tax_status,
                        tax_type: c.tax_type,
                    },
                }
            }
        }

        /// A partial update: fields left out keep their value, `null` clears an optional field,
        /// and `aliases` / `contacts` replace the whole list.
        #[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = $case)]
        pub struct $Update {
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub name: Patch<String>,
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub currency: Patch<String>,
            #[serde(default)]
            #[schema(value_type = Option<Vec<String>>)]
            pub aliases: Patch<Vec<String>>,
            #[serde(default)]
            #[schema(value_type = Option<$Address>)]
            pub billing_address: Patch<$Address>,
            #[serde(default)]
            #[schema(value_type = Option<Vec<$ContactIn>>)]
            pub contacts: Patch<Vec<$ContactIn>>,
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub tax_country: Patch<String>,
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub tax_id: Patch<String>,
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub tax_rate: Patch<String>,
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub tax_reason: Patch<String>,
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub tax_status: Patch<String>,
            #[serde(default)]
            #[schema(value_type = Option<String>)]
            pub tax_type: Patch<String>,
        }

        impl $Update {
            pub fn into_patch(self) -> crate::problem::ApiResult<domain::CustomerPatch> {
                let naming: abacus_core::validation::Naming = $naming;
                let required = |field: &str, p: Patch<String>| match p {
                    Patch::Absent => Ok(None),
                    Patch::Value(v) => Ok(Some(v)),
                    Patch::Null => Err(crate::problem::ApiError::invalid_field(
                        &naming.field(field),
                        "must not be null",
                    )),
                };
                Ok(domain::CustomerPatch {
                    name: required("name", self.name)?,
                    currency: required("currency", self.currency)?,
                    aliases: crate::api::customer_dto::list_patch(self.aliases),
                    billing_address: match self.billing_address {
                        Patch::Absent => Patch::Absent,
                        Patch::Null => Patch::Null,
                        Patch::Value(a) => Patch::Value(a.into()),
                    },
                    contacts: crate::api::customer_dto::list_patch(self.contacts)
                        .map(|cs| cs.into_iter().map(Into::into).collect()),
                    tax_country: self.tax_country,
                    tax_id: self.tax_id,
                    tax_rate: self.tax_rate,
                    tax_reason: self.tax_reason,
                    tax_status: self.tax_status,
                    tax_type: self.tax_type,
                })
            }
        }
    };
}

pub(crate) use customer_dtos;

/// A list field of a PATCH: left out keeps the list, `null` empties it, a value replaces it.
pub fn list_patch<T>(p: abacus_core::customer::Patch<Vec<T>>) -> Option<Vec<T>> {
    use abacus_core::customer::Patch;
    match p {
        Patch::Absent => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(v) => Some(v),
    }
}
