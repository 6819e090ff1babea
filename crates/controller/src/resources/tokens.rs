//! Logging in with a password account, and the auth tokens that result.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use postern_api::bodies::{AccountIds, Members as _};

use super::ids::AUTH_TOKEN_PREFIX;
use super::input::NewUser;
use super::kind::{KindId, NewItem};
use super::secret::{new_token_secret, PasswordDigest, TokenDigest};
use super::state::ResourceState;
use super::{Account, AuthMethod, AuthToken, User, AUTH_TOKEN_LIFETIME};
use super::{Change, ResourceError};

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

impl ResourceState {
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
            .and_then(|account| Some((account.id.clone(), self.password(&account.id)?)));
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

    /// The user a login through `account_id` is for, once [`LoginCandidate::check`] passed;
    /// stores the upgraded digest if there is one. An account that no user has yet gets a
    /// new, unprivileged user in the auth method's scope (as Boundary does).
    pub fn login_user(
        &mut self,
        auth_method_id: &str,
        account_id: &str,
        upgraded: Option<PasswordDigest>,
        now: DateTime<Utc>,
    ) -> Result<String, ResourceError> {
        let scope_id = self
            .existing_as::<AuthMethod>(auth_method_id)?
            .scope_id
            .clone();
        // The account may have gone while its password was checked.
        self.existing_as::<Account>(account_id)
            .map_err(|_| authentication_failed())?;
        if let Some(digest) = upgraded {
            self.set_password(account_id, digest);
        }
        match self.account_owner(account_id) {
            Some(user_id) => Ok(user_id.to_owned()),
            None => self.user_for_account(&scope_id, account_id, now),
        }
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
        self.change_members(
            KindId::User,
            id,
            version,
            Change::Add,
            AccountIds::FIELD,
            &accounts,
            now,
        )?;
        Ok(id.to_owned())
    }

    /// Whether a token still stands for someone: its user, account and auth method exist
    /// (deleting any of them revokes the tokens issued through it).
    pub fn token_holds(&self, token: &AuthToken) -> bool {
        self.existing_as::<User>(&token.user_id).is_ok()
            && self.existing_as::<Account>(&token.account_id).is_ok()
            && self
                .existing_as::<AuthMethod>(&token.auth_method_id)
                .is_ok()
    }
}

/// An auth token as a backend stores it: the token without its secret (and without `scope`,
/// filled in when shown), and the secret's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token: AuthToken,
    pub secret: TokenDigest,
}

impl TokenRecord {
    /// A new token for `user_id`, logged in through `account_id` of `auth_method_id` in
    /// `scope_id`, with a fresh id; the issued token carries `<id>_<secret>`, the record only
    /// the secret's digest.
    pub fn mint(
        user_id: String,
        account_id: String,
        auth_method_id: String,
        scope_id: String,
        now: DateTime<Utc>,
    ) -> (Self, AuthToken) {
        let id = super::ids::new_id(AUTH_TOKEN_PREFIX);
        let secret = new_token_secret();
        let expiration = chrono::Duration::from_std(AUTH_TOKEN_LIFETIME)
            .ok()
            .and_then(|lifetime| now.checked_add_signed(lifetime))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let token = AuthToken {
            id: id.clone(),
            scope_id,
            scope: Default::default(),
            token: String::new(),
            user_id,
            auth_method_id,
            account_id,
            created_time: now,
            updated_time: now,
            approximate_last_used_time: now,
            expiration_time: expiration,
            authorized_actions: Vec::new(),
        };
        let mut issued = token.clone();
        issued.token = format!("{id}_{secret}");
        let record = Self {
            token,
            secret: TokenDigest::of(&secret),
        };
        (record, issued)
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    use super::super::{
        DevSeed, ResourceStore, Resources, DEV_ADMIN_ACCOUNT_ID, DEV_AUTH_METHOD_ID,
    };
    use super::*;

    /// A password hashed with weaker parameters than today's is rehashed at the next login,
    /// and the new hash still opens the account.
    #[tokio::test]
    async fn outdated_hashes_are_upgraded_at_login() {
        let clock = postern_authority::system_clock();
        let store = Resources::memory_dev(&DevSeed::default(), clock)
            .await
            .unwrap();
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        let weak = weak.hash_password(b"password", &salt).unwrap().to_string();
        let weak = PasswordDigest::from_phc(weak);
        assert!(weak.needs_upgrade());
        let records = store.records();
        let set_weak = &mut |state: &mut ResourceState| {
            state.set_password(DEV_ADMIN_ACCOUNT_ID, weak.clone());
            Ok(())
        };
        records.change(set_weak).await.unwrap();

        store
            .authenticate(DEV_AUTH_METHOD_ID, "admin", "password")
            .await
            .unwrap();
        let state = records.state().await.unwrap();
        let stored = state.password(DEV_ADMIN_ACCOUNT_ID).unwrap();
        assert_ne!(*stored, weak);
        assert!(!stored.needs_upgrade());
        assert!(stored.verify("password"));
        let wrong = store
            .authenticate(DEV_AUTH_METHOD_ID, "admin", "passwort")
            .await;
        assert!(matches!(wrong, Err(ResourceError::Unauthenticated(_))));
    }
}
