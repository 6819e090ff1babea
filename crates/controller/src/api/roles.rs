//! `/v1/roles` and `/v1/groups`: who holds which grants. Roles live in global, an org or a
//! project and hold principals (`:add-principals`, body `{"version", "principal_ids"}`),
//! grants (`:add-grants`, `grant_strings`) and grant scopes (`:add-grant-scopes`,
//! `grant_scope_ids`); groups hold users (`:add-members`, `member_ids`). The store checks
//! each list (`resources::roles`); a change takes effect on the next request.

use postern_api::bodies::{NameUpdate, ScopedCreate};

use super::body::required;
use super::error::ApiError;
use super::resources::Resource;
use crate::resources::{Group, GroupPatch, NewGroup, NewRole, Role, RolePatch};

impl Resource for Role {
    /// `scope_id`: global, an org or a project.
    type Create = ScopedCreate;
    type Update = NameUpdate;

    fn new_from(body: ScopedCreate) -> Result<NewRole, ApiError> {
        Ok(NewRole {
            scope_id: required(body.scope_id, "scope_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
        })
    }

    fn patch_from(body: NameUpdate) -> RolePatch {
        body.into()
    }
}

impl Resource for Group {
    /// `scope_id`: global, an org or a project.
    type Create = ScopedCreate;
    type Update = NameUpdate;

    fn new_from(body: ScopedCreate) -> Result<NewGroup, ApiError> {
        Ok(NewGroup {
            scope_id: required(body.scope_id, "scope_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
        })
    }

    fn patch_from(body: NameUpdate) -> GroupPatch {
        body.into()
    }
}
