//! A pragmatic e-mail address check: what billing needs is an address an invoice can be sent to,
//! so this accepts `local@domain.tld` shapes and rejects the usual typos, without trying to
//! implement all of RFC 5322.

pub fn is_valid_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::is_valid_email;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "sales@gojo.com",
            "a.b+tag@sub.example.co.uk",
            "x@y.io",
            "finance@müller.de",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@gojo.com",
            "sales@",
            "sales@gojo",
            "sales@@gojo.com",
            "a b@gojo.com",
            "sales@gojo..com",
            ".sales@gojo.com",
            "sales.@gojo.com",
            "sales@-gojo.com",
            "sales@gojo.com.",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
