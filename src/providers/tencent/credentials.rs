//! Finding the API key pair (DESIGN §3): the environment, then the tccli profile, then the stack
//! file.
//!
//! [`resolve`] is pure apart from reading the two tccli files under the `home` it is given: the
//! environment comes in as a function and the stack file's values as arguments, so tests run it
//! against fake environments and temporary home directories. It never prints; the caller warns
//! when the stack file was used.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{CredentialsError, CredentialsErrorKind};
use crate::secret::Secret;

/// `TENCENTCLOUD_SECRET_ID`.
pub const ENV_SECRET_ID: &str = "TENCENTCLOUD_SECRET_ID";
/// `TENCENTCLOUD_SECRET_KEY`.
pub const ENV_SECRET_KEY: &str = "TENCENTCLOUD_SECRET_KEY";
/// `TENCENTCLOUD_SESSION_TOKEN`, for temporary credentials.
pub const ENV_SESSION_TOKEN: &str = "TENCENTCLOUD_SESSION_TOKEN";
/// `TENCENTCLOUD_REGION`.
pub const ENV_REGION: &str = "TENCENTCLOUD_REGION";
/// `TCCLI_PROFILE`: which tccli profile to read (tccli's own variable; default `default`).
pub const ENV_TCCLI_PROFILE: &str = "TCCLI_PROFILE";

/// SecretId of the local cloud's documented default key pair (DESIGN §7, README): what
/// `chatstack local`/`dev` accept when `TENCENTCLOUD_SECRET_ID`/`_KEY` are not both set, and
/// what the CLI signs with against `--endpoint` when no credentials are configured anywhere.
/// Published, so it guards nothing: the local cloud refuses non-loopback listeners with it.
pub const LOCAL_SECRET_ID: &str = "AKIDchatstackLOCAL00000000000000000";
/// SecretKey of the local cloud's documented default key pair (see [`LOCAL_SECRET_ID`]).
pub const LOCAL_SECRET_KEY: &str = "chatstackLocalSecretKey000000000";

/// Where a set of credentials came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY` (and `_SESSION_TOKEN`).
    Environment,
    /// A tccli profile, e.g. `~/.tccli/default.credential`.
    TccliProfile {
        /// The `.credential` file.
        path: PathBuf,
    },
    /// The stack file's global `Conf` (the caller should warn).
    StackFile {
        /// The stack file.
        path: PathBuf,
    },
    /// Given directly by code (tests, the local cloud's default pair).
    Explicit,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Environment => f.write_str("environment"),
            CredentialSource::TccliProfile { path } | CredentialSource::StackFile { path } => {
                write!(f, "{}", path.display())
            }
            CredentialSource::Explicit => f.write_str("explicit"),
        }
    }
}

/// An API key pair, with the session token of temporary credentials.
#[derive(Clone)]
pub struct Credentials {
    /// The SecretId (`AKID…`); an identifier, not a secret.
    pub secret_id: String,
    /// The SecretKey.
    pub secret_key: Secret,
    /// The session token of temporary credentials (sent as `X-TC-Token` /
    /// `x-cos-security-token`).
    pub token: Option<Secret>,
    /// Where these came from.
    pub source: CredentialSource,
}

impl Credentials {
    /// Credentials given directly ([`CredentialSource::Explicit`]).
    pub fn new(secret_id: impl Into<String>, secret_key: Secret, token: Option<Secret>) -> Self {
        Credentials {
            secret_id: secret_id.into(),
            secret_key,
            token: token.filter(|t| !t.is_empty()),
            source: CredentialSource::Explicit,
        }
    }

    /// The local cloud's documented default pair ([`LOCAL_SECRET_ID`], [`LOCAL_SECRET_KEY`]),
    /// [`CredentialSource::Explicit`].
    pub fn local_default() -> Self {
        Credentials::new(LOCAL_SECRET_ID, Secret::new(LOCAL_SECRET_KEY), None)
    }

    /// Whether these are temporary credentials (they carry a session token).
    pub fn is_temporary(&self) -> bool {
        self.token.is_some()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &self.secret_key)
            .field("token", &self.token)
            .field("source", &self.source)
            .finish()
    }
}

