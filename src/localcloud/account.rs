//! The local cloud's one account: its APPID, the permanent key pair it accepts, and the
//! temporary credentials it mints for functions that have an execution role, which both the
//! control plane and COS accept as tokens. Temporary credentials carry the role they were
//! minted for ([`Caller::role`]), so COS can check the role's policies.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::store::{Store, StoreError};
use crate::providers::tencent::credentials;
use crate::secret::Secret;

/// SecretId accepted when `TENCENTCLOUD_SECRET_ID` is not set at start (documented in README);
/// the pair is owned by the provider's credentials module, which the CLI signs with.
pub const DEFAULT_SECRET_ID: &str = credentials::LOCAL_SECRET_ID;
/// SecretKey accepted when `TENCENTCLOUD_SECRET_KEY` is not set at start (documented in README).
pub const DEFAULT_SECRET_KEY: &str = credentials::LOCAL_SECRET_KEY;
/// Default APPID, the bucket-name suffix.
pub const DEFAULT_APPID: u64 = 1_250_000_000;

const TEMP_TABLE: &str = "temp_credentials";

/// A permanent SecretId/SecretKey pair.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// SecretId.
    pub secret_id: String,
    /// SecretKey.
    pub secret_key: Secret,
}

impl KeyPair {
    /// `TENCENTCLOUD_SECRET_ID`/`TENCENTCLOUD_SECRET_KEY` from `env`, else the documented defaults.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        match (
            env("TENCENTCLOUD_SECRET_ID"),
            env("TENCENTCLOUD_SECRET_KEY"),
        ) {
            (Some(id), Some(key)) if !id.is_empty() && !key.is_empty() => KeyPair {
                secret_id: id,
                secret_key: Secret::new(key),
            },
            _ => KeyPair::default_pair(),
        }
    }

    /// The documented default pair.
    pub fn default_pair() -> Self {
        KeyPair {
            secret_id: DEFAULT_SECRET_ID.to_owned(),
            secret_key: Secret::new(DEFAULT_SECRET_KEY),
        }
    }
}

/// Temporary credentials, as SCF hands a function (`TENCENTCLOUD_SECRETID`/`SECRETKEY`/`SESSIONTOKEN`).
#[derive(Debug, Clone)]
pub struct TempCredentials {
    /// SecretId.
    pub secret_id: String,
    /// SecretKey.
    pub secret_key: Secret,
    /// Session token (`X-TC-Token` / `x-cos-security-token`).
    pub token: Secret,
    /// Unix seconds after which they are refused.
    pub expires_at: i64,
    /// The execution role they stand for.
    pub role: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredTemp {
    secret_key: String,
    token: String,
    expires_at: i64,
    /// Absent in records written before roles existed: those speak for the account.
    #[serde(default)]
    role: Option<String>,
}

/// Who signed a request: the key to verify it with and, for temporary credentials, the role
/// whose policies bound what they may do (`None`: the account's own keys).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The SecretKey.
    pub secret_key: Secret,
    /// The execution role of temporary credentials.
    pub role: Option<String>,
}

/// Why a request's credentials were refused; api3 and COS map these to their own error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown SecretId (`AuthFailure.SecretIdNotFound` / COS `InvalidAccessKeyId`).
    #[error("the SecretId is not found, please ensure that your SecretId is correct")]
    SecretIdNotFound,
    /// Temporary SecretId without a valid token, or a token that does not match
    /// (`AuthFailure.TokenFailure` / COS `InvalidToken`).
    #[error("the provided security token is invalid")]
    TokenFailure,
    /// Temporary credentials past their expiry (`AuthFailure.TokenFailure`, COS `ExpiredToken`).
    #[error("the provided security token has expired")]
    TokenExpired,
}

/// APPID, keys and temporary credentials.
#[derive(Debug)]
pub struct Account {
    /// The APPID.
    pub appid: u64,
    keys: KeyPair,
    store: Store,
}

impl Account {
    /// The account with its permanent key pair; temporary credentials persist in `store`.
    pub fn new(appid: u64, keys: KeyPair, store: Store) -> Self {
        Account { appid, keys, store }
    }

    /// The permanent key pair.
    pub fn keys(&self) -> &KeyPair {
        &self.keys
    }

    /// The SecretKey to verify a request signed by `secret_id`, checking the session token
    /// the request carried (required for temporary credentials, ignored for the permanent pair,
    /// as the cloud does). `now` is Unix seconds.
    pub fn secret_for(
        &self,
        secret_id: &str,
        token: Option<&str>,
        now: i64,
    ) -> Result<Secret, AuthError> {
        self.caller(secret_id, token, now).map(|c| c.secret_key)
    }

