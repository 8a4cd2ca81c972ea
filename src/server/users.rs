//! Users as the binary takes them: `--user NAME:KEY:NS1,NS2[:PASSWORD]`, a users file of such
//! lines (`--users-file`), or the environment variable [`USERS_ENV`], so that keys and passwords
//! need not appear in the process list.
//!
//! A line is split at its first three `:`: the name, the API key, the namespaces (comma-joined,
//! at least one), and, optionally, the password for HTTP Basic, which is the rest of the line (it
//! may contain `:`; the key may not). In a file, blank lines and lines starting with `#` are
//! skipped. In the variable, entries are separated by whitespace, so a password there cannot
//! contain a space (use the file for that). Messages never repeat a key or a password.

use std::fmt;

/// The environment variable holding users, whitespace-separated, in the `--user` form.
pub(crate) const USERS_ENV: &str = "TILEDB_TASKS_SERVER_USERS";

/// One user as configured on the command line, in a file or the environment. Not `Debug` with
/// its secrets: see the manual impl.
#[derive(Clone)]
pub(crate) struct UserSpec {
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) namespaces: Vec<String>,
    pub(crate) password: Option<String>,
}

impl fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSpec")
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .field("namespaces", &self.namespaces)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

const SHAPE: &str = "expected NAME:KEY:NS1,NS2[:PASSWORD]";

/// `NAME:KEY:NS1,NS2[:PASSWORD]`.
pub(crate) fn parse_user(value: &str) -> Result<UserSpec, String> {
    let mut parts = value.splitn(4, ':');
    let (Some(name), Some(key), Some(namespaces)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SHAPE.to_owned());
    };
    let password = parts.next();
    let name = name.trim();
    if name.is_empty() || key.is_empty() {
        return Err(format!("{SHAPE} (name and key must not be empty)"));
    }
    let namespaces: Vec<String> = namespaces
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if namespaces.is_empty() {
        return Err(format!("{SHAPE} (user {name}: at least one namespace)"));
    }
    if password == Some("") {
        return Err(format!(
            "{SHAPE} (user {name}: an empty password; leave out the last ':' for none)"
        ));
    }
    Ok(UserSpec {
        name: name.to_owned(),
        key: key.to_owned(),
        namespaces,
        password: password.map(str::to_owned),
    })
}

/// The users of a users file: one `--user` value per line; blank lines and `#` comments skipped.
/// An error names the line.
pub(crate) fn parse_users_file(text: &str) -> Result<Vec<UserSpec>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| parse_user(line).map_err(|e| format!("line {n}: {e}")))
        .collect()
}

/// The users of [`USERS_ENV`]: `--user` values separated by whitespace. An error names the entry
/// by its position.
pub(crate) fn parse_users_env(value: &str) -> Result<Vec<UserSpec>, String> {
    value
        .split_whitespace()
        .enumerate()
        .map(|(i, entry)| parse_user(entry).map_err(|e| format!("entry {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_name_key_namespaces_and_an_optional_password() {
        let u = parse_user("bob:key:ns1, ns2").unwrap();
        assert_eq!((u.name.as_str(), u.key.as_str()), ("bob", "key"));
        assert_eq!(u.namespaces, vec!["ns1", "ns2"]);
        assert_eq!(u.password, None);
        let u = parse_user("bob:key:ns1:pa:ss").unwrap();
        assert_eq!(u.password.as_deref(), Some("pa:ss"));
        for bad in [
            "bob",
            "bob:key",
            "bob:key:",
            "bob:key: , ",
            ":key:ns",
            "bob::ns",
        ] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_never_repeat_a_secret() {
        for bad in [":secret:ns", "bob:secret:", "bob:secret:ns:"] {
            let err = parse_user(bad).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
        let err = parse_users_file("# users\n\nbob:k:ns:pw\nalice:secret\n").unwrap_err();
        assert!(err.starts_with("line 4:"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        let text = format!("{:?}", parse_user("bob:secret:ns:hunter2").unwrap());
        assert!(
            !text.contains("secret") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn the_environment_holds_whitespace_separated_users() {
        let users = parse_users_env(" a:k1:x:pw\n b:k2:y,z ").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].namespaces, vec!["y", "z"]);
        assert!(
            parse_users_env("a:k1:x b")
                .unwrap_err()
                .starts_with("entry 2:")
        );
    }
}