/// What [`resolve`] found: the credentials and, if configured, a default region.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The credentials.
    pub credentials: Credentials,
    /// `TENCENTCLOUD_REGION`, else the tccli profile's region, if any.
    pub region: Option<String>,
}

/// Finds credentials in DESIGN §3 order: environment, tccli profile
/// (`{home}/.tccli/{profile}.credential`, profile from `TCCLI_PROFILE`, default `default`), then
/// `stack_file` = (SecretId, SecretKey, path of the stack file).
///
/// A half-set pair at any level is an error naming what is missing, never a silent fall-through.
pub fn resolve(
    env: impl Fn(&str) -> Option<String>,
    home: Option<&Path>,
    stack_file: Option<(&str, &Secret, &Path)>,
) -> Result<Resolved, CredentialsError> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let profile = var(ENV_TCCLI_PROFILE).unwrap_or_else(|| "default".to_owned());
    let tccli_dir = home.map(|h| h.join(".tccli"));
    let profile_region = || {
        tccli_dir
            .as_ref()
            .and_then(|dir| read_tccli_region(&dir.join(format!("{profile}.configure"))))
    };
    let region = var(ENV_REGION);

    let id = var(ENV_SECRET_ID);
    let key = var(ENV_SECRET_KEY);
    let token = var(ENV_SESSION_TOKEN);
    match (id, key) {
        (Some(id), Some(key)) => {
            return Ok(Resolved {
                credentials: Credentials {
                    secret_id: id,
                    secret_key: Secret::new(key),
                    token: token.map(Secret::new),
                    source: CredentialSource::Environment,
                },
                region: region.or_else(profile_region),
            });
        }
        (Some(_), None) => return Err(partial(ENV_SECRET_ID, ENV_SECRET_KEY)),
        (None, Some(_)) => return Err(partial(ENV_SECRET_KEY, ENV_SECRET_ID)),
        (None, None) if token.is_some() => return Err(partial(ENV_SESSION_TOKEN, ENV_SECRET_ID)),
        (None, None) => {}
    }

    let credential_path = tccli_dir
        .as_ref()
        .map(|dir| dir.join(format!("{profile}.credential")));
    if let Some(path) = &credential_path
        && let Some(credentials) = read_tccli_credentials(path)?
    {
        return Ok(Resolved {
            credentials,
            region: region.or_else(profile_region),
        });
    }

    if let Some((id, key, path)) = stack_file {
        let id = id.trim();
        match (id.is_empty(), key.is_empty()) {
            (false, false) => {
                return Ok(Resolved {
                    credentials: Credentials {
                        secret_id: id.to_owned(),
                        secret_key: key.clone(),
                        token: None,
                        source: CredentialSource::StackFile {
                            path: path.to_owned(),
                        },
                    },
                    region: region.or_else(profile_region),
                });
            }
            (false, true) => return Err(bad_file(path, "SecretId is set but SecretKey is empty")),
            (true, false) => return Err(bad_file(path, "SecretKey is set but SecretId is empty")),
            (true, true) => {}
        }
    }

    Err(CredentialsError::new(CredentialsErrorKind::Missing {
        tccli_path: credential_path,
    }))
}

fn partial(present: &'static str, missing: &'static str) -> CredentialsError {
    CredentialsError::new(CredentialsErrorKind::PartialEnv { present, missing })
}

fn bad_file(path: &Path, problem: &str) -> CredentialsError {
    CredentialsError::new(CredentialsErrorKind::BadFile {
        path: path.to_owned(),
        problem: problem.to_owned(),
    })
}

