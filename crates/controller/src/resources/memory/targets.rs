//! Tcp targets (in a project) and the session plan authorize-session builds from one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;

use super::super::ids::TARGET_PREFIX;
use super::super::input::{NewTarget, TargetPatch};
use super::super::model::{
    Host, SessionPlan, Target, TargetAttributes, DEFAULT_SESSION_CONNECTION_LIMIT,
    DEFAULT_SESSION_MAX_SECONDS,
};
use super::super::{validate, ResourceError};
use super::state::{
    check_version, dedup, membership, patch, unique_name, Change, State, Versioned,
};

impl State {
    fn existing_target(&self, id: &str) -> Result<&Target, ResourceError> {
        self.targets
            .get(id)
            .ok_or_else(|| ResourceError::not_found("target", id))
    }

    pub fn target(&self, id: &str) -> Result<Target, ResourceError> {
        let mut view = self.existing_target(id)?.clone();
        view.scope = self.scope_info(&view.scope_id);
        Ok(view)
    }

    pub fn list_targets(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<Target>, ResourceError> {
        let tree = self.scope_tree(scope_id, recursive)?;
        let targets = self.targets.values().filter(|t| tree.contains(&t.scope_id));
        targets.map(|t| self.target(&t.id)).collect()
    }

    /// Everything about a target that does not depend on other items.
    fn check_target(&self, target: &Target) -> Result<(), ResourceError> {
        if target.name.is_empty() {
            return Err(ResourceError::invalid("name", "a target needs a name"));
        }
        let others = self
            .targets
            .values()
            .filter(|t| t.scope_id == target.scope_id && t.id != target.id);
        unique_name(
            "target",
            &target.name,
            &target.scope_id,
            others.map(|t| t.name.as_str()),
        )?;
        if target.address.is_some() && !target.host_source_ids.is_empty() {
            return Err(ResourceError::invalid(
                "address",
                "a target with host sources cannot also have an address",
            ));
        }
        Ok(())
    }

    pub fn create_target(
        &mut self,
        id: Option<&str>,
        new: NewTarget,
        now: DateTime<Utc>,
    ) -> Result<Target, ResourceError> {
        self.project_scope(&new.scope_id, "target")?;
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
        let limit = new
            .session_connection_limit
            .unwrap_or(DEFAULT_SESSION_CONNECTION_LIMIT);
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.targets, TARGET_PREFIX)?,
        };
        let target = Target {
            id: id.clone(),
            scope_id: new.scope_id,
            scope: Default::default(),
            name: new.name,
            description: new.description,
            kind: "tcp".into(),
            attributes,
            address,
            host_source_ids: Vec::new(),
            session_max_seconds: validate::session_max_seconds(max_seconds)?,
            session_connection_limit: validate::session_connection_limit(limit)?,
            created_time: now,
            updated_time: now,
            version: 1,
            authorized_actions: Vec::new(),
        };
        self.check_target(&target)?;
        self.targets.insert(id.clone(), target);
        self.target(&id)
    }

    pub fn update_target(
        &mut self,
        id: &str,
        version: u32,
        changes: TargetPatch,
        now: DateTime<Utc>,
    ) -> Result<Target, ResourceError> {
        let mut target = self.existing_target(id)?.clone();
        check_version(&target, version)?;
        patch(&mut target.name, changes.name);
        patch(&mut target.description, changes.description);
        if let Some(port) = changes.default_port {
            target.attributes.default_port = validate::default_port(Some(port))?;
        }
        if let Some(port) = changes.default_client_port {
            target.attributes.default_client_port = validate::default_client_port(port)?;
        }
        if let Some(address) = changes.address {
            target.address = match address.as_str() {
                "" => None,
                address => Some(validate::address("address", address)?),
            };
        }
        if let Some(seconds) = changes.session_max_seconds {
            target.session_max_seconds = validate::session_max_seconds(seconds)?;
        }
        if let Some(limit) = changes.session_connection_limit {
            target.session_connection_limit = validate::session_connection_limit(limit)?;
        }
        self.check_target(&target)?;
        target.touch(now);
        self.targets.insert(id.to_owned(), target);
        self.target(id)
    }

    pub fn delete_target(&mut self, id: &str) -> Result<(), ResourceError> {
        self.existing_target(id)?;
        self.targets.remove(id);
        Ok(())
    }

    /// Host sources must exist and be in the target's project.
    pub fn change_target_host_sources(
        &mut self,
        id: &str,
        version: u32,
        host_source_ids: &[String],
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<Target, ResourceError> {
        const FIELD: &str = "host_source_ids";
        let mut target = self.existing_target(id)?.clone();
        check_version(&target, version)?;
        let requested = dedup(host_source_ids);
        if change != Change::Remove {
            if target.address.is_some() && !requested.is_empty() {
                return Err(ResourceError::invalid(
                    FIELD,
                    "a target with an address cannot also have host sources",
                ));
            }
            for set_id in &requested {
                let Ok(set) = self.host_set(set_id) else {
                    return Err(ResourceError::invalid(
                        FIELD,
                        format!("host set {set_id} not found"),
                    ));
                };
                if set.scope.id != target.scope_id {
                    return Err(ResourceError::invalid(
                        FIELD,
                        format!(
                            "host set {set_id} is in scope {}, the target in {}",
                            set.scope.id, target.scope_id
                        ),
                    ));
                }
            }
        }
        target.host_source_ids = membership(&target.host_source_ids, requested, change, FIELD)?;
        target.touch(now);
        self.targets.insert(id.to_owned(), target);
        self.target(id)
    }

    pub fn plan_session(
        &self,
        target_id: &str,
        host_id: Option<&str>,
    ) -> Result<SessionPlan, ResourceError> {
        let target = self.existing_target(target_id)?;
        let port = target.attributes.default_port;
        let (host_id, host_set_id, address) = match (&target.address, host_id) {
            (Some(_), Some(host_id)) => {
                let message = format!("target {target_id} has an address, not host {host_id}");
                return Err(ResourceError::invalid("host_id", message));
            }
            (Some(address), None) => (String::new(), String::new(), address.clone()),
            (None, wanted) => {
                let (host, set_id) = self.pick_host(target, wanted)?;
                (
                    host.id.clone(),
                    set_id.to_owned(),
                    host.attributes.address.clone(),
                )
            }
        };
        Ok(SessionPlan {
            target_id: target.id.clone(),
            scope: self.scope_info(&target.scope_id),
            host_id,
            host_set_id,
            endpoint: validate::endpoint(&address, port),
            endpoint_port: port,
            connection_limit: target.session_connection_limit,
            max_duration: Duration::from_secs(u64::from(target.session_max_seconds)),
            default_client_port: target.attributes.default_client_port,
        })
    }

    /// (host, host set id): the wanted host in the first of the target's sets that holds it,
    /// or a random host of all its sets.
    fn pick_host<'a>(
        &'a self,
        target: &Target,
        wanted: Option<&str>,
    ) -> Result<(&'a Host, &'a str), ResourceError> {
        let candidates: Vec<(&Host, &str)> = target
            .host_source_ids
            .iter()
            .filter_map(|set_id| self.host_sets.get(set_id))
            .flat_map(|set| {
                let hosts = set.host_ids.iter().filter_map(|host| self.hosts.get(host));
                hosts.map(move |host| (host, set.id.as_str()))
            })
            .collect();
        match wanted {
            Some(wanted) => candidates
                .into_iter()
                .find(|(host, _)| host.id == wanted)
                .ok_or_else(|| {
                    ResourceError::invalid(
                        "host_id",
                        format!(
                            "host {wanted} is not in any host set of target {}",
                            target.id
                        ),
                    )
                }),
            None => candidates
                .choose(&mut rand::thread_rng())
                .copied()
                .ok_or_else(|| {
                    ResourceError::invalid(
                        "host_source_ids",
                        format!(
                            "target {} has no address and no hosts in its host sources",
                            target.id
                        ),
                    )
                }),
        }
    }
}
