//! Password auth methods, their accounts, and users (which accounts log in as).

use chrono::{DateTime, Utc};

use super::super::ids::{ACCOUNT_PREFIX, AUTH_METHOD_PREFIX, USER_PREFIX};
use super::super::input::{
    AccountPatch, AuthMethodPatch, NewAccount, NewAuthMethod, NewUser, UserPatch,
};
use super::super::model::{Account, AccountAttributes, AuthMethod, User};
use super::super::secret::PasswordDigest;
use super::super::{validate, ResourceError};
use super::state::{
    check_version, dedup, membership, patch, unique_name, AccountRecord, Change, State, UserRecord,
    Versioned,
};

impl State {
    // Auth methods.

    fn existing_auth_method(&self, id: &str) -> Result<&AuthMethod, ResourceError> {
        self.auth_methods
            .get(id)
            .ok_or_else(|| ResourceError::not_found("auth method", id))
    }

    pub fn auth_method(&self, id: &str) -> Result<AuthMethod, ResourceError> {
        let mut view = self.existing_auth_method(id)?.clone();
        view.scope = self.scope_info(&view.scope_id);
        Ok(view)
    }

    pub fn list_auth_methods(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<AuthMethod>, ResourceError> {
        let tree = self.scope_tree(scope_id, recursive)?;
        let ids = self
            .auth_methods
            .values()
            .filter(|m| tree.contains(&m.scope_id));
        ids.map(|m| self.auth_method(&m.id)).collect()
    }

    fn unique_auth_method_name(
        &self,
        scope_id: &str,
        id: &str,
        name: &str,
    ) -> Result<(), ResourceError> {
        let others = self
            .auth_methods
            .values()
            .filter(|m| m.scope_id == scope_id && m.id != id);
        unique_name(
            "auth method",
            name,
            scope_id,
            others.map(|m| m.name.as_str()),
        )
    }

    /// The first auth method of a scope becomes its primary one (what `authenticate` uses
    /// when no auth method is named).
    pub fn create_auth_method(
        &mut self,
        id: Option<&str>,
        new: NewAuthMethod,
        now: DateTime<Utc>,
    ) -> Result<AuthMethod, ResourceError> {
        self.iam_scope(&new.scope_id, "auth method")?;
        self.unique_auth_method_name(&new.scope_id, "", &new.name)?;
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.auth_methods, AUTH_METHOD_PREFIX)?,
        };
        let is_primary = !self
            .auth_methods
            .values()
            .any(|m| m.scope_id == new.scope_id);
        let method = AuthMethod {
            id: id.clone(),
            scope_id: new.scope_id,
            scope: Default::default(),
            name: new.name,
            description: new.description,
            created_time: now,
            updated_time: now,
            version: 1,
            kind: "password".into(),
            is_primary,
            authorized_actions: Vec::new(),
        };
        self.auth_methods.insert(id.clone(), method);
        self.auth_method(&id)
    }

    pub fn update_auth_method(
        &mut self,
        id: &str,
        version: u32,
        changes: AuthMethodPatch,
        now: DateTime<Utc>,
    ) -> Result<AuthMethod, ResourceError> {
        let mut method = self.existing_auth_method(id)?.clone();
        check_version(&method, version)?;
        patch(&mut method.name, changes.name);
        patch(&mut method.description, changes.description);
        self.unique_auth_method_name(&method.scope_id, id, &method.name)?;
        method.touch(now);
        self.auth_methods.insert(id.to_owned(), method);
        self.auth_method(id)
    }

    pub fn delete_auth_method(&mut self, id: &str) -> Result<(), ResourceError> {
        self.existing_auth_method(id)?;
        self.remove_auth_method(id);
        Ok(())
    }

    // Accounts.

    fn existing_account(&self, id: &str) -> Result<&AccountRecord, ResourceError> {
        self.accounts
            .get(id)
            .ok_or_else(|| ResourceError::not_found("account", id))
    }

    pub fn account(&self, id: &str) -> Result<Account, ResourceError> {
        let mut view = self.existing_account(id)?.account.clone();
        let scope_id = self
            .existing_auth_method(&view.auth_method_id)?
            .scope_id
            .clone();
        view.scope = self.scope_info(&scope_id);
        Ok(view)
    }

    pub fn list_accounts(&self, auth_method_id: &str) -> Result<Vec<Account>, ResourceError> {
        self.existing_auth_method(auth_method_id)?;
        let accounts = self
            .accounts
            .values()
            .filter(|a| a.account.auth_method_id == auth_method_id);
        accounts.map(|a| self.account(&a.account.id)).collect()
    }

    /// Names and login names are unique within the auth method.
    fn unique_account(&self, account: &Account) -> Result<(), ResourceError> {
        let method = &account.auth_method_id;
        let others = || {
            self.accounts
                .values()
                .map(|a| &a.account)
                .filter(|a| a.auth_method_id == *method && a.id != account.id)
        };
        unique_name(
            "account",
            &account.name,
            method,
            others().map(|a| a.name.as_str()),
        )?;
        let login = &account.attributes.login_name;
        if others().any(|a| a.attributes.login_name == *login) {
            return Err(ResourceError::Conflict(format!(
                "login name {login:?} is already used in {method}"
            )));
        }
        Ok(())
    }

    pub fn create_account(
        &mut self,
        id: Option<&str>,
        new: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<Account, ResourceError> {
        self.existing_auth_method(&new.auth_method_id)?;
        let login_name = validate::login_name(&new.login_name)?;
        validate::password(&new.password)?;
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.accounts, ACCOUNT_PREFIX)?,
        };
        let account = Account {
            id: id.clone(),
            auth_method_id: new.auth_method_id,
            scope: Default::default(),
            name: new.name,
            description: new.description,
            kind: "password".into(),
            attributes: AccountAttributes { login_name },
            created_time: now,
            updated_time: now,
            version: 1,
            authorized_actions: Vec::new(),
        };
        self.unique_account(&account)?;
        let password = PasswordDigest::new(&new.password);
        self.accounts
            .insert(id.clone(), AccountRecord { account, password });
        self.account(&id)
    }

    pub fn update_account(
        &mut self,
        id: &str,
        version: u32,
        changes: AccountPatch,
        now: DateTime<Utc>,
    ) -> Result<Account, ResourceError> {
        let mut record = self.existing_account(id)?.clone();
        let account = &mut record.account;
        check_version(account, version)?;
        patch(&mut account.name, changes.name);
        patch(&mut account.description, changes.description);
        if let Some(login_name) = changes.login_name {
            account.attributes.login_name = validate::login_name(&login_name)?;
        }
        self.unique_account(account)?;
        account.touch(now);
        self.accounts.insert(id.to_owned(), record);
        self.account(id)
    }

    pub fn delete_account(&mut self, id: &str) -> Result<(), ResourceError> {
        self.existing_account(id)?;
        self.remove_account(id);
        Ok(())
    }

    // Users.

    pub fn existing_user(&self, id: &str) -> Result<&UserRecord, ResourceError> {
        self.users
            .get(id)
            .ok_or_else(|| ResourceError::not_found("user", id))
    }

    /// The user with its scope and primary (first) account's login filled in.
    pub fn user(&self, id: &str) -> Result<User, ResourceError> {
        let mut view = self.existing_user(id)?.user.clone();
        view.scope = self.scope_info(&view.scope_id);
        let primary = view
            .account_ids
            .first()
            .and_then(|id| self.accounts.get(id));
        if let Some(primary) = primary {
            view.primary_account_id = primary.account.id.clone();
            view.login_name = primary.account.attributes.login_name.clone();
        }
        Ok(view)
    }

    pub fn list_users(&self, scope_id: &str, recursive: bool) -> Result<Vec<User>, ResourceError> {
        let tree = self.scope_tree(scope_id, recursive)?;
        let users = self
            .users
            .values()
            .filter(|u| tree.contains(&u.user.scope_id));
        users.map(|u| self.user(&u.user.id)).collect()
    }

    fn unique_user_name(&self, scope_id: &str, id: &str, name: &str) -> Result<(), ResourceError> {
        let others = self
            .users
            .values()
            .map(|u| &u.user)
            .filter(|u| u.scope_id == scope_id && u.id != id);
        unique_name("user", name, scope_id, others.map(|u| u.name.as_str()))
    }

    pub fn create_user(
        &mut self,
        id: Option<&str>,
        new: NewUser,
        now: DateTime<Utc>,
    ) -> Result<User, ResourceError> {
        self.iam_scope(&new.scope_id, "user")?;
        self.unique_user_name(&new.scope_id, "", &new.name)?;
        let id = match id {
            Some(id) => id.to_owned(),
            None => Self::unused_id(&self.users, USER_PREFIX)?,
        };
        let user = User {
            id: id.clone(),
            scope_id: new.scope_id,
            scope: Default::default(),
            name: new.name,
            description: new.description,
            login_name: String::new(),
            primary_account_id: String::new(),
            account_ids: Vec::new(),
            created_time: now,
            updated_time: now,
            version: 1,
            authorized_actions: Vec::new(),
        };
        self.users.insert(
            id.clone(),
            UserRecord {
                user,
                admin: new.admin,
            },
        );
        self.user(&id)
    }

    pub fn update_user(
        &mut self,
        id: &str,
        version: u32,
        changes: UserPatch,
        now: DateTime<Utc>,
    ) -> Result<User, ResourceError> {
        let mut record = self.existing_user(id)?.clone();
        check_version(&record.user, version)?;
        patch(&mut record.user.name, changes.name);
        patch(&mut record.user.description, changes.description);
        self.unique_user_name(&record.user.scope_id, id, &record.user.name)?;
        record.user.touch(now);
        self.users.insert(id.to_owned(), record);
        self.user(id)
    }

    pub fn delete_user(&mut self, id: &str) -> Result<(), ResourceError> {
        self.existing_user(id)?;
        self.remove_user(id);
        Ok(())
    }

    /// Accounts must exist, belong to an auth method of the user's scope, and not be
    /// associated with another user.
    pub fn change_user_accounts(
        &mut self,
        id: &str,
        version: u32,
        account_ids: &[String],
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<User, ResourceError> {
        const FIELD: &str = "account_ids";
        let mut record = self.existing_user(id)?.clone();
        check_version(&record.user, version)?;
        let requested = dedup(account_ids);
        if change != Change::Remove {
            for account_id in &requested {
                let Some(account) = self.accounts.get(account_id) else {
                    return Err(ResourceError::invalid(
                        FIELD,
                        format!("account {account_id} not found"),
                    ));
                };
                let method = self.existing_auth_method(&account.account.auth_method_id)?;
                if method.scope_id != record.user.scope_id {
                    return Err(ResourceError::invalid(
                        FIELD,
                        format!(
                            "account {account_id} is in scope {}, the user in {}",
                            method.scope_id, record.user.scope_id
                        ),
                    ));
                }
                if let Some(owner) = self.account_owner(account_id).filter(|owner| *owner != id) {
                    return Err(ResourceError::Conflict(format!(
                        "account {account_id} already belongs to user {owner}"
                    )));
                }
            }
        }
        record.user.account_ids = membership(&record.user.account_ids, requested, change, FIELD)?;
        record.user.touch(now);
        self.users.insert(id.to_owned(), record);
        self.user(id)
    }

    /// The user an account is associated with.
    pub fn account_owner(&self, account_id: &str) -> Option<&str> {
        self.users
            .values()
            .find(|u| u.user.account_ids.iter().any(|a| a == account_id))
            .map(|u| u.user.id.as_str())
    }
}
