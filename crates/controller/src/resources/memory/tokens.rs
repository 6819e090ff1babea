//! Logging in with a password account, and the auth tokens that result.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use super::super::ids::AUTH_TOKEN_PREFIX;
use super::super::input::NewUser;
use super::super::kind::{KindId, NewItem};
use super::super::secret::{new_token_secret, split_token, PasswordDigest, TokenDigest};
use super::super::{Account, AuthMethod, AuthToken, User, AUTH_TOKEN_LIFETIME};
use super::super::{Change, Principal, ResourceError};
use super::state::{fresh_id, State, TokenRecord};

/// The one answer to a wrong password or an unknown login, so neither can be told apart.
const AUTHENTICATION_FAILED: &str = "authentication failed";

fn authentication_failed() -> ResourceError {
    ResourceError::Unauthenticated(AUTHENTICATION_FAILED.into())
}

/// A digest checked against when the login is unknown, so that an unknown login costs the
/// same hashing as a wrong password.
fn decoy_password() -> &'static PasswordDigest {
    static DECOY: OnceLock<PasswordDigest> = OnceLock::new();
    DECOY.get_or_init(|| PasswordDigest::new("decoy password, never matched"))
}

/// What a login is checked against: the account (`None` for an unknown login, checked
/// against a decoy so that both cost the same) and its password digest.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    pub account_id: Option<String>,
    pub digest: PasswordDigest,
}

impl LoginCandidate {
    /// Checks `password` (CPU-heavy: run it off the async threads, and outside the lock) and
    /// hands back the account it opens, with a fresh digest to store when the old one's
    /// parameters are outdated.
    pub fn check(self, password: &str) -> Result<(String, Option<PasswordDigest>), ResourceError> {
        let matched = self.digest.verify(password);
        match self.account_id {
            Some(account_id) if matched => {
                let upgrade = self
                    .digest
                    .needs_upgrade()
                    .then(|| PasswordDigest::new(password));
                Ok((account_id, upgrade))
            }
            _ => Err(authentication_failed()),
        }
    }
}

impl State {
    /// The account a login names in an auth method, or the decoy when there is none.
    pub fn login_candidate(
        &self,
        auth_method_id: &str,
        login_name: &str,
    ) -> Result<LoginCandidate, ResourceError> {
        self.existing_as::<AuthMethod>(auth_method_id)?;
        let found = self
            .all::<Account>()
            .find(|a| a.auth_method_id == auth_method_id && a.attributes.login_name == login_name)
            .and_then(|account| Some((account.id.clone(), self.passwords.get(&account.id)?)));
        Ok(match found {
            Some((account_id, digest)) => LoginCandidate {
                account_id: Some(account_id),
                digest: digest.clone(),
            },
            None => LoginCandidate {
                account_id: None,
                digest: decoy_password().clone(),
            },
        })
    }

    /// Issues a token for the account's user, after [`LoginCandidate::check`] passed; stores
    /// the upgraded digest if there is one. An account that no user has yet gets a new,
    /// unprivileged user in the auth method's scope (as Boundary does).
    pub fn issue_token(
        &mut self,
        auth_method_id: &str,
        account_id: &str,
        upgraded: Option<PasswordDigest>,
        now: DateTime<Utc>,
    ) -> Result<AuthToken, ResourceError> {
        let method = self.existing_as::<AuthMethod>(auth_method_id)?;
        let scope_id = method.scope_id.clone();
        // The account may have gone while its password was checked.
        self.existing_as::<Account>(account_id)
            .map_err(|_| authentication_failed())?;
        if let Some(digest) = upgraded {
            self.passwords.insert(account_id.to_owned(), digest);
        }
        let account_id = account_id.to_owned();
        let user_id = match self.account_owner(&account_id) {
            Some(user_id) => user_id.to_owned(),
            None => self.user_for_account(&scope_id, &account_id, now)?,
        };

        let id = fresh_id(AUTH_TOKEN_PREFIX, |id| self.tokens.contains_key(id))?;
        let secret = new_token_secret();
        let expiration = chrono::Duration::from_std(AUTH_TOKEN_LIFETIME)
            .ok()
            .and_then(|lifetime| now.checked_add_signed(lifetime))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let token = AuthToken {
            id: id.clone(),
            scope_id: scope_id.clone(),
            scope: self.scope_info(&scope_id),
            token: String::new(),
            user_id,
            auth_method_id: auth_method_id.to_owned(),
            account_id,
            created_time: now,
            updated_time: now,
            approximate_last_used_time: now,
            expiration_time: expiration,
            authorized_actions: Vec::new(),
        };
        let digest = TokenDigest::of(&secret);
        let mut issued = token.clone();
        issued.token = format!("{id}_{secret}");
        self.tokens.insert(
            id,
            TokenRecord {
                token,
                secret: digest,
            },
        );
        Ok(issued)
    }

