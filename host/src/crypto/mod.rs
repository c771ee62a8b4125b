//! Envelope encryption: the only place that encrypts or decrypts customer data.
//!
//! A root key (kept outside the database, see [`root`]) wraps data keys; a data key per data subject
//! (or per object for records without a subject) seals field values with AES-256-GCM. The associated
//! data binds every ciphertext to its object, record, field and key version, so a ciphertext moved to
//! another record or field fails to open instead of leaking. Blind indexes (keyed HMACs of normalised
//! values) make equality lookups on sealed fields possible without storing the value.

pub mod keystore;
pub mod root;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use root::{RootKey, RootKeyring};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, or the ciphertext was altered or moved to another place.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("malformed ciphertext: {0}")]
    Malformed(String),
    #[error("root key: {0}")]
    RootKey(String),
    /// The subject's key was destroyed (erasure): the data is gone for good.
    #[error("key {0} was destroyed")]
    Destroyed(String),
}

pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

/// A 256-bit symmetric key that wipes itself from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut OsRng, &mut k);
        SecretKey(k)
    }
    pub fn from_bytes(b: [u8; 32]) -> Self {
        SecretKey(b)
    }
    pub fn from_slice(b: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = b.try_into().map_err(|_| CryptoError::Malformed("key is not 32 bytes".into()))?;
        Ok(SecretKey(arr))
    }
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.0).expect("32-byte key")
    }
    /// A keyed MAC under this key.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.0).expect("any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
    /// A sub-key for one purpose, so one key never serves two algorithms.
    pub fn derive(&self, info: &str) -> SecretKey {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"capcrm"), &self.0);
        let mut out = [0u8; 32];
        hk.expand(info.as_bytes(), &mut out).expect("32 bytes is a valid length");
        SecretKey(out)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

const SEAL_FORMAT: u8 = 1;

/// AES-256-GCM with a fresh random nonce; output is `format || nonce || ciphertext+tag`.
pub fn seal(key: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ct = key.cipher().encrypt(&nonce, Payload { msg: plaintext, aad }).expect("AES-GCM encryption cannot fail");
    let mut out = Vec::with_capacity(1 + 12 + ct.len());
    out.push(SEAL_FORMAT);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

pub fn open(key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < 1 + 12 + 16 || sealed[0] != SEAL_FORMAT {
        return Err(CryptoError::Malformed("unknown format or too short".into()));
    }
    let nonce = Nonce::from_slice(&sealed[1..13]);
    key.cipher()
        .decrypt(nonce, Payload { msg: &sealed[13..], aad })
        .map_err(|_| CryptoError::Integrity("ciphertext does not authenticate for this place".into()))
}

/// Where a field value lives; becomes the associated data of its ciphertext.
#[derive(Debug, Clone, Copy)]
pub struct FieldPlace<'a> {
    pub object: &'a str,
    pub record_id: &'a str,
    pub field: &'a str,
    pub key_id: &'a str,
    pub key_version: i64,
}

impl FieldPlace<'_> {
    fn aad(&self) -> Vec<u8> {
        let v = self.key_version.to_string();
        let parts: [&[u8]; 6] = [
            b"capcrm-field-v1",
            self.object.as_bytes(),
            self.record_id.as_bytes(),
            self.field.as_bytes(),
            self.key_id.as_bytes(),
            v.as_bytes(),
        ];
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }
}

/// A data key in clear, with the identity that goes into every ciphertext's associated data.
#[derive(Clone, Debug)]
pub struct DataKey {
    pub id: String,
    pub version: i64,
    pub key: SecretKey,
}

impl DataKey {
    /// Seals one field value (its JSON encoding) for one place; returns base64 text for storage.
    pub fn seal_field(&self, object: &str, record_id: &str, field: &str, value: &serde_json::Value) -> String {
        let place = FieldPlace { object, record_id, field, key_id: &self.id, key_version: self.version };
        let plain = serde_json::to_vec(value).expect("JSON values serialise");
        B64.encode(seal(&self.key, &place.aad(), &plain))
    }

    /// Opens a field value sealed by [`DataKey::seal_field`] for exactly this place.
    pub fn open_field(&self, object: &str, record_id: &str, field: &str, sealed: &str) -> Result<serde_json::Value> {
        let place = FieldPlace { object, record_id, field, key_id: &self.id, key_version: self.version };
        let bytes = B64.decode(sealed).map_err(|_| CryptoError::Malformed(format!("field `{field}` is not base64")))?;
        let plain = open(&self.key, &place.aad(), &bytes)
            .map_err(|_| CryptoError::Integrity(format!("field `{field}` of {object} {record_id} does not authenticate")))?;
        serde_json::from_slice(&plain).map_err(|_| CryptoError::Malformed(format!("field `{field}` is not JSON")))
    }

    /// The pseudonym of a subject in audit entries: only computable while the subject's key exists,
    /// so after erasure nobody can tell whom the old entries were about.
    pub fn pseudonym(&self, subject_id: &str) -> String {
        let d = self.key.mac(&[b"capcrm-pseudonym-v1", subject_id.as_bytes()]);
        format!("ps_{}", hex::encode(&d[..16]))
    }
}

