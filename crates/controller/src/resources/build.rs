//! How each kind's item is made from its `New` value and changed by its `Patch`: every check
//! that needs nothing but the item itself. Rules between items (where an item may live,
//! unique names, members, cascades) belong to the store; fields other items decide (a
//! scope's type, whether an auth method is primary) are left for the store to fill.

use chrono::{DateTime, Utc};

use super::input::{
    AccountPatch, AuthMethodPatch, GroupPatch, HostCatalogPatch, HostPatch, HostSetPatch,
    NamePatch, NewAccount, NewAuthMethod, NewGroup, NewHost, NewHostCatalog, NewHostSet, NewRole,
    NewScope, NewTarget, NewUser, NewWorker, RolePatch, ScopePatch, TargetPatch, UserPatch,
    WorkerPatch,
};
use postern_api::ConnectionLimit;

use super::kind::Kind;
use super::roles::GRANT_SCOPE_THIS;
use super::{validate, ResourceError};
use super::{
    Account, AccountAttributes, AuthMethod, Group, Host, HostAttributes, HostCatalog, HostSet,
    Role, Scope, Target, TargetAttributes, User, Worker, DEFAULT_SESSION_MAX_SECONDS,
};

/// What a new item of any kind starts with.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub id: String,
    pub now: DateTime<Utc>,
}

pub trait Build: Kind {
    /// The item `new` describes, at version 1.
    fn build(new: Self::New, stamp: Stamp) -> Result<Self, ResourceError>;
    /// Applies `patch` (the version check and the stamp are the store's).
    fn apply(&mut self, patch: Self::Patch) -> Result<(), ResourceError>;
}

/// Applies the patch of a kind whose only changeable fields are its name and description.
fn rename(
    name: &mut String,
    description: &mut String,
    patch: NamePatch,
) -> Result<(), ResourceError> {
    set(name, patch.name);
    set(description, patch.description);
    Ok(())
}

/// Applies an optional new value.
fn set(field: &mut String, value: Option<String>) {
    if let Some(value) = value {
        *field = value;
    }
}

