//! Credential references, resolved at the moment of use (SPEC section 12).
//!
//! Configuration only ever names a credential (`telegram_bot`); its value comes from the
//! environment variable `MC_CRED_<NAME>` or, failing that, from the settings'
//! `credentials_file`, a YAML map of `name: value`. Nothing is cached: the file is read at
//! every call, so rotating a secret needs no reload, and a value lives in memory only while
//! the caller uses it. Every value handed out is first registered with the global redactor,
//! so it is masked in whatever leaves the process afterwards.
//!
//! The file is refused unless only its owner can read it (mode 0600 or stricter) and it lies
//! outside the workspace, which is usually a git checkout. Error messages name the variable,
//! the file and the mode, never a value.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;

use crate::config::Settings;

/// The prefix of the environment variables that hold credentials.
pub const ENV_PREFIX: &str = "MC_CRED_";

/// Resolves credential references. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: Option<PathBuf>,
    workspace: PathBuf,
}

/// Why a credential could not be resolved. No message ever contains a value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credential {name}: not a valid reference (expected lower-case letters, digits and _)")]
    BadName { name: String },
    #[error("credential {name}: not set: set {var}, or add `{name}` to {}", file_hint(.file.as_deref()))]
    Missing { name: String, var: String, file: Option<PathBuf> },
    #[error("credential {name}: {var} is not valid UTF-8")]
    NotUnicode { name: String, var: String },
    #[error("credential {name}: cannot read credentials file {}: {source}", .path.display())]
    Unreadable {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "credential {name}: credentials file {} has mode {mode:04o}; it must be readable by its owner only (chmod 600)",
        .path.display()
    )]
    BadMode { name: String, path: PathBuf, mode: u32 },
    #[error(
        "credential {name}: credentials file {} lies inside the workspace, which is kept in git; move it out",
        .path.display()
    )]
    InsideWorkspace { name: String, path: PathBuf },
    #[error("credential {name}: credentials file {} is not a YAML map of name: value{}", .path.display(), place(*.line))]
    BadYaml { name: String, path: PathBuf, line: Option<(u64, u64)> },
    #[error("credential {name}: the value in {} is not a string; quote it", .path.display())]
    NotAString { name: String, path: PathBuf },
}

fn file_hint(file: Option<&Path>) -> String {
    match file {
        Some(path) => path.display().to_string(),
        None => "a credentials_file (none is set in mission-control.yaml)".to_string(),
    }
}

fn place(at: Option<(u64, u64)>) -> String {
    // Only the position: a parser message may quote the text, and the text holds secrets.
    at.map_or_else(String::new, |(line, column)| format!(" (line {line}, column {column})"))
}

impl Credentials {
    pub fn new(settings: &Settings, workspace: &Path) -> Credentials {
        Credentials {
            inner: Arc::new(Inner {
                file: settings.credentials_file.clone(),
                workspace: workspace.to_path_buf(),
            }),
        }
    }

    /// The environment variable that holds `name`: `MC_CRED_<NAME>`.
    pub fn env_var(name: &str) -> String {
        format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
    }

    /// `MC_CRED_<NAME>` from the environment, else the credentials file, read now. Surrounding
    /// whitespace is dropped, and an empty value counts as unset. The value is registered with
    /// [`crate::redact::global`] before it is returned.
    pub fn resolve(&self, name: &str) -> Result<SecretString, CredentialError> {
        // The config validator enforces this already; checking here keeps a stray name from
        // reaching the environment API (`=` or NUL in a variable name) or a file lookup.
        if !valid_name(name) {
            return Err(CredentialError::BadName { name: name.to_string() });
        }
        let var = Credentials::env_var(name);
        if let Some(raw) = std::env::var_os(&var) {
            let Some(text) = raw.to_str() else {
                return Err(CredentialError::NotUnicode { name: name.to_string(), var });
            };
            let value = text.trim();
            if !value.is_empty() {
                return Ok(register(value));
            }
        }
        let missing = |file: Option<&Path>| CredentialError::Missing {
            name: name.to_string(),
            var: var.clone(),
            file: file.map(Path::to_path_buf),
        };
        let Some(path) = self.inner.file.as_deref() else {
            return Err(missing(None));
        };
        match self.read_file(name, path)?.remove(name) {
            None | Some(serde_json::Value::Null) => Err(missing(Some(path))),
            Some(serde_json::Value::String(text)) => match text.trim() {
                "" => Err(missing(Some(path))),
                value => Ok(register(value)),
            },
            Some(_) => Err(CredentialError::NotAString { name: name.to_string(), path: path.to_path_buf() }),
        }
    }

    /// Reads the credentials file after checking where it lies and who may read it.
    fn read_file(
        &self,
        name: &str,
        path: &Path,
    ) -> Result<BTreeMap<String, serde_json::Value>, CredentialError> {
        let unreadable =
            |source| CredentialError::Unreadable { name: name.to_string(), path: path.to_path_buf(), source };
        // Canonical paths, so a `..` or a symlinked folder cannot smuggle the file into git.
        let canonical = path.canonicalize().map_err(unreadable)?;
        let workspace = self.inner.workspace.canonicalize().unwrap_or_else(|_| self.inner.workspace.clone());
        if canonical.starts_with(&workspace) {
            return Err(CredentialError::InsideWorkspace {
                name: name.to_string(),
                path: path.to_path_buf(),
            });
        }
        let metadata = std::fs::metadata(&canonical).map_err(unreadable)?;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CredentialError::BadMode { name: name.to_string(), path: path.to_path_buf(), mode });
        }
        let text = std::fs::read_to_string(&canonical).map_err(unreadable)?;
        if text.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        serde_saphyr::from_str(&text).map_err(|error| CredentialError::BadYaml {
            name: name.to_string(),
            path: path.to_path_buf(),
            line: error.location().map(|l| (l.line(), l.column())),
        })
    }
}

