//! The root key: kept outside the database, in a key file (mode 0600) or an environment variable.
//!
//! The key source holds one or more versions, one per line: `<version>:<base64 of 32 bytes>`.
//! Lines starting with `#` are comments. Rotation appends a version; the database records which
//! version is active and a check value for each (a MAC under the key), never the key itself.

use super::{CryptoError, Result, SecretKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One version of the root key.
#[derive(Clone, Debug)]
pub struct RootKey {
    pub version: i64,
    pub key: SecretKey,
}

impl RootKey {
    /// A value stored in the database to recognise this key without revealing it.
    pub fn check_value(&self) -> String {
        hex::encode(&self.key.mac(&[b"capcrm-root-key-check-v1"])[..16])
    }
}

/// Where the root key comes from.
#[derive(Clone, Debug)]
pub enum RootKeySource {
    File(PathBuf),
    /// The value of `CAPCRM_ROOT_KEY`; it cannot be rewritten, so online rotation needs a key file.
    Env(zeroize::Zeroizing<String>),
}

/// All root key versions the process knows.
#[derive(Clone, Debug)]
pub struct RootKeyring {
    source: RootKeySource,
    keys: BTreeMap<i64, RootKey>,
}

impl RootKeyring {
    pub fn load(source: RootKeySource) -> Result<Self> {
        let text = match &source {
            RootKeySource::File(path) => read_key_file(path)?,
            RootKeySource::Env(v) => zeroize::Zeroizing::new(v.to_string()),
        };
        let keys = parse(&text)?;
        if keys.is_empty() {
            return Err(CryptoError::RootKey(format!("{} holds no root key", describe(&source))));
        }
        Ok(RootKeyring { source, keys })
    }

    /// Re-reads the source: another process (key rotation) may have added a version.
    pub fn reload(&mut self) -> Result<()> {
        let fresh = RootKeyring::load(self.source.clone())?;
        self.keys = fresh.keys;
        Ok(())
    }

    pub fn get(&self, version: i64) -> Option<&RootKey> {
        self.keys.get(&version)
    }
    pub fn newest(&self) -> &RootKey {
        self.keys.values().next_back().expect("a keyring is never empty")
    }
    pub fn versions(&self) -> impl Iterator<Item = i64> + '_ {
        self.keys.keys().copied()
    }
    pub fn source(&self) -> &RootKeySource {
        &self.source
    }

    /// Creates a new key file holding a fresh version 1. Refuses to overwrite an existing file.
    pub fn create_file(path: &Path) -> Result<RootKeyring> {
        if path.exists() {
            return Err(CryptoError::RootKey(format!("key file {} already exists; refusing to overwrite it", path.display())));
        }
        let key = RootKey { version: 1, key: SecretKey::generate() };
        write_key_file(path, std::slice::from_ref(&key))?;
        RootKeyring::load(RootKeySource::File(path.to_path_buf()))
    }

    /// Appends a new version to the key file (atomically: write a temporary file, then rename).
    pub fn add_version(&mut self) -> Result<RootKey> {
        let RootKeySource::File(path) = &self.source else {
            return Err(CryptoError::RootKey(
                "the root key comes from CAPCRM_ROOT_KEY, which capcrm cannot rewrite; use a key file for rotation".into(),
            ));
        };
        let key = RootKey { version: self.newest().version + 1, key: SecretKey::generate() };
        let mut all: Vec<RootKey> = self.keys.values().cloned().collect();
        all.push(key.clone());
        write_key_file(path, &all)?;
        self.keys.insert(key.version, key.clone());
        Ok(key)
    }

    /// Removes retired versions from the key file once nothing is wrapped under them any more.
    pub fn drop_versions(&mut self, keep_from: i64) -> Result<()> {
        let RootKeySource::File(path) = &self.source else { return Ok(()) };
        let kept: Vec<RootKey> = self.keys.values().filter(|k| k.version >= keep_from).cloned().collect();
        write_key_file(path, &kept)?;
        self.keys.retain(|v, _| *v >= keep_from);
        Ok(())
    }
}

/// Encodes one key as a line of a key file or the value of `CAPCRM_ROOT_KEY`.
pub fn encode_line(key: &RootKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!("{}:{}", key.version, B64.encode(key.key.expose())))
}

fn describe(source: &RootKeySource) -> String {
    match source {
        RootKeySource::File(p) => format!("key file {}", p.display()),
        RootKeySource::Env(_) => "CAPCRM_ROOT_KEY".into(),
    }
}

fn read_key_file(path: &Path) -> Result<zeroize::Zeroizing<String>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CryptoError::RootKey(format!("cannot read key file {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::RootKey(format!(
                "key file {} is readable by others (mode {mode:o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    std::fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| CryptoError::RootKey(format!("cannot read key file {}: {e}", path.display())))
}

fn parse(text: &str) -> Result<BTreeMap<i64, RootKey>> {
    let mut keys = BTreeMap::new();
    // One entry a line; CAPCRM_ROOT_KEY may also separate entries with commas.
    let entries = text.lines().map(str::trim).filter(|l| !l.starts_with('#')).flat_map(|l| l.split(','));
    for (n, line) in entries.enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || CryptoError::RootKey(format!("root key entry {} is not `<version>:<base64 of 32 bytes>`", n + 1));
        let (v, b) = line.split_once(':').ok_or_else(bad)?;
        let version: i64 = v.trim().parse().map_err(|_| bad())?;
        let bytes = zeroize::Zeroizing::new(B64.decode(b.trim()).map_err(|_| bad())?);
        let key = SecretKey::from_slice(&bytes).map_err(|_| bad())?;
        keys.insert(version, RootKey { version, key });
    }
    Ok(keys)
}

fn write_key_file(path: &Path, keys: &[RootKey]) -> Result<()> {
    let err = |e: std::io::Error| CryptoError::RootKey(format!("cannot write key file {}: {e}", path.display()));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("root.key"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let _ = std::fs::remove_file(&tmp);
    let mut f = opts.open(&tmp).map_err(err)?;
    let mut body = zeroize::Zeroizing::new(String::from(
        "# capcrm root key: keep this file apart from the data and its backups, mode 0600.\n",
    ));
    for k in keys {
        body.push_str(&encode_line(k));
        body.push('\n');
    }
    f.write_all(body.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_rotate_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let mut ring = RootKeyring::create_file(&path).unwrap();
        assert!(RootKeyring::create_file(&path).is_err(), "never overwrites");
        let v2 = ring.add_version().unwrap();
        assert_eq!(v2.version, 2);
        let again = RootKeyring::load(RootKeySource::File(path.clone())).unwrap();
        assert_eq!(again.versions().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(again.get(2).unwrap().check_value(), v2.check_value());
        ring.drop_versions(2).unwrap();
        let again = RootKeyring::load(RootKeySource::File(path)).unwrap();
        assert_eq!(again.versions().collect::<Vec<_>>(), vec![2]);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_world_readable_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        RootKeyring::create_file(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = RootKeyring::load(RootKeySource::File(path)).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn env_format_and_errors() {
        let k = RootKey { version: 3, key: SecretKey::generate() };
        let ring = RootKeyring::load(RootKeySource::Env(encode_line(&k))).unwrap();
        assert_eq!(ring.newest().version, 3);
        let err = RootKeyring::load(RootKeySource::Env(zeroize::Zeroizing::new("3:short".into()))).unwrap_err();
        assert!(err.to_string().contains("<version>:"), "{err}");
        assert!(RootKeyring::load(RootKeySource::Env(zeroize::Zeroizing::new("# only a comment".into()))).is_err());
    }
}