/// Computes blind indexes: a keyed HMAC of the normalised value, per kind of value (email, phone, id),
/// so the same email on a contact and a lead gives the same digest and dedupe can compare them.
#[derive(Clone, Debug)]
pub struct BlindIndexer {
    key: SecretKey,
}

impl BlindIndexer {
    pub fn new(index_root: &SecretKey) -> Self {
        BlindIndexer { key: index_root.derive("blind-index-v1") }
    }
    pub fn digest(&self, kind: &str, normalised: &str) -> String {
        let d = self.key.mac(&[kind.as_bytes(), normalised.as_bytes()]);
        hex::encode(&d[..16])
    }
}

/// Names a client's address to plugins without giving it away: a keyed digest per plugin and per
/// UTC day. A plugin can count a client's requests (to rate-limit a public form) but cannot learn
/// the address, link a client across plugins, or follow it from one day to the next. An IPv6
/// client counts as its /64, which one subscriber usually holds whole.
#[derive(Clone, Debug)]
pub struct ClientDigester {
    key: SecretKey,
}

impl ClientDigester {
    pub fn new(index_root: &SecretKey) -> Self {
        ClientDigester { key: index_root.derive("plugin-client-v1") }
    }
    pub fn digest(&self, plugin: &str, ip: std::net::IpAddr, day: i64) -> String {
        let addr: Vec<u8> = match ip.to_canonical() {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
        };
        let d = self.key.mac(&[plugin.as_bytes(), &day.to_be_bytes(), &addr]);
        hex::encode(&d[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_digests_count_a_client_without_naming_it() {
        let root = SecretKey::generate();
        let c = ClientDigester::new(&root);
        let ip: std::net::IpAddr = "203.0.113.7".parse().unwrap();
        let d = c.digest("leads", ip, 20_000);
        assert_eq!(d, c.digest("leads", ip, 20_000), "stable within a day, so a plugin can count");
        assert_eq!(d.len(), 32);
        assert!(d.chars().all(|ch| ch.is_ascii_hexdigit()), "hex, so nothing of the address shows");
        assert_ne!(d, c.digest("leads", "203.0.113.8".parse().unwrap(), 20_000), "clients differ");
        assert_ne!(d, c.digest("dsr", ip, 20_000), "plugins cannot link a client");
        assert_ne!(d, c.digest("leads", ip, 20_001), "nor follow it past the day");
        assert_eq!(d, c.digest("leads", "::ffff:203.0.113.7".parse().unwrap(), 20_000), "a mapped IPv4 address is the IPv4 client");
        let a = c.digest("leads", "2001:db8:1:2::1".parse().unwrap(), 20_000);
        assert_eq!(a, c.digest("leads", "2001:db8:1:2:ffff::9".parse().unwrap(), 20_000), "one /64, one client");
        assert_ne!(a, c.digest("leads", "2001:db8:1:3::1".parse().unwrap(), 20_000));
        assert_ne!(d, ClientDigester::new(&SecretKey::generate()).digest("leads", ip, 20_000), "keyed: another key, another digest");
        assert_ne!(c.key.expose(), BlindIndexer::new(&root).key.expose(), "its own sub-key");
    }

    fn dk() -> DataKey {
        DataKey { id: "k1".into(), version: 1, key: SecretKey::generate() }
    }

    #[test]
    fn field_round_trip_and_binding() {
        let k = dk();
        let v = json!("canary@example.com");
        let s = k.seal_field("contact", "r1", "email", &v);
        assert!(!s.contains("canary"));
        assert_eq!(k.open_field("contact", "r1", "email", &s).unwrap(), v);
        // Moved to another record, field or object: refuses.
        assert!(matches!(k.open_field("contact", "r2", "email", &s), Err(CryptoError::Integrity(_))));
        assert!(matches!(k.open_field("contact", "r1", "phone", &s), Err(CryptoError::Integrity(_))));
        assert!(matches!(k.open_field("lead", "r1", "email", &s), Err(CryptoError::Integrity(_))));
        // Another key version of the same key id: refuses.
        let k2 = DataKey { version: 2, ..k.clone() };
        assert!(k2.open_field("contact", "r1", "email", &s).is_err());
        // Fresh nonce: same value twice seals differently.
        assert_ne!(s, k.seal_field("contact", "r1", "email", &v));
    }

    #[test]
    fn blind_index_is_stable_and_keyed() {
        let root = SecretKey::generate();
        let a = BlindIndexer::new(&root);
        assert_eq!(a.digest("email", "a@b.com"), a.digest("email", "a@b.com"));
        assert_ne!(a.digest("email", "a@b.com"), a.digest("phone", "a@b.com"));
        let b = BlindIndexer::new(&SecretKey::generate());
        assert_ne!(a.digest("email", "a@b.com"), b.digest("email", "a@b.com"));
    }

    #[test]
    fn pseudonyms_depend_on_the_key() {
        let k = dk();
        assert_eq!(k.pseudonym("s1"), k.pseudonym("s1"));
        assert_ne!(k.pseudonym("s1"), dk().pseudonym("s1"));
    }

    #[test]
    fn debug_redacts() {
        assert!(!format!("{:?}", SecretKey::generate()).contains('['));
    }
}