    fn user_for_account(
        &mut self,
        scope_id: &str,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ResourceError> {
        let new = NewUser {
            scope_id: scope_id.to_owned(),
            ..NewUser::default()
        };
        let user = self.create(None, NewItem::User(new), now)?;
        let accounts = [account_id.to_owned()];
        let (id, version) = (user.id(), user.version());
        self.change_members(KindId::User, id, version, Change::Add, &accounts, now)?;
        Ok(id.to_owned())
    }

    /// Resolves `<id>_<secret>`; an expired token is dropped.
    pub fn principal(
        &mut self,
        bearer_token: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, ResourceError> {
        let Some((id, secret)) = split_token(bearer_token) else {
            return Err(ResourceError::Unauthenticated(
                "malformed auth token".into(),
            ));
        };
        let invalid = || ResourceError::Unauthenticated("invalid auth token".into());
        let record = self.tokens.get_mut(id).ok_or_else(invalid)?;
        if !record.secret.matches(secret) {
            return Err(invalid());
        }
        if record.token.expiration_time <= now {
            self.tokens.remove(id);
            return Err(ResourceError::Unauthenticated("auth token expired".into()));
        }
        record.token.approximate_last_used_time = now;
        let user_id = record.token.user_id.clone();
        self.existing_as::<User>(&user_id).map_err(|_| invalid())?;
        let admin = self.admins.contains(&user_id);
        Ok(Principal {
            user_id,
            auth_token_id: id.to_owned(),
            admin,
        })
    }

    pub fn logout(&mut self, auth_token_id: &str) -> Result<(), ResourceError> {
        self.tokens
            .remove(auth_token_id)
            .map(drop)
            .ok_or_else(|| ResourceError::not_found("auth token", auth_token_id))
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    use super::super::super::{DevSeed, ResourceStore, DEV_ADMIN_ACCOUNT_ID, DEV_AUTH_METHOD_ID};
    use super::super::MemoryStore;
    use super::*;

    /// A password hashed with weaker parameters than today's is rehashed at the next login,
    /// and the new hash still opens the account.
    #[tokio::test]
    async fn outdated_hashes_are_upgraded_at_login() {
        let store = MemoryStore::dev(&DevSeed::default()).unwrap();
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        let weak = weak.hash_password(b"password", &salt).unwrap().to_string();
        let weak = PasswordDigest::from_phc(weak);
        assert!(weak.needs_upgrade());
        store
            .lock()
            .passwords
            .insert(DEV_ADMIN_ACCOUNT_ID.into(), weak.clone());

        store
            .authenticate(DEV_AUTH_METHOD_ID, "admin", "password")
            .await
            .unwrap();
        let stored = store.lock().passwords[DEV_ADMIN_ACCOUNT_ID].clone();
        assert_ne!(stored, weak);
        assert!(!stored.needs_upgrade());
        assert!(stored.verify("password"));
        let wrong = store
            .authenticate(DEV_AUTH_METHOD_ID, "admin", "passwort")
            .await;
        assert!(matches!(wrong, Err(ResourceError::Unauthenticated(_))));
    }
}
