//! Who is calling: API key (`X-TILEDB-REST-API-KEY`) or HTTP Basic, as the spec's two schemes.
//!
//! Secrets are compared without an early exit, over every configured user, so the time an answer
//! takes says nothing about how much of a key was right or which user it nearly matched. Nothing in
//! this module logs or formats a secret.

use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;

use super::error::{ApiFailure, ErrorCode};
use crate::model::API_KEY_HEADER;

/// One configured user: a name, a key, an optional password, and the namespaces it may use.
pub(crate) struct User {
    pub(crate) name: String,
    api_key: String,
    password: Option<String>,
    pub(crate) namespaces: Vec<String>,
}

impl User {
    pub(crate) fn new(
        name: String,
        api_key: String,
        password: Option<String>,
        namespaces: Vec<String>,
    ) -> Self {
        User {
            name,
            api_key,
            password,
            namespaces,
        }
    }

    /// Whether this user may run tasks in, and see the tasks of, `namespace`.
    pub(crate) fn can_use(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|n| n == namespace)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("api_key", &"<redacted>")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("namespaces", &self.namespaces)
            .finish()
    }
}

/// Every configured user, for authentication.
#[derive(Debug)]
pub(crate) struct Users {
    users: Vec<Arc<User>>,
}

impl Users {
    pub(crate) fn new(users: Vec<User>) -> Self {
        Users {
            users: users.into_iter().map(Arc::new).collect(),
        }
    }

    /// The user the request's credentials identify, or a 401.
    ///
    /// A valid API key wins; otherwise valid Basic credentials; anything else (missing, wrong,
    /// undecodable) is refused with the same kind of answer, naming only which scheme failed.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<User>, ApiFailure> {
        let key = headers.get(API_KEY_HEADER);
        let basic = headers.get(header::AUTHORIZATION);
        if key.is_none() && basic.is_none() {
            return Err(unauthenticated(format!(
                "missing credentials: send {API_KEY_HEADER} or Authorization: Basic"
            )));
        }
        if let Some(key) = key
            && let Some(user) = self.by_key(key.as_bytes())
        {
            return Ok(user);
        }
        if let Some(basic) = basic {
            return match basic_credentials(basic.as_bytes()) {
                Some((name, password)) => self.by_password(&name, &password).ok_or_else(|| {
                    unauthenticated("invalid credentials: wrong user name or password")
                }),
                None => Err(unauthenticated(
                    "invalid credentials: the Authorization header is not Basic base64(user:password)",
                )),
            };
        }
        Err(unauthenticated("invalid credentials: unknown API key"))
    }

    /// Whether `key` is some user's API key (the admin key must not be one).
    pub(crate) fn knows_key(&self, key: &str) -> bool {
        self.by_key(key.as_bytes()).is_some()
    }

    fn by_key(&self, key: &[u8]) -> Option<Arc<User>> {
        // Visit every user (no early exit) so timing does not reveal which one matched.
        let mut found = None;
        for user in &self.users {
            if constant_time_eq(user.api_key.as_bytes(), key) && found.is_none() {
                found = Some(Arc::clone(user));
            }
        }
        found
    }

    fn by_password(&self, name: &str, password: &[u8]) -> Option<Arc<User>> {
        let mut found = None;
        for user in &self.users {
            let name_ok = constant_time_eq(user.name.as_bytes(), name.as_bytes());
            let password_ok = match &user.password {
                Some(p) => constant_time_eq(p.as_bytes(), password),
                // A user without a password never logs in with Basic; still do the work.
                None => {
                    std::hint::black_box(constant_time_eq(b"", password));
                    false
                }
            };
            if name_ok & password_ok && found.is_none() {
                found = Some(Arc::clone(user));
            }
        }
        found
    }
}

fn unauthenticated(message: impl Into<String>) -> ApiFailure {
    ApiFailure::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthenticated,
        message,
    )
}

/// `(user, password)` from an `Authorization: Basic ...` value; `None` when it is anything else.
fn basic_credentials(value: &[u8]) -> Option<(String, Vec<u8>)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let name = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((name, decoded[colon + 1..].to_vec()))
}

/// Equality whose running time depends only on the lengths, not on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        Users::new(vec![
            User::new(
                "a".into(),
                "key-a".into(),
                Some("pw".into()),
                vec!["x".into()],
            ),
            User::new("b".into(), "key-b".into(), None, vec!["y".into()]),
        ])
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn basic(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    #[test]
    fn constant_time_eq_matches_plain_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn api_key_identifies_its_user() {
        let u = users()
            .authenticate(&headers(&[(API_KEY_HEADER, "key-b")]))
            .unwrap();
        assert_eq!(u.name, "b");
    }

    #[test]
    fn basic_needs_a_configured_password() {
        let users = users();
        let ok = users
            .authenticate(&headers(&[("authorization", &basic("a", "pw"))]))
            .unwrap();
        assert_eq!(ok.name, "a");
        assert!(
            users
                .authenticate(&headers(&[("authorization", &basic("a", "nope"))]))
                .is_err()
        );
        assert!(
            users
                .authenticate(&headers(&[("authorization", &basic("b", ""))]))
                .is_err()
        );
        assert!(
            users
                .authenticate(&headers(&[("authorization", "Basic !!!")]))
                .is_err()
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!("{:?}", users());
        assert!(!text.contains("key-a"));
        assert!(!text.contains("pw\""));
    }
}
