//! Static host catalogs (in a project), and the hosts and host sets in each catalog.

use chrono::{DateTime, Utc};

use super::super::ids::{HOST_CATALOG_PREFIX, HOST_PREFIX, HOST_SET_PREFIX};
use super::super::input::{
    HostCatalogPatch, HostPatch, HostSetPatch, NewHost, NewHostCatalog, NewHostSet,
};
use super::super::model::{Host, HostAttributes, HostCatalog, HostSet};
use super::super::{validate, ResourceError};
use super::state::{
    check_version, dedup, membership, patch, unique_name, Change, State, Versioned,
};

impl State {
    // Host catalogs.

    fn existing_host_catalog(&self, id: &str) -> Result<&HostCatalog, ResourceError> {
        self.host_catalogs
            .get(id)
            .ok_or_else(|| ResourceError::not_found("host catalog", id))
    }

    pub fn host_catalog(&self, id: &str) -> Result<HostCatalog, ResourceError> {
        let mut view = self.existing_host_catalog(id)?.clone();
        view.scope = self.scope_info(&view.scope_id);
        Ok(view)
    }

    pub fn list_host_catalogs(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<HostCatalog>, ResourceError> {
        let tree = self.scope_tree(scope_id, recursive)?;
        let catalogs = self
            .host_catalogs
            .values()
            .filter(|c| tree.contains(&c.scope_id));
        catalogs.map(|c| self.host_catalog(&c.id)).collect()
    }

    fn unique_catalog_name(
        &self,
        scope_id: &str,
        id: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        let others = self
            .host_catalogs
            .values()
            .filter(|c| c.scope_id == scope_id && c.id != id);
        unique_name(
            "host catalog",
            name,
            scope_id,
            others.map(|c| c.name.as_str()),
        )
    }

    pub fn create_host_catalog(
        &mut self,
        id: Option<&str>,
        new: NewHostCatalog,
        now: DateTime<Utc>,
    ) -> Result<HostCatalog, ResourceError> {
        self.project_scope(&new.scope_id, "host catalog")?;
        self.unique_catalog_name(&new.scope_id, "", &new.name)?;
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.host_catalogs, HOST_CATALOG_PREFIX)?,
        };
        let catalog = HostCatalog {
            id: id.clone(),
            scope_id: new.scope_id,
            scope: Default::default(),
            name: new.name,
            description: new.description,
            kind: "static".into(),
            created_time: now,
            updated_time: now,
            version: 1,
            authorized_actions: Vec::new(),
        };
        self.host_catalogs.insert(id.clone(), catalog);
        self.host_catalog(&id)
    }

    pub fn update_host_catalog(
        &mut self,
        id: &str,
        version: u32,
        changes: HostCatalogPatch,
        now: DateTime<Utc>,
    ) -> Result<HostCatalog, ResourceError> {
        let mut catalog = self.existing_host_catalog(id)?.clone();
        check_version(&catalog, version)?;
        patch(&mut catalog.name, changes.name);
        patch(&mut catalog.description, changes.description);
        self.unique_catalog_name(&catalog.scope_id, id, &catalog.name)?;
        catalog.touch(now);
        self.host_catalogs.insert(id.to_owned(), catalog);
        self.host_catalog(id)
    }

    pub fn delete_host_catalog(&mut self, id: &str) -> Result<(), ResourceError> {
        self.existing_host_catalog(id)?;
        self.remove_host_catalog(id);
        Ok(())
    }

    // Host sets.

    fn existing_host_set(&self, id: &str) -> Result<&HostSet, ResourceError> {
        self.host_sets
            .get(id)
            .ok_or_else(|| ResourceError::not_found("host set", id))
    }

    pub fn host_set(&self, id: &str) -> Result<HostSet, ResourceError> {
        let mut view = self.existing_host_set(id)?.clone();
        view.scope = self.scope_info(&self.existing_host_catalog(&view.host_catalog_id)?.scope_id);
        Ok(view)
    }

    pub fn list_host_sets(&self, host_catalog_id: &str) -> Result<Vec<HostSet>, ResourceError> {
        self.existing_host_catalog(host_catalog_id)?;
        let sets = self
            .host_sets
            .values()
            .filter(|s| s.host_catalog_id == host_catalog_id);
        sets.map(|s| self.host_set(&s.id)).collect()
    }

    fn unique_set_name(&self, catalog_id: &str, id: &str, name: &str) -> Result<(), ResourceError> {
        let others = self
            .host_sets
            .values()
            .filter(|s| s.host_catalog_id == catalog_id && s.id != id);
        unique_name(
            "host set",
            name,
            catalog_id,
            others.map(|s| s.name.as_str()),
        )
    }

    pub fn create_host_set(
        &mut self,
        id: Option<&str>,
        new: NewHostSet,
        now: DateTime<Utc>,
    ) -> Result<HostSet, ResourceError> {
        self.existing_host_catalog(&new.host_catalog_id)?;
        self.unique_set_name(&new.host_catalog_id, "", &new.name)?;
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.host_sets, HOST_SET_PREFIX)?,
        };
        let set = HostSet {
            id: id.clone(),
            host_catalog_id: new.host_catalog_id,
            scope: Default::default(),
            name: new.name,
            description: new.description,
            kind: "static".into(),
            host_ids: Vec::new(),
            created_time: now,
            updated_time: now,
            version: 1,
            authorized_actions: Vec::new(),
        };
        self.host_sets.insert(id.clone(), set);
        self.host_set(&id)
    }

    pub fn update_host_set(
        &mut self,
        id: &str,
        version: u32,
        changes: HostSetPatch,
        now: DateTime<Utc>,
    ) -> Result<HostSet, ResourceError> {
        let mut set = self.existing_host_set(id)?.clone();
        check_version(&set, version)?;
        patch(&mut set.name, changes.name);
        patch(&mut set.description, changes.description);
        self.unique_set_name(&set.host_catalog_id, id, &set.name)?;
        set.touch(now);
        self.host_sets.insert(id.to_owned(), set);
        self.host_set(id)
    }

    pub fn delete_host_set(&mut self, id: &str) -> Result<(), ResourceError> {
        self.existing_host_set(id)?;
        self.remove_host_set(id);
        Ok(())
    }

    /// Hosts must exist and be in the set's catalog.
    pub fn change_host_set_hosts(
        &mut self,
        id: &str,
        version: u32,
        host_ids: &[String],
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<HostSet, ResourceError> {
        const FIELD: &str = "host_ids";
        let mut set = self.existing_host_set(id)?.clone();
        check_version(&set, version)?;
        let requested = dedup(host_ids);
        if change != Change::Remove {
            for host_id in &requested {
                let Some(host) = self.hosts.get(host_id) else {
                    return Err(ResourceError::invalid(
                        FIELD,
                        format!("host {host_id} not found"),
                    ));
                };
                if host.host_catalog_id != set.host_catalog_id {
                    return Err(ResourceError::invalid(
                        FIELD,
                        format!(
                            "host {host_id} is in host catalog {}, not {}",
                            host.host_catalog_id, set.host_catalog_id
                        ),
                    ));
                }
            }
        }
        set.host_ids = membership(&set.host_ids, requested, change, FIELD)?;
        set.touch(now);
        self.host_sets.insert(id.to_owned(), set);
        self.host_set(id)
    }

    // Hosts.

    fn existing_host(&self, id: &str) -> Result<&Host, ResourceError> {
        self.hosts
            .get(id)
            .ok_or_else(|| ResourceError::not_found("host", id))
    }

    /// The host with its scope and the sets it is in filled in.
    pub fn host(&self, id: &str) -> Result<Host, ResourceError> {
        let mut view = self.existing_host(id)?.clone();
        view.scope = self.scope_info(&self.existing_host_catalog(&view.host_catalog_id)?.scope_id);
        view.host_set_ids = self
            .host_sets
            .values()
            .filter(|set| set.host_ids.contains(&view.id))
            .map(|set| set.id.clone())
            .collect();
        Ok(view)
    }

    pub fn list_hosts(&self, host_catalog_id: &str) -> Result<Vec<Host>, ResourceError> {
        self.existing_host_catalog(host_catalog_id)?;
        let hosts = self
            .hosts
            .values()
            .filter(|h| h.host_catalog_id == host_catalog_id);
        hosts.map(|h| self.host(&h.id)).collect()
    }

    fn unique_host_name(
        &self,
        catalog_id: &str,
        id: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        let others = self
            .hosts
            .values()
            .filter(|h| h.host_catalog_id == catalog_id && h.id != id);
        unique_name("host", name, catalog_id, others.map(|h| h.name.as_str()))
    }

    pub fn create_host(
        &mut self,
        id: Option<&str>,
        new: NewHost,
        now: DateTime<Utc>,
    ) -> Result<Host, ResourceError> {
        self.existing_host_catalog(&new.host_catalog_id)?;
        let address = validate::address("attributes.address", &new.address)?;
        self.unique_host_name(&new.host_catalog_id, "", &new.name)?;
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.hosts, HOST_PREFIX)?,
        };
        let host = Host {
            id: id.clone(),
            host_catalog_id: new.host_catalog_id,
            scope: Default::default(),
            name: new.name,
            description: new.description,
            kind: "static".into(),
            attributes: HostAttributes { address },
            host_set_ids: Vec::new(),
            created_time: now,
            updated_time: now,
            version: 1,
            authorized_actions: Vec::new(),
        };
        self.hosts.insert(id.clone(), host);
        self.host(&id)
    }

    pub fn update_host(
        &mut self,
        id: &str,
        version: u32,
        changes: HostPatch,
        now: DateTime<Utc>,
    ) -> Result<Host, ResourceError> {
        let mut host = self.existing_host(id)?.clone();
        check_version(&host, version)?;
        patch(&mut host.name, changes.name);
        patch(&mut host.description, changes.description);
        if let Some(address) = changes.address {
            host.attributes.address = validate::address("attributes.address", &address)?;
        }
        self.unique_host_name(&host.host_catalog_id, id, &host.name)?;
        host.touch(now);
        self.hosts.insert(id.to_owned(), host);
        self.host(id)
    }

    pub fn delete_host(&mut self, id: &str) -> Result<(), ResourceError> {
        self.existing_host(id)?;
        self.remove_host(id);
        Ok(())
    }
}