/// `^[a-z][a-z0-9_]{0,63}$`, as in the configuration.
fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

fn register(value: &str) -> SecretString {
    crate::redact::global().add_secret(value);
    SecretString::from(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::os::unix::fs::OpenOptionsExt;

    fn settings_with(file: Option<PathBuf>) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::load(dir.path(), chrono::Utc::now()).unwrap().settings;
        settings.credentials_file = file;
        settings
    }

    /// A workspace folder and, beside it (outside), a credentials file with `mode`.
    fn setup(contents: &str, mode: u32) -> (tempfile::TempDir, PathBuf, Credentials) {
        let root = tempfile::tempdir().unwrap();
        let workspace = root.path().join("workspace");
        std::fs::create_dir(&workspace).unwrap();
        let file = root.path().join("credentials.yaml");
        write_mode(&file, contents, mode);
        let credentials = Credentials::new(&settings_with(Some(file.clone())), &workspace);
        (root, file, credentials)
    }

    fn write_mode(path: &Path, contents: &str, mode: u32) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        // The umask may have narrowed the mode at creation; set it exactly.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn file_value_resolves_and_is_masked_afterwards() {
        let (_root, _file, credentials) =
            setup("cred_test_file_a: \"s3cr3t-from-file-a\"\nother: x\n", 0o600);
        let value = credentials.resolve("cred_test_file_a").unwrap();
        assert_eq!(value.expose_secret(), "s3cr3t-from-file-a");
        assert_eq!(crate::redact::redact("got s3cr3t-from-file-a here"), "got [REDACTED] here");
    }

    #[test]
    fn environment_wins_over_file() {
        let (_root, _file, credentials) = setup("cred_test_env_b: from-the-file-b\n", 0o600);
        // SAFETY: std serialises its own environment access; the name is unique to this test.
        unsafe { std::env::set_var("MC_CRED_CRED_TEST_ENV_B", "  from-the-env-b\n") };
        let value = credentials.resolve("cred_test_env_b").unwrap();
        assert_eq!(value.expose_secret(), "from-the-env-b");
        assert_eq!(crate::redact::redact("x from-the-env-b y"), "x [REDACTED] y");
    }

    #[test]
    fn world_readable_file_is_refused_with_its_mode() {
        let (_root, _file, credentials) = setup("cred_test_mode_c: value-c-secret\n", 0o644);
        let err = credentials.resolve("cred_test_mode_c").unwrap_err();
        assert!(matches!(err, CredentialError::BadMode { mode: 0o644, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("0644") && text.contains("chmod 600"), "{text}");
        assert!(!text.contains("value-c-secret"));
    }

    #[test]
    fn file_inside_the_workspace_is_refused() {
        let workspace = tempfile::tempdir().unwrap();
        let file = workspace.path().join("state").join("creds.yaml");
        std::fs::create_dir(file.parent().unwrap()).unwrap();
        write_mode(&file, "cred_test_inside_d: value-d\n", 0o600);
        let credentials = Credentials::new(&settings_with(Some(file)), workspace.path());
        let err = credentials.resolve("cred_test_inside_d").unwrap_err();
        assert!(matches!(err, CredentialError::InsideWorkspace { .. }), "{err:?}");
    }

    #[test]
    fn missing_names_the_variable_and_the_file() {
        let (_root, file, credentials) = setup("something_else: value\n", 0o600);
        let text = credentials.resolve("cred_test_missing_e").unwrap_err().to_string();
        assert!(text.starts_with("credential cred_test_missing_e: not set"), "{text}");
        assert!(text.contains("MC_CRED_CRED_TEST_MISSING_E"), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");

        let none = Credentials::new(&settings_with(None), Path::new("/nonexistent"));
        let text = none.resolve("cred_test_missing_e").unwrap_err().to_string();
        assert!(text.contains("MC_CRED_CRED_TEST_MISSING_E") && text.contains("credentials_file"), "{text}");
    }

    #[test]
    fn bad_yaml_and_non_strings_never_show_the_text() {
        let (_root, _file, credentials) = setup("- leaked-secret-value-f\n- [", 0o600);
        let err = credentials.resolve("cred_test_yaml_f").unwrap_err();
        assert!(matches!(err, CredentialError::BadYaml { .. }), "{err:?}");
        assert!(!err.to_string().contains("leaked"), "{err}");

        let (_root, _file, credentials) = setup("cred_test_yaml_g: 123456789\n", 0o600);
        let err = credentials.resolve("cred_test_yaml_g").unwrap_err();
        assert!(matches!(err, CredentialError::NotAString { .. }), "{err:?}");
        assert!(!err.to_string().contains("123456789"), "{err}");
    }

    #[test]
    fn unreadable_file_and_bad_names_are_errors() {
        let root = tempfile::tempdir().unwrap();
        let credentials =
            Credentials::new(&settings_with(Some(root.path().join("absent.yaml"))), &root.path().join("ws"));
        let err = credentials.resolve("cred_test_absent_h").unwrap_err();
        assert!(matches!(err, CredentialError::Unreadable { .. }), "{err:?}");
        for bad in ["", "Upper", "a=b", "a\0b", "1abc"] {
            assert!(matches!(credentials.resolve(bad), Err(CredentialError::BadName { .. })), "{bad:?}");
        }
    }
}
