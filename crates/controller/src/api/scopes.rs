//! `/v1/scopes`: any authenticated user may list and read scopes; only admins change them.

use postern_api::bodies::{NameUpdate, ScopedCreate};

use super::body::required;
use super::error::ApiError;
use super::resources::Resource;
use crate::resources::{NewScope, Scope, ScopePatch};

impl Resource for Scope {
    /// `scope_id` is the parent: global for an org, an org for a project.
    type Create = ScopedCreate;
    type Update = NameUpdate;

    fn new_from(body: ScopedCreate) -> Result<NewScope, ApiError> {
        Ok(NewScope {
            scope_id: required(body.scope_id, "scope_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
        })
    }

    fn patch_from(body: NameUpdate) -> ScopePatch {
        body.into()
    }
}
