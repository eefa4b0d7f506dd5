//! Where a store's data lives, as the caller names it: a file, memory, or a PostgreSQL server.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a store's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    /// A private in-memory database, gone when the store is dropped.
    Memory,
    /// A PostgreSQL server: a `postgresql://` (or `postgres://`) URL.
    Postgres(ServerUrl),
}

impl Location {
    /// `":memory:"` (or an empty path) means memory; a `postgresql://` or `postgres://` URL a
    /// server; anything else is a file path.
    pub fn from_path(path: impl AsRef<Path>) -> Location {
        let path = path.as_ref();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Location::Memory;
        }
        match path.to_str() {
            Some(text) if ServerUrl::is_server_url(text) => Location::Postgres(ServerUrl(text.to_string())),
            _ => Location::File(path.to_path_buf()),
        }
    }
}

/// As a caller would write it: `:memory:`, the file's path, or the server's URL without its password.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Memory => f.write_str(":memory:"),
            Location::Postgres(url) => fmt::Display::fmt(url, f),
        }
    }
}

/// A server's URL. Shown (`Display`, `Debug`) with its password replaced by `***`, so that no
/// error, log or summary can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl(String);

impl ServerUrl {
    pub fn is_server_url(text: &str) -> bool {
        text.starts_with("postgresql://") || text.starts_with("postgres://")
    }

    /// The URL as given, password included: for the driver only.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with any password (`user:password@`, `password=`) replaced by `***`. Safe before
    /// exact: everything up to the last `@` counts as the user's part, so that a password holding
    /// a raw `/`, `?` or `@` (a malformed URL, but one a user may type) is hidden too.
    pub fn redacted(&self) -> String {
        let text = &self.0;
        let Some((scheme, rest)) = text.split_once("://") else { return "***".to_string() };
        let (user, rest) = match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((name, _)) => (format!("{name}:***@"), host),
                None => (format!("{userinfo}@"), host),
            },
            None => (String::new(), rest),
        };
        let rest = match rest.split_once('?') {
            Some((path, query)) => {
                let query = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                        _ => pair.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                format!("{path}?{query}")
            }
            None => rest.to_string(),
        };
        format!("{scheme}://{user}{rest}")
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerUrl({:?})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        let url = ServerUrl("postgresql://ann:s3cret@db.example:5432/app?sslmode=require&password=other".into());
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("other"), "{shown}");
        assert_eq!(url.redacted(), "postgresql://ann:***@db.example:5432/app?sslmode=require&password=***");
        assert_eq!(ServerUrl("postgres://h/db".into()).redacted(), "postgres://h/db");
        // Malformed, with a raw '?', '/' or '@' in the password: hidden all the same.
        for raw in ["postgresql://ann:pa?ss@h/db", "postgresql://ann:pa/ss@h/db", "postgresql://ann:p@ss@h/db?x=1"] {
            let shown = ServerUrl(raw.into()).redacted();
            assert!(!shown.contains("pa") && !shown.contains("ss@"), "{raw}: {shown}");
        }
    }

    #[test]
    fn urls_name_a_server_and_paths_a_file() {
        assert!(matches!(Location::from_path("postgresql://h/db"), Location::Postgres(_)));
        assert!(matches!(Location::from_path("postgres://h/db"), Location::Postgres(_)));
        assert_eq!(Location::from_path("state.db"), Location::File("state.db".into()));
        assert_eq!(Location::from_path(":memory:"), Location::Memory);
    }
}
