//! Who may use a standalone server's own routes: secrets (admin tokens, API keys, webhook
//! secrets) read from a flag, an environment variable or a file, never printed; an admin
//! token compared in constant time; and whether a listening address is beyond loopback
//! (where a server refuses to start open).

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use axum::http::HeaderMap;

/// A secret's text. Its `Debug` and `Display` say `<redacted>`, so a log line or an error
/// that formats the struct holding it cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `None` for an empty or blank text: an empty token would let anyone in.
    pub fn new(text: impl Into<String>) -> Option<Self> {
        let text = text.into();
        let trimmed = text.trim();
        (!trimmed.is_empty()).then(|| Secret(trimmed.to_owned()))
    }

    /// The text itself, for the one place that needs it (a comparison, a signature).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `a == b` in time that depends on their lengths only, not on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u64::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        // Compare against the same position of `b` (or a byte that cannot match the length
        // check away): every byte of `a` is looked at whatever `b` holds.
        let y = b.get(i).copied().unwrap_or(!*x);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

/// Whether the request carries `Authorization: Bearer <token>` with this token.
pub fn bearer_matches(headers: &HeaderMap, token: &Secret) -> bool {
    headers
        .get_all("authorization")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.trim().strip_prefix("Bearer "))
        .any(|presented| token.matches(presented.trim()))
}

/// Whether a server listening on `addr` can be reached from other machines.
pub fn beyond_loopback(addr: SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

/// Where one secret may come from, in the order they are tried: the flag's value, the file
/// its `--…-file` flag names, the environment variable.
pub struct SecretSource<'a> {
    /// The flag, e.g. `--admin-token` (for messages).
    pub flag: &'a str,
    pub value: Option<String>,
    /// The file flag, e.g. `--admin-token-file` (for messages).
    pub file_flag: &'a str,
    pub file: Option<&'a Path>,
    /// The environment variable, e.g. `MOCK_CALCOM_ADMIN_TOKEN`.
    pub env: &'a str,
}

impl SecretSource<'_> {
    /// The secret, or `None` if no source gives one. Giving it twice (a flag and a file) or
    /// an empty value is an error naming the flag; a file's trailing newline is dropped.
    pub fn read(self) -> Result<Option<Secret>, String> {
        self.read_with(|name| std::env::var(name).ok())
    }

    /// [`read`](Self::read) with the environment given (tests).
    pub fn read_with(self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, String> {
        let empty = |from: &str| format!("{from} is empty: expected the secret's text");
        match (self.value, self.file) {
            (Some(_), Some(_)) => Err(format!(
                "{} and {} both given: expected one of them",
                self.flag, self.file_flag
            )),
            (Some(value), None) => Secret::new(value).map(Some).ok_or_else(|| empty(self.flag)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("{} {}: cannot read it: {e}", self.file_flag, path.display())
                })?;
                Secret::new(text)
                    .map(Some)
                    .ok_or_else(|| empty(&format!("{} {}", self.file_flag, path.display())))
            }
            (None, None) => match env(self.env) {
                Some(text) => Secret::new(text)
                    .map(Some)
                    .ok_or_else(|| empty(&format!("the environment variable {}", self.env))),
                None => Ok(None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_every_byte_and_the_length_agree() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"token", b"token", true),
            (b"token", b"tokem", false),
            (b"token", b"toke", false),
            (b"toke", b"token", false),
            (b"", b"x", false),
            (b"x", b"", false),
            (b"\xff", b"\x00", false),
        ];
        for (a, b, equal) in cases {
            assert_eq!(constant_time_eq(a, b), *equal, "{a:?} {b:?}");
        }
    }

    #[test]
    fn a_secret_never_shows_in_formatting() {
        let secret = Secret::new("s3cr3t-value").unwrap();
        assert_eq!(format!("{secret:?} {secret}"), "<redacted> <redacted>");
        assert!(Secret::new("  \n").is_none());
    }

    #[test]
    fn bearer_tokens_are_matched_exactly() {
        let token = Secret::new("abc").unwrap();
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", v.parse().unwrap());
            h
        };
        assert!(bearer_matches(&headers("Bearer abc"), &token));
        assert!(!bearer_matches(&headers("Bearer abcd"), &token));
        assert!(!bearer_matches(&headers("abc"), &token));
        assert!(!bearer_matches(&HeaderMap::new(), &token));
    }

    #[test]
    fn secrets_come_from_a_flag_a_file_or_the_environment() {
        let dir = std::env::temp_dir().join(format!("simkit-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        fn source<'a>(value: Option<&str>, file: Option<&'a Path>) -> SecretSource<'a> {
            SecretSource {
                flag: "--admin-token",
                value: value.map(str::to_owned),
                file_flag: "--admin-token-file",
                file,
                env: "X_TOKEN",
            }
        }
        let env = |name: &str| (name == "X_TOKEN").then(|| "from-env".to_owned());
        let got = |s: SecretSource<'_>| s.read_with(env).map(|s| s.map(|s| s.0));
        assert_eq!(got(source(Some("flag"), None)), Ok(Some("flag".into())));
        assert_eq!(got(source(None, Some(&file))), Ok(Some("from-file".into())));
        assert_eq!(got(source(None, None)), Ok(Some("from-env".into())));
        assert_eq!(source(None, None).read_with(|_| None), Ok(None));
        let both = got(source(Some("flag"), Some(&file))).unwrap_err();
        assert!(
            both.contains("--admin-token and --admin-token-file"),
            "{both}"
        );
        let missing = got(source(None, Some(&dir.join("nope")))).unwrap_err();
        assert!(missing.contains("--admin-token-file"), "{missing}");
        let empty = got(source(Some(" "), None)).unwrap_err();
        assert!(empty.contains("--admin-token is empty"), "{empty}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn loopback_is_told_from_every_other_address() {
        for (addr, beyond) in [
            ("127.0.0.1:80", false),
            ("[::1]:80", false),
            ("0.0.0.0:80", true),
            ("[::]:80", true),
            ("192.168.1.4:80", true),
        ] {
            assert_eq!(beyond_loopback(addr.parse().unwrap()), beyond, "{addr}");
        }
    }
}
