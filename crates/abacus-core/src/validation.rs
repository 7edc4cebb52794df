//! Field-level validation errors, collected so a request reports every problem at once.

use std::fmt;

/// One invalid field: `field` is a path in the caller's naming (`contacts[1].email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// An accumulator of field errors. Field paths are written with a [`Naming`] so the same rule
/// reports `billingAddress.country` on the v1 surface and `billing_address.country` on v2.
#[derive(Debug, Default)]
pub struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many errors were collected so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// How the caller spells field names: the v1 surface is camelCase, v2 snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Camel,
    Snake,
}

impl Naming {
    /// Spells a snake_case field name in this naming.
    pub fn field(self, snake: &str) -> String {
        match self {
            Naming::Snake => snake.to_string(),
            Naming::Camel => {
                let mut out = String::with_capacity(snake.len());
                let mut upper = false;
                for c in snake.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.extend(c.to_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_spelling() {
        assert_eq!(Naming::Camel.field("billing_address"), "billingAddress");
        assert_eq!(Naming::Camel.field("email_preferences"), "emailPreferences");
        assert_eq!(Naming::Camel.field("name"), "name");
        assert_eq!(Naming::Snake.field("postal_code"), "postal_code");
    }

    #[test]
    fn collects_every_error() {
        let mut v = Validation::new();
        assert!(v.is_empty());
        v.push("name", "must not be empty");
        v.push("currency", "unknown");
        let errs = v.into_result().unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[1].to_string(), "currency: unknown");
    }
}
