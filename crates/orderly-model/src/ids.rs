//! Identifier rules shared by the contract, the floorplan and the seed.

/// Why a device id is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    #[error("id is empty")]
    Empty,
    #[error("id is {0} characters long; at most 64 are allowed")]
    TooLong(usize),
    #[error("id has the character {0:?}; only A-Z a-z 0-9 _ . - are allowed")]
    BadChar(char),
}

/// Checks a device or entity id: 1-64 characters of `A-Za-z0-9_.-` (device contract).
pub fn valid_device_id(id: &str) -> Result<(), DeviceIdError> {
    // Every sighting's tag comes through here: a valid id is one pass over its bytes (a byte
    // of a multi-byte character is no allowed character).
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| allowed(b as char)) {
        return Ok(());
    }
    if id.is_empty() {
        return Err(DeviceIdError::Empty);
    }
    let n = id.chars().count();
    if n > 64 {
        return Err(DeviceIdError::TooLong(n));
    }
    match id.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(DeviceIdError::BadChar(c)),
        None => Ok(()),
    }
}

/// A character a device id may hold.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_contract() {
        for ok in ["rx-3w-12", "T-00042", "a", "A.b_c-9"] {
            assert_eq!(valid_device_id(ok), Ok(()), "{ok}");
        }
        assert_eq!(valid_device_id(""), Err(DeviceIdError::Empty));
        assert_eq!(valid_device_id("a/b"), Err(DeviceIdError::BadChar('/')));
        assert_eq!(valid_device_id("+"), Err(DeviceIdError::BadChar('+')));
        assert!(matches!(
            valid_device_id(&"x".repeat(65)),
            Err(DeviceIdError::TooLong(65))
        ));
    }
}
