//! What read and list responses have in common: `authorized_actions` filled for the caller,
//! list `filter`s applied over `{"item": <item JSON>}`, and the list envelope.

use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::ApiError;
use crate::filter::Filter;
use crate::resources::{Kind, KindId, Parent, GLOBAL_SCOPE_ID};

/// The query of a list request. `scope_id` defaults to global; accounts, host sets and hosts
/// list under `auth_method_id` / `host_catalog_id` instead.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListParams {
    pub scope_id: Option<String>,
    #[serde(default)]
    pub recursive: bool,
    pub filter: Option<String>,
    pub auth_method_id: Option<String>,
    pub host_catalog_id: Option<String>,
}

impl ListParams {
    pub fn scope_id(&self) -> &str {
        self.scope_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(GLOBAL_SCOPE_ID)
    }

    /// The list's parent when it is an item (`auth_method_id`, `host_catalog_id`).
    pub fn parent(&self, parent: Parent) -> &Option<String> {
        match parent {
            Parent::Item(KindId::AuthMethod) => &self.auth_method_id,
            Parent::Item(KindId::HostCatalog) => &self.host_catalog_id,
            Parent::Scope | Parent::Item(_) => &self.scope_id,
        }
    }

    /// A parent id the list cannot do without (`auth_method_id`, `host_catalog_id`).
    pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
        value
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::missing(name))
    }

    pub fn filter(&self) -> Result<Option<Filter>, ApiError> {
        parse_filter(self.filter.as_deref())
    }
}

/// An empty or absent filter matches everything.
pub fn parse_filter(text: Option<&str>) -> Result<Option<Filter>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => Ok(Some(Filter::parse(text)?)),
    }
}

/// Whether `item` (already JSON) passes the filter, whose selectors name it `item`
/// (`/item/status`).
pub fn passes(filter: Option<&Filter>, item: &Value) -> bool {
    filter.is_none_or(|filter| filter.matches(item))
}

pub fn to_json<T: Serialize>(item: &T) -> Result<Value, ApiError> {
    serde_json::to_value(item)
        .map_err(|e| ApiError::Internal(format!("cannot serialise the response: {e}")))
}

/// A whole list in one page: `{"items": [...], "response_type": "complete", "est_item_count"}`
/// (Boundary's clients stop paging at `complete`). Items come with the caller's actions.
pub fn list<K: Kind>(
    items: impl Iterator<Item = K>,
    filter: Option<&Filter>,
) -> Result<Json<Value>, ApiError> {
    let mut kept = Vec::new();
    for item in items {
        let value = to_json(&item)?;
        if passes(filter, &value) {
            kept.push(value);
        }
    }
    Ok(Json(json!({
        "est_item_count": kept.len(),
        "items": kept,
        "response_type": "complete",
    })))
}
