//! [`TenantName`]: a validated tenant name, safe as a directory name and a
//! metric label.

use std::fmt;

/// Longest tenant name, in bytes.
pub const MAX_TENANT_NAME_BYTES: usize = 64;

/// A tenant name: 1 to [`MAX_TENANT_NAME_BYTES`] characters, each a
/// lowercase ASCII letter, a digit, `_` or `-`. Such a name is a directory
/// name on every file system (no separator, never `.` or `..`) and needs
/// no escaping in a URL path or a Prometheus label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantName(String);

/// Why a tenant name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant name {name:?}: {reason}")]
pub struct InvalidTenantName {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TenantName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<TenantName, InvalidTenantName> {
        let refuse = |reason| {
            Err(InvalidTenantName {
                name: name.chars().take(80).collect(),
                reason,
            })
        };
        if name.is_empty() {
            return refuse("empty");
        }
        if name.len() > MAX_TENANT_NAME_BYTES {
            return refuse("longer than 64 characters");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return refuse("only a-z, 0-9, `_` and `-` are allowed");
        }
        Ok(TenantName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_letters_digits_underscores_and_dashes() {
        for ok in ["a", "tenant-1", "x_y", &"z".repeat(64)] {
            assert_eq!(
                TenantName::parse(ok).map(|n| n.to_string()),
                Ok(ok.to_string())
            );
        }
        for bad in [
            "",
            "A",
            "a/b",
            "..",
            ".",
            "a b",
            "é",
            &"z".repeat(65),
            "_bulk\n",
        ] {
            assert!(TenantName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