/// tccli's `{profile}.credential`: `{"secretId": "...", "secretKey": "...", "token": "..."}`
/// (tccli writes it with `tccli configure set secretId …`; other keys such as `type`,
/// `role-arn` are ignored).
#[derive(Deserialize)]
struct TccliCredential {
    #[serde(rename = "secretId", default)]
    secret_id: Option<String>,
    #[serde(rename = "secretKey", default)]
    secret_key: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// `Ok(None)` when the file does not exist or holds no key pair (e.g. a CVM-role profile).
fn read_tccli_credentials(path: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad_file(path, &e.to_string())),
    };
    // The serde error never quotes string values for a type mismatch on objects, but do not
    // echo it anyway: the file holds the key.
    let parsed: TccliCredential = serde_json::from_str(&text)
        .map_err(|e| bad_file(path, &format!("not valid JSON (line {})", e.line())))?;
    let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    match (clean(parsed.secret_id), clean(parsed.secret_key)) {
        (Some(id), Some(key)) => Ok(Some(Credentials {
            secret_id: id,
            secret_key: Secret::new(key),
            token: clean(parsed.token).map(Secret::new),
            source: CredentialSource::TccliProfile {
                path: path.to_owned(),
            },
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(bad_file(path, "secretId is set but secretKey is missing")),
        (None, Some(_)) => Err(bad_file(path, "secretKey is set but secretId is missing")),
    }
}

/// tccli's `{profile}.configure`: `{"_sys_param": {"region": "ap-guangzhou", …}, "scf": {…}}`;
/// very old versions kept `region` at the top level. Unreadable files give no region.
fn read_tccli_region(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value
        .get("_sys_param")
        .and_then(|p| p.get("region"))
        .or_else(|| value.get("region"))
        .and_then(|r| r.as_str())
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn home_with(credential: Option<&str>, configure: Option<&str>) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".tccli");
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(c) = credential {
            std::fs::write(dir.join("default.credential"), c).unwrap();
        }
        if let Some(c) = configure {
            std::fs::write(dir.join("default.configure"), c).unwrap();
        }
        home
    }

    const PROFILE: &str =
        r#"{"secretId": "AKIDprofile", "secretKey": "profile-key-SECRET", "token": ""}"#;
    const CONFIGURE: &str = r#"{"_sys_param": {"region": "ap-shanghai", "output": "json"},
        "scf": {"endpoint": "scf.tencentcloudapi.com", "version": "2018-04-16"}}"#;

    #[test]
    fn environment_comes_first() {
        let home = home_with(Some(PROFILE), Some(CONFIGURE));
        let key = Secret::new("file-key");
        let r = resolve(
            env(&[
                (ENV_SECRET_ID, "AKIDenv"),
                (ENV_SECRET_KEY, "env-key-SECRET"),
                (ENV_SESSION_TOKEN, "tok-SECRET"),
                (ENV_REGION, "ap-beijing"),
            ]),
            Some(home.path()),
            Some(("AKIDfile", &key, Path::new("chatstack.yml"))),
        )
        .unwrap();
        assert_eq!(r.credentials.secret_id, "AKIDenv");
        assert_eq!(r.credentials.secret_key.expose(), "env-key-SECRET");
        assert_eq!(r.credentials.token.as_ref().unwrap().expose(), "tok-SECRET");
        assert_eq!(r.credentials.source, CredentialSource::Environment);
        assert_eq!(r.region.as_deref(), Some("ap-beijing"));
    }

    #[test]
    fn tccli_profile_is_second_with_its_region() {
        let home = home_with(Some(PROFILE), Some(CONFIGURE));
        let key = Secret::new("file-key");
        let r = resolve(
            env(&[]),
            Some(home.path()),
            Some(("AKIDfile", &key, Path::new("chatstack.yml"))),
        )
        .unwrap();
        assert_eq!(r.credentials.secret_id, "AKIDprofile");
        assert_eq!(r.credentials.secret_key.expose(), "profile-key-SECRET");
        assert!(r.credentials.token.is_none(), "empty token means none");
        assert!(matches!(
            r.credentials.source,
            CredentialSource::TccliProfile { .. }
        ));
        assert_eq!(r.region.as_deref(), Some("ap-shanghai"));
    }

    #[test]
    fn env_region_overrides_profile_region_and_tccli_profile_variable_is_honoured() {
        let home = home_with(None, None);
        std::fs::write(
            home.path().join(".tccli/work.credential"),
            r#"{"secretId":"AKIDwork","secretKey":"k","token":"t"}"#,
        )
        .unwrap();
        let r = resolve(
            env(&[(ENV_TCCLI_PROFILE, "work"), (ENV_REGION, "ap-chengdu")]),
            Some(home.path()),
            None,
        )
        .unwrap();
        assert_eq!(r.credentials.secret_id, "AKIDwork");
        assert!(r.credentials.is_temporary());
        assert_eq!(r.region.as_deref(), Some("ap-chengdu"));
    }

    #[test]
    fn old_tccli_configure_keeps_region_at_the_top_level() {
        let home = home_with(Some(PROFILE), Some(r#"{"region": "ap-hongkong"}"#));
        let r = resolve(env(&[]), Some(home.path()), None).unwrap();
        assert_eq!(r.region.as_deref(), Some("ap-hongkong"));
        let home = home_with(Some(PROFILE), Some("not json"));
        let r = resolve(env(&[]), Some(home.path()), None).unwrap();
        assert_eq!(
            r.region, None,
            "an unreadable configure file only loses the region"
        );
    }

    #[test]
    fn stack_file_is_last() {
        let home = home_with(None, None);
        let key = Secret::new("file-key-SECRET");
        let r = resolve(
            env(&[]),
            Some(home.path()),
            Some(("AKIDfile", &key, Path::new("chatstack.yml"))),
        )
        .unwrap();
        assert_eq!(r.credentials.secret_id, "AKIDfile");
        assert_eq!(
            r.credentials.source,
            CredentialSource::StackFile {
                path: "chatstack.yml".into()
            }
        );
        assert_eq!(r.region, None);
        // No home directory at all is fine too.
        let r = resolve(env(&[]), None, Some(("AKIDfile", &key, Path::new("s.yml")))).unwrap();
        assert_eq!(r.credentials.secret_id, "AKIDfile");
    }

    #[test]
    fn partial_environment_names_the_missing_variable() {
        let home = home_with(Some(PROFILE), None);
        for (vars, missing) in [
            (vec![(ENV_SECRET_ID, "AKID")], ENV_SECRET_KEY),
            (vec![(ENV_SECRET_KEY, "k")], ENV_SECRET_ID),
            (vec![(ENV_SESSION_TOKEN, "t")], ENV_SECRET_ID),
        ] {
            let err = resolve(env(&vars), Some(home.path()), None).unwrap_err();
            assert_eq!(err.missing_variable(), Some(missing));
            assert!(err.to_string().contains(missing), "{err}");
        }
        // Empty values count as unset.
        let r = resolve(
            env(&[(ENV_SECRET_ID, ""), (ENV_SECRET_KEY, "  ")]),
            Some(home.path()),
            None,
        )
        .unwrap();
        assert_eq!(r.credentials.secret_id, "AKIDprofile");
    }

    #[test]
    fn missing_everywhere_lists_the_three_ways() {
        use miette::Diagnostic;
        let home = home_with(None, None);
        let empty = Secret::default();
        let err = resolve(
            env(&[]),
            Some(home.path()),
            Some(("", &empty, Path::new("s.yml"))),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "no Tencent Cloud credentials found");
        let help = err.help().unwrap().to_string();
        assert!(help.contains(ENV_SECRET_ID) && help.contains("tccli") && help.contains("Conf"));
        assert!(help.contains(".tccli/default.credential"), "{help}");
    }

    #[test]
    fn broken_or_half_filled_files_are_errors_without_the_secret() {
        let home = home_with(Some(r#"{"secretKey": "only-key-SECRET"}"#), None);
        let err = resolve(env(&[]), Some(home.path()), None).unwrap_err();
        assert!(err.to_string().contains("secretId"), "{err}");
        let home = home_with(Some("{not json only-key-SECRET"), None);
        let err = resolve(env(&[]), Some(home.path()), None).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("SECRET"), "{err}");
        // A role-only profile (no key pair) is skipped, not an error.
        let home = home_with(Some(r#"{"type": "cvm-role"}"#), None);
        let key = Secret::new("k");
        let r = resolve(
            env(&[]),
            Some(home.path()),
            Some(("AKIDfile", &key, Path::new("s.yml"))),
        )
        .unwrap();
        assert_eq!(r.credentials.secret_id, "AKIDfile");
        let err = resolve(
            env(&[]),
            Some(home.path()),
            Some(("AKIDfile", &Secret::default(), Path::new("s.yml"))),
        )
        .unwrap_err();
        assert!(err.to_string().contains("s.yml"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_key_or_token() {
        let c = Credentials::new(
            "AKIDx",
            Secret::new("key-SECRET-value"),
            Some(Secret::new("token-SECRET-value")),
        );
        let r = Resolved {
            credentials: c.clone(),
            region: None,
        };
        let shown = format!("{c:?} {c:#?} {r:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("AKIDx"));
    }
}
