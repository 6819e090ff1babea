//! How many connections a session admits: a positive number, or unlimited. On the wire
//! (targets' `session_connection_limit`, the authorization token's `connection_limit`) it is
//! Boundary's integer with -1 for unlimited; every other value below 1 is refused where it is
//! read, so no code past that point sees one.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i32")]
pub struct ConnectionLimit(Option<NonZeroU32>);

/// A connection limit of 0, below -1, or above `i32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is invalid: use -1 (unlimited) or a positive number")]
pub struct InvalidConnectionLimit(pub i64);

impl ConnectionLimit {
    pub const UNLIMITED: Self = Self(None);
    /// Boundary's wire value for unlimited.
    pub const UNLIMITED_WIRE: i32 = -1;

    /// From the wire value: -1 or a positive number.
    pub fn new(value: i64) -> Result<Self, InvalidConnectionLimit> {
        match value {
            -1 => Ok(Self::UNLIMITED),
            1.. if value <= i64::from(i32::MAX) => u32::try_from(value)
                .ok()
                .and_then(NonZeroU32::new)
                .map(|n| Self(Some(n)))
                .ok_or(InvalidConnectionLimit(value)),
            _ => Err(InvalidConnectionLimit(value)),
        }
    }

    /// At most `n` connections.
    pub fn at_most(n: NonZeroU32) -> Self {
        Self(Some(n))
    }

    /// The maximum, or `None` when unlimited.
    pub fn max(self) -> Option<u32> {
        self.0.map(NonZeroU32::get)
    }

    /// The wire value: the maximum, or -1.
    pub fn wire(self) -> i32 {
        self.max().map_or(Self::UNLIMITED_WIRE, |n| {
            i32::try_from(n).unwrap_or(i32::MAX)
        })
    }

    /// Whether `authorized` connections leave no room for another.
    pub fn reached(self, authorized: usize) -> bool {
        self.max()
            .is_some_and(|max| authorized >= usize::try_from(max).unwrap_or(usize::MAX))
    }

    /// Connections left after `authorized`, or -1 when unlimited (the wire's
    /// `connections_left`).
    pub fn left(self, authorized: usize) -> i32 {
        match self.max() {
            None => Self::UNLIMITED_WIRE,
            Some(max) => {
                let authorized = u32::try_from(authorized).unwrap_or(u32::MAX);
                i32::try_from(max.saturating_sub(authorized)).unwrap_or(i32::MAX)
            }
        }
    }
}

impl Default for ConnectionLimit {
    /// A target's connections per session unless it says otherwise: unlimited.
    fn default() -> Self {
        Self::UNLIMITED
    }
}

impl TryFrom<i64> for ConnectionLimit {
    type Error = InvalidConnectionLimit;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<i32> for ConnectionLimit {
    type Error = InvalidConnectionLimit;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        Self::new(value.into())
    }
}

impl From<ConnectionLimit> for i32 {
    fn from(limit: ConnectionLimit) -> Self {
        limit.wire()
    }
}

impl fmt::Display for ConnectionLimit {
    /// The wire value, as Boundary's CLI prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.wire())
    }
}

impl FromStr for ConnectionLimit {
    type Err = String;

    /// A command-line value: -1 or a positive number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value: i64 = s.trim().parse().map_err(|_| {
            format!("{s:?} is not a number: use -1 (unlimited) or a positive number")
        })?;
        Self::new(value).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values() {
        assert_eq!(ConnectionLimit::new(-1), Ok(ConnectionLimit::UNLIMITED));
        assert_eq!(ConnectionLimit::new(3).unwrap().wire(), 3);
        assert_eq!(ConnectionLimit::UNLIMITED.wire(), -1);
        for bad in [0, -2, i64::from(i32::MAX) + 1, i64::MIN] {
            assert_eq!(ConnectionLimit::new(bad), Err(InvalidConnectionLimit(bad)));
        }
        assert_eq!(
            ConnectionLimit::new(i32::MAX.into()).unwrap().wire(),
            i32::MAX
        );
    }

    #[test]
    fn counts() {
        let two = ConnectionLimit::new(2).unwrap();
        assert_eq!((two.reached(1), two.left(1)), (false, 1));
        assert_eq!((two.reached(2), two.left(2)), (true, 0));
        assert_eq!((two.reached(5), two.left(5)), (true, 0));
        let unlimited = ConnectionLimit::UNLIMITED;
        assert_eq!(
            (unlimited.reached(usize::MAX), unlimited.left(7)),
            (false, -1)
        );
    }

    #[test]
    fn json_and_text() {
        let limit: ConnectionLimit = serde_json::from_str("5").unwrap();
        assert_eq!(serde_json::to_string(&limit).unwrap(), "5");
        assert_eq!(
            serde_json::to_string(&ConnectionLimit::UNLIMITED).unwrap(),
            "-1"
        );
        let err = serde_json::from_str::<ConnectionLimit>("0").unwrap_err();
        assert!(err.to_string().contains("use -1 (unlimited)"), "{err}");
        assert!(serde_json::from_str::<ConnectionLimit>("\"3\"").is_err());
        assert_eq!("-1".parse(), Ok(ConnectionLimit::UNLIMITED));
        assert_eq!("4".parse::<ConnectionLimit>().unwrap().to_string(), "4");
        assert!("x"
            .parse::<ConnectionLimit>()
            .unwrap_err()
            .contains("not a number"));
        assert!("0"
            .parse::<ConnectionLimit>()
            .unwrap_err()
            .contains("use -1"));
    }
}
