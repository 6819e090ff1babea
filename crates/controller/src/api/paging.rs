//! Paging of list responses (sessions): `page_size` and an opaque `list_token`.
//!
//! A list is ordered newest first. A page holds up to `page_size` items; its `list_token`
//! names the last item returned (its creation time and id), and the next request resumes just
//! after it (or, when that item is gone, at the first item created before it). The token is `base64url("v1:<created nanos>:<id>")`, or `base64url("v1:")` for
//! an empty first page; anything else is refused with 400.
//!
//! `response_type` is `"delta"` when more items follow the page and `"complete"` on the last
//! page. (Boundary's own "delta" also covers changes since a previous complete listing; here
//! a resumed listing only walks on through older items, so "delta" simply means "not done".)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::error::{ApiError, FieldError};

/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
const VERSION: &str = "v1";

/// Where a listing resumes: after the item created at `created` with id `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListToken {
    position: Option<(SystemTime, String)>,
}

impl ListToken {
    /// A token resuming after `position` (the start, for `None`).
    pub fn at(position: Option<(SystemTime, String)>) -> Self {
        Self { position }
    }

    /// The item the listing resumes after.
    pub fn position(&self) -> Option<&(SystemTime, String)> {
        self.position.as_ref()
    }

    pub fn encode(&self) -> String {
        let text = match &self.position {
            Some((created, id)) => {
                let nanos = created
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                format!("{VERSION}:{nanos}:{id}")
            }
            None => format!("{VERSION}:"),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    pub fn decode(token: &str) -> Result<Self, ApiError> {
        let malformed = || {
            ApiError::field(FieldError::new(
                "list_token",
                "Malformed list token: pass back the list_token of a previous response unchanged.",
            ))
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| malformed())?;
        let text = String::from_utf8(bytes).map_err(|_| malformed())?;
        let rest = text
            .strip_prefix(VERSION)
            .and_then(|rest| rest.strip_prefix(':'))
            .ok_or_else(malformed)?;
        if rest.is_empty() {
            return Ok(Self { position: None });
        }
        let (nanos, id) = rest.split_once(':').ok_or_else(malformed)?;
        let nanos: u64 = nanos.parse().map_err(|_| malformed())?;
        if id.is_empty() {
            return Err(malformed());
        }
        Ok(Self {
            position: Some((UNIX_EPOCH + Duration::from_nanos(nanos), id.to_owned())),
        })
    }
}

/// `page_size` checked: `None` = everything in one page.
pub fn page_size(requested: Option<usize>) -> Result<Option<usize>, ApiError> {
    match requested {
        Some(n) if n == 0 || n > MAX_PAGE_SIZE => Err(ApiError::field(FieldError::new(
            "page_size",
            format!("Must be from 1 to {MAX_PAGE_SIZE}."),
        ))),
        other => Ok(other),
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// No items follow this page.
    pub complete: bool,
    pub list_token: String,
    /// Items in the whole (filtered) list, not only those left.
    pub est_item_count: usize,
}

impl<T> Page<T> {
    pub fn response_type(&self) -> &'static str {
        if self.complete {
            "complete"
        } else {
            "delta"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "",
            "!!!",
            "djI6",
            "djE6eDpz",
            "djE6MTI6",
            &URL_SAFE_NO_PAD.encode("v1:1"),
        ] {
            assert!(ListToken::decode(token).is_err(), "{token:?}");
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(MAX_PAGE_SIZE + 1)).is_err());
        assert_eq!(page_size(Some(1)).unwrap(), Some(1));
        assert_eq!(page_size(None).unwrap(), None);
    }

    proptest! {
        #[test]
        fn tokens_round_trip(nanos in 0u64..u64::MAX, id in "[a-z]{1,3}_[A-Za-z0-9:]{0,12}") {
            let token = ListToken { position: Some((UNIX_EPOCH + Duration::from_nanos(nanos), id)) };
            prop_assert_eq!(ListToken::decode(&token.encode()).unwrap(), token);
        }

        #[test]
        fn decoding_never_panics(text in ".{0,64}") {
            let _ = ListToken::decode(&text);
        }
    }
}
