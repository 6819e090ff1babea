//! `/v1/scopes`: any authenticated user may list and read scopes; only admins change them.

use super::body::Fields;
use super::error::ApiError;
use super::resources::Resource;
use crate::resources::{NewScope, Scope, ScopePatch};

impl Resource for Scope {
    /// Body: `scope_id` (the parent: global for an org, an org for a project), `name`,
    /// `description`.
    fn new_from(fields: &Fields<'_>) -> Result<NewScope, ApiError> {
        Ok(NewScope {
            scope_id: fields.str("scope_id")?,
            name: fields.opt_str("name")?.unwrap_or_default(),
            description: fields.opt_str("description")?.unwrap_or_default(),
        })
    }

    fn patch_from(fields: &Fields<'_>) -> Result<ScopePatch, ApiError> {
        fields.name_patch()
    }
}
