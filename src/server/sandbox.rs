//! The SQL sandbox: SQLite's authorizer, which refuses `ATTACH` / `DETACH` (the only way a
//! statement could reach another namespace's file, or any other file), every `PRAGMA` outside a
//! small read-only allowlist, and `load_extension`. `VACUUM` is refused too: SQLite gives the
//! authorizer no action for it, but runs it through an internal `ATTACH`, which is denied, so both
//! `VACUUM` and `VACUUM INTO 'file'` fail.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

use super::engine::Control;
use super::error::shorten;

/// PRAGMAs a query may use: all read-only introspection. Anything else is refused.
const ALLOWED_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// The authorizer's verdict on one action; a refusal is recorded on `control` to explain
/// SQLite's bare "not authorized".
pub(crate) fn authorize(control: &Control, ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Attach { .. } => control.deny(
            "ATTACH is not allowed (VACUUM also needs it); a query sees only its namespace's database"
                .to_owned(),
        ),
        AuthAction::Detach { .. } => control.deny("DETACH is not allowed".to_owned()),
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            let allowed = ALLOWED_PRAGMAS.contains(&name.as_str())
                || (name == "user_version" && pragma_value.is_none());
            if allowed {
                Authorization::Allow
            } else {
                control.deny(format!(
                    "PRAGMA {} is not allowed (allowed: {}, and reading user_version)",
                    shorten(pragma_name, 40),
                    ALLOWED_PRAGMAS.join(", ")
                ))
            }
        }
        AuthAction::Function { function_name }
            if function_name.eq_ignore_ascii_case("load_extension") =>
        {
            control.deny("load_extension is not allowed".to_owned())
        }
        _ => Authorization::Allow,
    }
}
