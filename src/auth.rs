//! Credentials, and where `from_env` finds them: the same places, in the same order, as the
//! official Python client.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result, scrub_values};

pub use crate::model::API_KEY_HEADER;

/// A secret string: its `Debug` and `Display` print `[redacted]`, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// How requests authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// An API token, sent as `X-TILEDB-REST-API-KEY`.
    ApiKey(Secret),
    /// A user name and password, sent as HTTP basic auth.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
}

impl Credentials {
    /// An API key.
    pub fn api_key(key: impl Into<Secret>) -> Self {
        Credentials::ApiKey(key.into())
    }

    /// Basic auth.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
}

/// What replaces the client's own secrets in anything a server sends back.
pub(crate) const REDACTED: &str = "[redacted]";

/// Removes the client's own secrets (the API key; the password, and the basic-auth header value
/// made of it) from text a server sent back (an error message, a body quoted in an error), in
/// case the server echoes them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scrubber {
    secrets: Vec<Secret>,
}

impl Scrubber {
    pub(crate) fn new(credentials: Option<&Credentials>) -> Scrubber {
        let secrets = match credentials {
            Some(Credentials::ApiKey(key)) => vec![key.clone()],
            Some(Credentials::Basic { username, password }) => vec![
                password.clone(),
                Secret(base64(
                    format!("{username}:{}", password.expose()).as_bytes(),
                )),
            ],
            None => Vec::new(),
        };
        Scrubber {
            secrets: secrets.into_iter().filter(|s| !s.0.is_empty()).collect(),
        }
    }

    /// `text` with every secret replaced by `[redacted]`.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.expose()) {
                out = out.replace(s.expose(), REDACTED);
            }
        }
        out
    }

    /// `bytes` with every secret replaced by `[redacted]`; `None` when none was found.
    pub(crate) fn bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for s in &self.secrets {
            let needle = s.expose().as_bytes();
            let hay = out.as_deref().unwrap_or(bytes);
            if !hay.windows(needle.len()).any(|w| w == needle) {
                continue;
            }
            let mut next = Vec::with_capacity(hay.len());
            let mut i = 0;
            while i < hay.len() {
                if hay[i..].starts_with(needle) {
                    next.extend_from_slice(REDACTED.as_bytes());
                    i += needle.len();
                } else {
                    next.push(hay[i]);
                    i += 1;
                }
            }
            out = Some(next);
        }
        out
    }
}

/// Standard base64 with padding (the basic-auth header's encoding).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What `~/.tiledb/cloud.json` may hold (the Python client's file).
#[derive(Debug, Default, Deserialize)]
struct CloudJson {
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    verify_ssl: Option<bool>,
}

/// Settings found in the environment and the config file, each with where it came from (for
/// errors: a variable's name, or the file and key).
#[derive(Debug, Default)]
pub(crate) struct EnvSettings {
    pub(crate) credentials: Option<Credentials>,
    pub(crate) credentials_origin: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) host_origin: Option<String>,
    pub(crate) verify_tls: bool,
}

/// `/path/cloud.json, key "host"`.
fn file_key(path: &Path, key: &str) -> String {
    format!("{}, key {key:?}", path.display())
}

/// The error of [`Client::from_env`](crate::Client::from_env) when no credentials were found:
/// where it looked.
pub(crate) fn no_credentials(config_path: Option<&Path>) -> Error {
    let file = config_path
        .map(|p| format!("{} (api_key, or username and password)", p.display()))
        .unwrap_or_else(|| "no config file (no home directory is known)".to_owned());
    Error::config(
        None,
        format!(
            "no credentials found; looked in TILEDB_REST_TOKEN, TILEDB_REST_USERNAME and \
             TILEDB_REST_PASSWORD, then {file}. For a client without credentials, use \
             Client::anonymous"
        ),
    )
}

/// Reads, in order: `TILEDB_REST_TOKEN`; `TILEDB_REST_USERNAME` with `TILEDB_REST_PASSWORD`;
/// `TILEDB_REST_HOST`; then the file at `config_path` (`api_key`, `username`, `password`, `host`,
/// `verify_ssl`) for whatever the environment left open. `TILEDB_REST_IGNORE_SSL_VALIDATION=true`
/// turns certificate checks off, as in Python.
pub(crate) fn settings_from(
    env: &dyn Fn(&str) -> Option<String>,
    config_path: Option<&Path>,
) -> Result<EnvSettings> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let mut credentials_origin = None;
    let mut credentials = if let Some(token) = var("TILEDB_REST_TOKEN") {
        credentials_origin = Some("TILEDB_REST_TOKEN".to_owned());
        Some(Credentials::api_key(token))
    } else {
        match (var("TILEDB_REST_USERNAME"), var("TILEDB_REST_PASSWORD")) {
            (Some(u), Some(p)) => {
                credentials_origin = Some("TILEDB_REST_USERNAME and TILEDB_REST_PASSWORD".into());
                Some(Credentials::basic(u, p))
            }
            (Some(_), None) => {
                return Err(Error::config(
                    Some("TILEDB_REST_USERNAME".into()),
                    "is set but TILEDB_REST_PASSWORD is not",
                ));
            }
            _ => None,
        }
    };
    let mut host = var("TILEDB_REST_HOST");
    let mut host_origin = host.as_ref().map(|_| "TILEDB_REST_HOST".to_owned());
    let mut verify_tls = !matches!(
        var("TILEDB_REST_IGNORE_SSL_VALIDATION")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("true" | "1" | "yes")
    );

    if let Some(path) = config_path
        && (credentials.is_none() || host.is_none())
    {
        match std::fs::read(path) {
            Ok(bytes) => {
                let file = parse_cloud_json(path, &bytes)?;
                if credentials.is_none() {
                    credentials = match (file.api_key.filter(|k| !k.is_empty()), file.username) {
                        (Some(key), _) => {
                            credentials_origin = Some(file_key(path, "api_key"));
                            Some(Credentials::api_key(key))
                        }
                        (None, Some(u)) if !u.is_empty() => match file.password {
                            Some(p) => {
                                credentials_origin = Some(file_key(path, "username"));
                                Some(Credentials::basic(u, p))
                            }
                            None => {
                                return Err(Error::config(
                                    Some(file_key(path, "username")),
                                    "is set but the key \"password\" is not",
                                ));
                            }
                        },
                        _ => None,
                    };
                }
                if host.is_none() {
                    host = file.host.filter(|h| !h.is_empty());
                    host_origin = host.as_ref().map(|_| file_key(path, "host"));
                }
                if file.verify_ssl == Some(false) {
                    verify_tls = false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::config(
                    Some(path.display().to_string()),
                    format!("cannot be read: {e}"),
                ));
            }
        }
    }
    Ok(EnvSettings {
        credentials,
        credentials_origin,
        host,
        host_origin,
        verify_tls,
    })
}