impl Build for Scope {
    /// Its type (org, project) follows from the parent; the store sets it.
    fn build(new: NewScope, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(Scope {
            scope_id: new.scope_id,
            name: new.name,
            description: new.description,
            ..Scope::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: ScopePatch) -> Result<(), ResourceError> {
        rename(&mut self.name, &mut self.description, patch)
    }
}

impl Build for AuthMethod {
    fn build(new: NewAuthMethod, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(AuthMethod {
            scope_id: new.scope_id,
            name: new.name,
            description: new.description,
            kind: "password".into(),
            ..AuthMethod::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: AuthMethodPatch) -> Result<(), ResourceError> {
        rename(&mut self.name, &mut self.description, patch)
    }
}

impl Build for User {
    /// Whether the user is an admin is kept beside the item, not in it.
    fn build(new: NewUser, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(User {
            scope_id: new.scope_id,
            name: new.name,
            description: new.description,
            ..User::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: UserPatch) -> Result<(), ResourceError> {
        rename(&mut self.name, &mut self.description, patch)
    }
}

impl Build for Account {
    /// The password is checked here and kept beside the item (as a digest), not in it.
    fn build(new: NewAccount, stamp: Stamp) -> Result<Self, ResourceError> {
        let login_name = validate::login_name(&new.login_name)?;
        validate::password(&new.password)?;
        Ok(Account {
            auth_method_id: new.auth_method_id,
            name: new.name,
            description: new.description,
            kind: "password".into(),
            attributes: AccountAttributes { login_name },
            ..Account::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: AccountPatch) -> Result<(), ResourceError> {
        set(&mut self.name, patch.name);
        set(&mut self.description, patch.description);
        if let Some(login_name) = patch.login_name {
            self.attributes.login_name = validate::login_name(&login_name)?;
        }
        Ok(())
    }
}

impl Build for HostCatalog {
    fn build(new: NewHostCatalog, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(HostCatalog {
            scope_id: new.scope_id,
            name: new.name,
            description: new.description,
            kind: "static".into(),
            ..HostCatalog::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: HostCatalogPatch) -> Result<(), ResourceError> {
        rename(&mut self.name, &mut self.description, patch)
    }
}

impl Build for HostSet {
    fn build(new: NewHostSet, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(HostSet {
            host_catalog_id: new.host_catalog_id,
            name: new.name,
            description: new.description,
            kind: "static".into(),
            ..HostSet::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: HostSetPatch) -> Result<(), ResourceError> {
        rename(&mut self.name, &mut self.description, patch)
    }
}

impl Build for Host {
    fn build(new: NewHost, stamp: Stamp) -> Result<Self, ResourceError> {
        let address = validate::address("attributes.address", &new.address)?;
        Ok(Host {
            host_catalog_id: new.host_catalog_id,
            name: new.name,
            description: new.description,
            kind: "static".into(),
            attributes: HostAttributes { address },
            ..Host::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: HostPatch) -> Result<(), ResourceError> {
        set(&mut self.name, patch.name);
        set(&mut self.description, patch.description);
        if let Some(address) = patch.address {
            self.attributes.address = validate::address("attributes.address", &address)?;
        }
        Ok(())
    }
}

impl Build for Target {
    fn build(new: NewTarget, stamp: Stamp) -> Result<Self, ResourceError> {
        let attributes = TargetAttributes {
            default_port: validate::default_port(new.default_port)?,
            default_client_port: validate::default_client_port(
                new.default_client_port.unwrap_or(0),
            )?,
        };
        let address = match new.address.as_deref() {
            None | Some("") => None,
            Some(address) => Some(validate::address("address", address)?),
        };
        let max_seconds = new
            .session_max_seconds
            .unwrap_or(DEFAULT_SESSION_MAX_SECONDS);
        let limit = match new.session_connection_limit {
            None => ConnectionLimit::default(),
            Some(limit) => validate::session_connection_limit(limit)?,
        };
        let target = Target {
            scope_id: new.scope_id,
            name: new.name,
            description: new.description,
            kind: "tcp".into(),
            attributes,
            address,
            session_max_seconds: validate::session_max_seconds(max_seconds)?,
            session_connection_limit: limit,
            egress_worker_filter: worker_filter(new.egress_worker_filter.unwrap_or_default())?,
            ..Target::stamped(stamp.id, stamp.now)
        };
        check_target(&target)?;
        Ok(target)
    }

    fn apply(&mut self, patch: TargetPatch) -> Result<(), ResourceError> {
        set(&mut self.name, patch.name);
        set(&mut self.description, patch.description);
        if let Some(port) = patch.default_port {
            self.attributes.default_port = validate::default_port(Some(port))?;
        }
        if let Some(port) = patch.default_client_port {
            self.attributes.default_client_port = validate::default_client_port(port)?;
        }
        if let Some(address) = patch.address {
            self.address = match address.as_str() {
                "" => None,
                address => Some(validate::address("address", address)?),
            };
        }
        if let Some(seconds) = patch.session_max_seconds {
            self.session_max_seconds = validate::session_max_seconds(seconds)?;
        }
        if let Some(limit) = patch.session_connection_limit {
            self.session_connection_limit = validate::session_connection_limit(limit)?;
        }
        if let Some(filter) = patch.egress_worker_filter {
            self.egress_worker_filter = worker_filter(filter)?;
        }
        check_target(self)
    }
}

/// A target's egress worker filter, checked to parse (its position named when it does not).
fn worker_filter(filter: String) -> Result<String, ResourceError> {
    let filter = filter.trim().to_owned();
    if !filter.is_empty() {
        crate::filter::Filter::parse(&filter)
            .map_err(|e| ResourceError::invalid("egress_worker_filter", e.to_string()))?;
    }
    Ok(filter)
}

/// A target has a name, and either an address or host sources.
fn check_target(target: &Target) -> Result<(), ResourceError> {
    if target.name.is_empty() {
        return Err(ResourceError::invalid("name", "a target needs a name"));
    }
    if target.address.is_some() && !target.host_source_ids.is_empty() {
        return Err(ResourceError::invalid(
            "address",
            "a target with host sources cannot also have an address",
        ));
    }
    Ok(())
}

impl Build for Group {
    fn build(new: NewGroup, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(Group {
            scope_id: new.scope_id,
            name: new.name,
            description: new.description,
            ..Group::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: GroupPatch) -> Result<(), ResourceError> {
        rename(&mut self.name, &mut self.description, patch)
    }
}

impl Build for Worker {
    fn build(new: NewWorker, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(Worker {
            scope_id: new.scope_id,
            kind: WORKER_TYPE.to_owned(),
            name: new.name,
            description: new.description,
            ..Worker::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: WorkerPatch) -> Result<(), ResourceError> {
        let WorkerPatch {
            name,
            description,
            certificate,
        } = patch;
        rename(
            &mut self.name,
            &mut self.description,
            NamePatch { name, description },
        )?;
        if let Some(change) = certificate {
            // Plain comparison: these are hashes of public certificates, not secrets.
            if self.certificate_sha256 != change.from {
                let message = if change.from.is_empty() {
                    format!("worker {} is already activated", self.id)
                } else {
                    format!("worker {} holds another certificate", self.id)
                };
                return Err(ResourceError::Conflict(message));
            }
            self.certificate_sha256 = change.to;
        }
        Ok(())
    }
}

/// The `type` of every worker: authenticated by a controller-signed certificate.
pub const WORKER_TYPE: &str = "pki";

impl Build for Role {
    /// A new role's grants apply to its own scope, as Boundary's do.
    fn build(new: NewRole, stamp: Stamp) -> Result<Self, ResourceError> {
        Ok(Role {
            scope_id: new.scope_id,
            name: new.name,
            description: new.description,
            grant_scope_ids: vec![GRANT_SCOPE_THIS.to_owned()],
            ..Role::stamped(stamp.id, stamp.now)
        })
    }

    fn apply(&mut self, patch: RolePatch) -> Result<(), ResourceError> {
        rename(&mut self.name, &mut self.description, patch)
    }
}
