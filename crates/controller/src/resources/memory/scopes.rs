//! Scopes: global, the orgs under it, the projects under each org.

use chrono::{DateTime, Utc};

use super::super::ids::{ORG_PREFIX, PROJECT_PREFIX};
use super::super::input::{NewScope, ScopePatch};
use super::super::model::{Scope, GLOBAL_SCOPE_ID};
use super::super::ResourceError;
use super::state::{check_version, patch, unique_name, State, Versioned};

impl State {
    /// A state holding only the global scope.
    pub fn with_global(now: DateTime<Utc>) -> Self {
        let mut state = Self::default();
        let global = Scope {
            id: GLOBAL_SCOPE_ID.into(),
            scope_id: String::new(),
            scope: Default::default(),
            name: "global".into(),
            description: "Global Scope".into(),
            created_time: now,
            updated_time: now,
            version: 1,
            scope_type: "global".into(),
            primary_auth_method_id: String::new(),
            authorized_actions: Vec::new(),
        };
        state.scopes.insert(global.id.clone(), global);
        state
    }

    pub fn scope(&self, id: &str) -> Result<Scope, ResourceError> {
        Ok(self.view_scope(self.existing_scope(id)?))
    }

    fn view_scope(&self, scope: &Scope) -> Scope {
        let mut view = scope.clone();
        // Global sits in itself, as Boundary shows it.
        let parent = if scope.scope_id.is_empty() {
            &scope.id
        } else {
            &scope.scope_id
        };
        view.scope = self.scope_info(parent);
        view.primary_auth_method_id = self
            .auth_methods
            .values()
            .find(|method| method.scope_id == scope.id && method.is_primary)
            .map(|method| method.id.clone())
            .unwrap_or_default();
        view
    }

    pub fn list_scopes(
        &self,
        parent_id: &str,
        recursive: bool,
    ) -> Result<Vec<Scope>, ResourceError> {
        let tree = self.scope_tree(parent_id, recursive)?;
        Ok(self
            .scopes
            .values()
            .filter(|scope| {
                if recursive {
                    scope.id != parent_id && tree.contains(&scope.id)
                } else {
                    scope.scope_id == parent_id
                }
            })
            .map(|scope| self.view_scope(scope))
            .collect())
    }

    pub fn scope_tree(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<String>, ResourceError> {
        self.existing_scope(scope_id)?;
        let mut tree = vec![scope_id.to_owned()];
        if recursive {
            // Breadth first: each round adds the children of the scopes found so far.
            let mut next = 0;
            while next < tree.len() {
                let parent = tree[next].clone();
                tree.extend(
                    self.scopes
                        .values()
                        .filter(|scope| scope.scope_id == parent)
                        .map(|scope| scope.id.clone()),
                );
                next += 1;
            }
        }
        Ok(tree)
    }

    pub fn create_scope(
        &mut self,
        id: Option<&str>,
        new: NewScope,
        now: DateTime<Utc>,
    ) -> Result<Scope, ResourceError> {
        let parent_id = new.scope_id.as_str();
        let parent = self.existing_scope(parent_id)?;
        let (scope_type, prefix) = match parent.scope_type.as_str() {
            "global" => ("org", ORG_PREFIX),
            "org" => ("project", PROJECT_PREFIX),
            _ => {
                return Err(ResourceError::invalid(
                    "scope_id",
                    format!("{parent_id} is a project, which cannot hold scopes"),
                ))
            }
        };
        self.unique_scope_name(parent_id, "", &new.name)?;
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.scopes, prefix)?,
        };
        let scope = Scope {
            id: id.clone(),
            scope_id: parent_id.to_owned(),
            scope: Default::default(),
            name: new.name,
            description: new.description,
            created_time: now,
            updated_time: now,
            version: 1,
            scope_type: scope_type.into(),
            primary_auth_method_id: String::new(),
            authorized_actions: Vec::new(),
        };
        self.scopes.insert(id.clone(), scope);
        self.scope(&id)
    }

    fn unique_scope_name(
        &self,
        parent_id: &str,
        id: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        let siblings = self
            .scopes
            .values()
            .filter(|scope| scope.scope_id == parent_id && scope.id != id);
        unique_name(
            "scope",
            name,
            parent_id,
            siblings.map(|scope| scope.name.as_str()),
        )
    }

    pub fn update_scope(
        &mut self,
        id: &str,
        version: u32,
        changes: ScopePatch,
        now: DateTime<Utc>,
    ) -> Result<Scope, ResourceError> {
        let mut scope = self.existing_scope(id)?.clone();
        check_version(&scope, version)?;
        patch(&mut scope.name, changes.name);
        patch(&mut scope.description, changes.description);
        self.unique_scope_name(&scope.scope_id, id, &scope.name)?;
        scope.touch(now);
        self.scopes.insert(id.to_owned(), scope);
        self.scope(id)
    }

    pub fn delete_scope(&mut self, id: &str) -> Result<(), ResourceError> {
        if id == GLOBAL_SCOPE_ID {
            return Err(ResourceError::invalid(
                "id",
                "the global scope cannot be deleted",
            ));
        }
        self.existing_scope(id)?;
        self.remove_scope(id);
        Ok(())
    }
}
