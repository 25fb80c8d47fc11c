//! The local cloud's one account. SKELETON: the api3 helper fills this in.

/// A permanent SecretId/SecretKey pair.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// SecretId.
    pub secret_id: String,
    /// SecretKey.
    pub secret_key: crate::secret::Secret,
}

/// APPID, keys and temporary credentials.
#[derive(Debug)]
pub struct Account {
    /// The APPID.
    pub appid: u64,
    keys: KeyPair,
}

impl Account {
    /// The account with its permanent key pair.
    pub fn new(appid: u64, keys: KeyPair) -> Self {
        Account { appid, keys }
    }

    /// The permanent key pair.
    pub fn keys(&self) -> &KeyPair {
        &self.keys
    }
}