    /// [`Self::secret_for`], with the role temporary credentials stand for.
    pub fn caller(
        &self,
        secret_id: &str,
        token: Option<&str>,
        now: i64,
    ) -> Result<Caller, AuthError> {
        if secret_id == self.keys.secret_id {
            return Ok(Caller {
                secret_key: self.keys.secret_key.clone(),
                role: None,
            });
        }
        let stored: StoredTemp = self
            .store
            .get(TEMP_TABLE, secret_id)
            .ok()
            .flatten()
            .ok_or(AuthError::SecretIdNotFound)?;
        if token != Some(stored.token.as_str()) {
            return Err(AuthError::TokenFailure);
        }
        if now > stored.expires_at {
            return Err(AuthError::TokenExpired);
        }
        Ok(Caller {
            secret_key: Secret::new(stored.secret_key),
            role: stored.role,
        })
    }

    /// Mints temporary credentials valid for `ttl` from `now`, persisted so they survive a
    /// restart of the local cloud: for execution role `role` (what a function gets), or with
    /// `None` for the account itself (what the tests use to exercise tokens).
    pub fn mint_temporary(
        &self,
        now: i64,
        ttl: Duration,
        role: Option<&str>,
    ) -> Result<TempCredentials, StoreError> {
        let mut rng = rand::rng();
        let alnum = |rng: &mut rand::rngs::ThreadRng, n: usize| -> String {
            (0..n)
                .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
                .collect()
        };
        let secret_id = format!("AKIDtmp{}", alnum(&mut rng, 29));
        let secret_key = alnum(&mut rng, 32);
        let token = alnum(&mut rng, 96);
        let expires_at = now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        self.store.write(|tx| {
            tx.put(
                TEMP_TABLE,
                &secret_id,
                &StoredTemp {
                    secret_key: secret_key.clone(),
                    token: token.clone(),
                    expires_at,
                    role: role.map(str::to_owned),
                },
            )
        })?;
        Ok(TempCredentials {
            secret_id,
            secret_key: Secret::new(secret_key),
            token: Secret::new(token),
            expires_at,
            role: role.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> (tempfile::TempDir, Account) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (
            dir,
            Account::new(DEFAULT_APPID, KeyPair::default_pair(), store),
        )
    }

    #[test]
    fn permanent_pair_is_accepted_with_or_without_a_token() {
        let (_d, acct) = account();
        let key = acct.secret_for(DEFAULT_SECRET_ID, None, 0).unwrap();
        assert_eq!(key.expose(), DEFAULT_SECRET_KEY);
        assert!(acct.secret_for(DEFAULT_SECRET_ID, Some("x"), 0).is_ok());
        assert_eq!(
            acct.secret_for("AKIDother", None, 0).unwrap_err(),
            AuthError::SecretIdNotFound
        );
    }

    #[test]
    fn temporary_credentials_need_their_token_and_expire() {
        let (_d, acct) = account();
        let t = acct
            .mint_temporary(1000, Duration::from_secs(60), Some("chat-role"))
            .unwrap();
        let caller = acct
            .caller(&t.secret_id, Some(t.token.expose()), 1030)
            .unwrap();
        assert_eq!(caller.role.as_deref(), Some("chat-role"));
        let root = acct.caller(DEFAULT_SECRET_ID, None, 0).unwrap();
        assert_eq!(root.role, None);
        let ok = acct
            .secret_for(&t.secret_id, Some(t.token.expose()), 1030)
            .unwrap();
        assert_eq!(ok, t.secret_key);
        assert_eq!(
            acct.secret_for(&t.secret_id, None, 1030).unwrap_err(),
            AuthError::TokenFailure
        );
        assert_eq!(
            acct.secret_for(&t.secret_id, Some("wrong"), 1030)
                .unwrap_err(),
            AuthError::TokenFailure
        );
        assert_eq!(
            acct.secret_for(&t.secret_id, Some(t.token.expose()), 1061)
                .unwrap_err(),
            AuthError::TokenExpired
        );
    }

    #[test]
    fn records_minted_before_roles_existed_speak_for_the_account() {
        let (_d, acct) = account();
        acct.store
            .write(|tx| {
                tx.put(
                    TEMP_TABLE,
                    "AKIDtmpold",
                    &serde_json::json!({"secret_key": "k", "token": "t", "expires_at": 9}),
                )
            })
            .unwrap();
        let caller = acct.caller("AKIDtmpold", Some("t"), 0).unwrap();
        assert_eq!(caller.role, None);
        assert_eq!(caller.secret_key.expose(), "k");
    }

    #[test]
    fn env_keys_replace_the_default_pair() {
        let env = |k: &str| match k {
            "TENCENTCLOUD_SECRET_ID" => Some("AKIDmine".to_owned()),
            "TENCENTCLOUD_SECRET_KEY" => Some("mykey".to_owned()),
            _ => None,
        };
        assert_eq!(KeyPair::from_env(env).secret_id, "AKIDmine");
        assert_eq!(KeyPair::from_env(|_| None).secret_id, DEFAULT_SECRET_ID);
    }
}
