//! Boundary's grants: the permission language of roles, and the decision it drives.
//!
//! Grant strings enter through [`Grant::parse`] (a new grant, fully validated as Boundary's
//! add-grants does) or [`Grant::parse_stored`] (a grant read back from the store); what leaves
//! is a [`Grant`] with its canonical text and role-JSON forms, or a [`GrantError`] that names
//! Boundary's reason and the position of the offending piece. A caller's roles (their scopes,
//! grant scopes and parsed grants) enter [`Acl::new`], which folds them into an index once;
//! [`Acl::allowed`] then answers "may this caller do this action on this resource" without
//! allocating. Facts and messages follow Boundary's `internal/perms` (grants.go, acl.go); the
//! controller owns everything around them: the store, grant-scope validation, HTTP.
#![forbid(unsafe_code)]

mod acl;
mod action;
mod error;
mod grant;
mod parse;
mod quote;
mod types;
mod unmarshal;

#[cfg(test)]
mod reference;

pub use acl::{Acl, Caller, Resource, RoleGrants};
pub use error::{GrantError, Stage};
pub use grant::Grant;
pub use types::{GrantScope, ResourceType};