/// The config file, or an error naming the file, the line and the key, never a value from it.
fn parse_cloud_json(path: &Path, bytes: &[u8]) -> Result<CloudJson> {
    let invalid = |key: Option<String>, e: &serde_json::Error| {
        let mut origin = format!("{}, line {}", path.display(), e.line());
        if let Some(key) = key {
            origin.push_str(&format!(", key {key:?}"));
        }
        // serde_json quotes what it found (`invalid type: string "…"`): never a value.
        Error::config(
            Some(origin),
            format!("is not valid: {}", scrub_values(&e.to_string())),
        )
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let file = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let key = e.path().to_string();
        invalid((key != ".").then_some(key), e.inner())
    })?;
    de.end().map_err(|e| invalid(None, &e))?;
    Ok(file)
}

/// `~/.tiledb/cloud.json`, when a home directory is known.
pub(crate) fn default_config_path() -> Option<PathBuf> {
    std::env::home_dir().map(|h| h.join(".tiledb").join("cloud.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn token_beats_username_and_file() {
        let s = settings_from(
            &env(&[("TILEDB_REST_TOKEN", "tok"), ("TILEDB_REST_USERNAME", "u")]),
            None,
        )
        .unwrap();
        assert_eq!(s.credentials, Some(Credentials::api_key("tok")));
        assert!(s.verify_tls);
    }

    #[test]
    fn the_scrubber_removes_the_key_the_password_and_the_basic_header() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        let key = Scrubber::new(Some(&Credentials::api_key("k3y")));
        assert_eq!(
            key.text("bad key k3y, k3y!"),
            "bad key [redacted], [redacted]!"
        );
        assert_eq!(key.bytes(b"no secret here"), None);
        assert_eq!(key.bytes(b"[k3y]").unwrap(), b"[[redacted]]");
        let basic = Scrubber::new(Some(&Credentials::basic("Aladdin", "open sesame")));
        assert_eq!(
            basic.text("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== / open sesame"),
            "Basic [redacted] / [redacted]"
        );
        assert_eq!(Scrubber::new(None).text("x"), "x");
    }

    #[test]
    fn username_without_password_is_a_config_error() {
        let e = settings_from(&env(&[("TILEDB_REST_USERNAME", "u")]), None).unwrap_err();
        assert!(matches!(&e, Error::Config(c) if c.origin() == Some("TILEDB_REST_USERNAME")));
        assert!(e.to_string().contains("TILEDB_REST_PASSWORD"), "{e}");
    }

    #[test]
    fn cloud_json_fills_what_env_leaves_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.json");
        std::fs::write(
            &path,
            r#"{"api_key":"filekey","host":"eu.example.com","verify_ssl":false,"extra":1}"#,
        )
        .unwrap();
        let s = settings_from(&env(&[]), Some(&path)).unwrap();
        assert_eq!(s.credentials, Some(Credentials::api_key("filekey")));
        assert_eq!(s.host.as_deref(), Some("eu.example.com"));
        assert!(!s.verify_tls);

        let s = settings_from(&env(&[("TILEDB_REST_HOST", "h2")]), Some(&path)).unwrap();
        assert_eq!(s.host.as_deref(), Some("h2"));
    }

    #[test]
    fn broken_cloud_json_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = settings_from(&env(&[]), Some(&path)).unwrap_err();
        assert!(e.to_string().contains("cloud.json"), "{e}");

        std::fs::write(
            &path,
            "{\n  \"host\": \"h\",\n  \"verify_ssl\": \"s3cr3t-ish\"\n}",
        )
        .unwrap();
        let e = settings_from(&env(&[]), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cloud.json, line 3, key \"verify_ssl\""), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn secret_debug_and_display_are_redacted() {
        let c = Credentials::basic("me", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Secret::new("k").to_string(), "[redacted]");
    }
}
