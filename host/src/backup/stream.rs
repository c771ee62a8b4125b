//! Encrypted, authenticated streaming envelope for `capcrm backup` files.
//!
//! The backup command produces a stream of plaintext bytes (serialized
//! records). [`BackupWriter`] seals that stream into a file that reveals
//! nothing without the root ("master") key. [`BackupReader`] opens it and
//! detects any modification: bit flips, truncation, reordering, dropped or
//! duplicated chunks, chunks spliced in from another backup, and data appended
//! after the end.
//!
//! # On-disk layout (format version 1)
//!
//! All integers are big-endian.
//!
//! ```text
//! header:
//!   offset  size  field
//!   0       8     magic            b"CAPCRMBK"
//!   8       2     version          u16 = 1
//!   10      32    salt             random, per file
//!   42      8     nonce prefix     random, per file
//!   50      4     context length   u32, at most MAX_CONTEXT_LEN (64 KiB)
//!   54      n     context          public metadata (e.g. root-key version)
//!
//! then chunks i = 0, 1, 2, ... (at least one):
//!   4       ciphertext length L  u32 = plaintext length + 16
//!   L       AES-256-GCM ciphertext || 16-byte tag
//! ```
//!
//! * File key: `K = HKDF-SHA256(ikm = master_key, salt = salt,
//!   info = b"capcrm backup v1")`, 32 bytes.
//! * Header hash: `H = SHA-256(header bytes from offset 0 to 54 + n)`.
//! * Chunk `i` nonce (12 bytes): `nonce prefix (8) || i as u32 (4)`.
//! * Chunk `i` AAD (37 bytes): `H (32) || i as u32 (4) || final flag (1)`,
//!   the flag being `0x01` for the last chunk and `0x00` for all others.
//! * Every non-final chunk holds exactly [`CHUNK_SIZE`] (64 KiB) plaintext
//!   bytes; the final chunk holds `0..CHUNK_SIZE` bytes (strictly fewer,
//!   possibly zero). A reader therefore knows from `L` which flag a chunk
//!   must carry, and that expectation is enforced cryptographically by the
//!   flag in the AAD.
//! * Nothing follows the final chunk.
//!
//! # Why this is secure (the STREAM construction)
//!
//! This is the STREAM online-AE construction of Hoang, Reyhanitabar, Rogaway
//! and Vizár ("Online Authenticated-Encryption and its Nonce-Reuse
//! Misuse-Resistance", CRYPTO 2015). Each chunk is an independent AEAD
//! message, so on its own GCM would only prove "this chunk was produced by
//! the key holder"; the position and end-of-stream information is what turns
//! the chunks into one authenticated stream:
//!
//! * **Counter (reordering, dropping, duplication).** Chunk `i` is sealed
//!   under a nonce and AAD containing `i`. The reader verifies chunk number
//!   `k` with counter `k`, so a chunk moved to another position, a duplicated
//!   chunk, or a gap left by a deleted chunk fails authentication.
//! * **Final flag (truncation).** Only the last chunk is sealed with flag 1;
//!   every other chunk is sealed with flag 0 and cannot verify as a last
//!   chunk. Cutting the file after any chunk, even exactly on a chunk
//!   boundary, leaves a stream whose last chunk has flag 0: the reader hits
//!   EOF while it still expects a chunk and reports
//!   [`BackupError::Truncated`]. Without the flag a prefix of the chunks would
//!   be indistinguishable from a complete, shorter backup. (In this format a
//!   final chunk is also always short, but the flag is what makes finality
//!   part of what the tag authenticates rather than a parsing convention.)
//!   Conversely, anything after a valid final chunk is
//!   [`BackupError::TrailingData`], so an extension cannot go unnoticed
//!   either.
//! * **Header hash (splicing, metadata tampering).** `H` is in every chunk's
//!   AAD, so the public context, version, salt and nonce prefix are
//!   authenticated, and chunks cannot be moved between backups (they are
//!   also under different per-file keys).
//! * **Nonce uniqueness.** The per-file key comes from a fresh random 32-byte
//!   salt, and within a file every counter value is used exactly once (the
//!   writer refuses to wrap the 32-bit counter, see [`BackupError::TooLarge`]),
//!   so a (key, nonce) pair never repeats. The random nonce prefix is
//!   defence in depth on top of the per-file key.
//!
//! # Invariants
//!
//! * [`BackupReader`] never returns plaintext from a chunk that has not
//!   passed authentication.
//! * Plaintext returned by [`BackupReader`] is authentic, but the backup is
//!   only known to be *complete* once `read` returns `Ok(0)`. A restore must
//!   not be committed before that: truncation is, necessarily, only
//!   detectable at the end.
//! * After any error a reader or writer stays failed; it never resumes on a
//!   half-consumed stream.
//! * A [`BackupWriter`] that is dropped without [`BackupWriter::finish`]
//!   leaves a file without a final chunk, which restores as
//!   [`BackupError::Truncated`] rather than as a silently short backup.
//!
//! # Key hygiene
//!
//! The derived file key is held in [`Zeroizing`] and wiped as soon as the
//! AES-GCM key schedule has been built from it; plaintext buffers are
//! zeroized on drop and sealed in place. The key schedule itself lives
//! inside the `aes-gcm`/`aes` types, which wipe it on drop only when their
//! `zeroize` cargo features are enabled, and the HKDF intermediate state is
//! not wiped by `hkdf` 0.12. The caller owns (and should zeroize) the master
//! key.

use std::fmt;
use std::io::{self, Read, Write};

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// File magic, the first 8 bytes of every backup.
pub const MAGIC: [u8; 8] = *b"CAPCRMBK";

/// The format version this module writes and the only one it reads.
pub const FORMAT_VERSION: u16 = 1;

/// Plaintext bytes per non-final chunk (64 KiB).
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Maximum length of the public header context, in bytes (64 KiB).
pub const MAX_CONTEXT_LEN: usize = 64 * 1024;

/// HKDF `info` string binding the derived key to this format.
const HKDF_INFO: &[u8] = b"capcrm backup v1";
const SALT_LEN: usize = 32;
const NONCE_PREFIX_LEN: usize = 8;
const TAG_LEN: usize = 16;
/// Largest valid value of a chunk length field.
const MAX_SEALED_CHUNK_LEN: usize = CHUNK_SIZE + TAG_LEN;
/// Header size before the context bytes.
const FIXED_HEADER_LEN: usize = MAGIC.len() + 2 + SALT_LEN + NONCE_PREFIX_LEN + 4;
const FLAG_NOT_FINAL: u8 = 0x00;
const FLAG_FINAL: u8 = 0x01;

/// Everything that can go wrong while writing or restoring a backup.
///
/// Messages are written for an operator. Inside [`Read`]/[`Write`]
/// implementations these are carried in a [`std::io::Error`]; use
/// [`into_backup_error`] (or `BackupError::from(io_error)`) to recover them.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file does not start with the backup magic.
    #[error("not a capcrm backup file")]
    NotABackup,
    /// The file is a backup, but in a format this build cannot read.
    #[error("unsupported backup format version {0}")]
    UnsupportedVersion(u16),
    /// A chunk failed authentication: the key is not the one the backup was
    /// made with, or the file (header or chunk) has been modified.
    #[error("backup cannot be decrypted: wrong root key or corrupted file")]
    WrongKeyOrCorrupt,
    /// The file ended before the authenticated final chunk.
    #[error("backup file is truncated: the final chunk is missing")]
    Truncated,
    /// Bytes follow the authenticated final chunk.
    #[error("backup file has unexpected data after the final chunk")]
    TrailingData,
    /// A structural field (length) is impossible for a valid backup.
    #[error("backup file is corrupt: {0}")]
    Corrupt(String),
    /// [`BackupWriter::new`] was given a context longer than
    /// [`MAX_CONTEXT_LEN`].
    #[error("backup context is {0} bytes; the maximum is {MAX_CONTEXT_LEN} bytes")]
    ContextTooLong(usize),
    /// The 32-bit chunk counter would wrap (more than 256 TiB of plaintext).
    #[error("backup is too large: the format allows at most 2^32 chunks of 64 KiB")]
    TooLarge,
    /// The writer already failed once; the partial output must be discarded.
    #[error("backup writer is unusable after an earlier error; discard the partial backup file")]
    WriterFailed,
    /// The underlying file or stream failed.
    #[error("I/O error on the backup stream: {0}")]
    Io(#[source] io::Error),
}

impl BackupError {
    /// The [`io::ErrorKind`] used when this error travels inside an
    /// [`io::Error`].
    fn io_kind(&self) -> io::ErrorKind {
        match self {
            BackupError::Io(e) => e.kind(),
            BackupError::ContextTooLong(_) | BackupError::TooLarge => io::ErrorKind::InvalidInput,
            BackupError::WriterFailed => io::ErrorKind::Other,
            BackupError::NotABackup
            | BackupError::UnsupportedVersion(_)
            | BackupError::WrongKeyOrCorrupt
            | BackupError::Truncated
            | BackupError::TrailingData
            | BackupError::Corrupt(_) => io::ErrorKind::InvalidData,
        }
    }

    /// A copy used to repeat a sticky failure on later calls.
    fn duplicate(&self) -> BackupError {
        match self {
            BackupError::NotABackup => BackupError::NotABackup,
            BackupError::UnsupportedVersion(v) => BackupError::UnsupportedVersion(*v),
            BackupError::WrongKeyOrCorrupt => BackupError::WrongKeyOrCorrupt,
            BackupError::Truncated => BackupError::Truncated,
            BackupError::TrailingData => BackupError::TrailingData,
            BackupError::Corrupt(s) => BackupError::Corrupt(s.clone()),
            BackupError::ContextTooLong(n) => BackupError::ContextTooLong(*n),
            BackupError::TooLarge => BackupError::TooLarge,
            BackupError::WriterFailed => BackupError::WriterFailed,
            BackupError::Io(e) => BackupError::Io(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// Unwraps a [`BackupError`] carried inside an [`io::Error`] (as produced by
/// the [`Read`]/[`Write`] impls); any other I/O error becomes
/// [`BackupError::Io`].
impl From<io::Error> for BackupError {
    fn from(e: io::Error) -> Self {
        if into_backup_error(&e).is_none() {
            return BackupError::Io(e);
        }
        let inner = e
            .into_inner()
            .expect("checked above: carries an inner error");
        *inner
            .downcast::<BackupError>()
            .expect("checked above: the inner error is a BackupError")
    }
}

/// [`BackupError::Io`] is passed through unchanged; every other variant is
/// wrapped (reader-side errors with kind [`io::ErrorKind::InvalidData`]) so
/// that [`into_backup_error`] can recover it.
impl From<BackupError> for io::Error {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Io(inner) => inner,
            other => io::Error::new(other.io_kind(), other),
        }
    }
}

/// Returns the precise [`BackupError`] behind an [`io::Error`] returned by
/// [`BackupReader`] or [`BackupWriter`], or `None` for a plain I/O error of
/// the underlying stream.
pub fn into_backup_error(e: &io::Error) -> Option<&BackupError> {
    e.get_ref()?.downcast_ref::<BackupError>()
}

/// Derives the per-file key and builds the cipher. The derived key bytes are
/// wiped before returning.
fn file_cipher(master_key: &[u8; 32], salt: &[u8; SALT_LEN]) -> Aes256Gcm {
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), master_key)
        .expand(HKDF_INFO, &mut key[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key[..]))
}

fn chunk_nonce(prefix: &[u8; NONCE_PREFIX_LEN], counter: u32) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// AAD = header hash || counter || final flag. The counter pins the chunk to
/// its position and the flag marks the true end of the stream; see the module
/// documentation for why this defeats reordering and truncation.
fn chunk_aad(header_hash: &[u8; 32], counter: u32, is_final: bool) -> [u8; 37] {
    let mut aad = [0u8; 37];
    aad[..32].copy_from_slice(header_hash);
    aad[32..36].copy_from_slice(&counter.to_be_bytes());
    aad[36] = if is_final { FLAG_FINAL } else { FLAG_NOT_FINAL };
    aad
}

fn random_bytes<const N: usize>() -> Result<[u8; N], BackupError> {
    let mut out = [0u8; N];
    OsRng.try_fill_bytes(&mut out).map_err(|e| {
        BackupError::Io(io::Error::other(format!(
            "the operating system random number generator failed: {e}"
        )))
    })?;
    Ok(out)
}

/// Encrypting writer producing a backup file.
///
/// Invariants: the header is written by [`BackupWriter::new`]; after that the
/// inner writer only ever receives whole sealed chunks; every non-final chunk
/// carries exactly [`CHUNK_SIZE`] plaintext bytes; exactly one final chunk is
/// written, by [`BackupWriter::finish`]. After any error the writer refuses
/// further use ([`BackupError::WriterFailed`]).
///
/// [`Write::flush`] flushes the inner writer but does not emit buffered
/// plaintext (up to one chunk); only `finish` does. Dropping the writer
/// without `finish` produces a file that restores as
/// [`BackupError::Truncated`].
pub struct BackupWriter<W: Write> {
    inner: W,
    cipher: Aes256Gcm,
    header_hash: [u8; 32],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// Counter of the next chunk to seal.
    counter: u32,
    /// Pending plaintext, `len() <= CHUNK_SIZE`; capacity is reserved up front
    /// so it never reallocates (which would leave unwiped copies behind).
    buf: Zeroizing<Vec<u8>>,
    failed: bool,
}

impl<W: Write> fmt::Debug for BackupWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupWriter")
            .field("chunks_sealed", &self.counter)
            .field("buffered", &self.buf.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<W: Write> BackupWriter<W> {
    /// Starts a backup: generates a fresh salt and nonce prefix, derives the
    /// per-file key from `master_key`, and writes the header to `inner`.
    ///
    /// `context` is public metadata (for example the root-key version): it is
    /// stored in clear and authenticated with every chunk. At most
    /// [`MAX_CONTEXT_LEN`] bytes.
    pub fn new(mut inner: W, master_key: &[u8; 32], context: &[u8]) -> Result<Self, BackupError> {
        if context.len() > MAX_CONTEXT_LEN {
            return Err(BackupError::ContextTooLong(context.len()));
        }
        let salt: [u8; SALT_LEN] = random_bytes()?;
        let nonce_prefix: [u8; NONCE_PREFIX_LEN] = random_bytes()?;

        let mut header = Vec::with_capacity(FIXED_HEADER_LEN + context.len());
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        header.extend_from_slice(&salt);
        header.extend_from_slice(&nonce_prefix);
        let context_len = u32::try_from(context.len()).expect("bounded by MAX_CONTEXT_LEN");
        header.extend_from_slice(&context_len.to_be_bytes());
        header.extend_from_slice(context);
        let header_hash: [u8; 32] = Sha256::digest(&header).into();

        let cipher = file_cipher(master_key, &salt);
        inner.write_all(&header)?;

        let mut buf = Zeroizing::new(Vec::new());
        buf.reserve_exact(MAX_SEALED_CHUNK_LEN);
        Ok(BackupWriter {
            inner,
            cipher,
            header_hash,
            nonce_prefix,
            counter: 0,
            buf,
            failed: false,
        })
    }

    /// The inner writer (for example to report progress). Writing to it
    /// directly would corrupt the backup.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Seals any buffered plaintext as the final chunk (possibly empty),
    /// flushes, and returns the inner writer. The backup is complete only if
    /// this returns `Ok`.
    pub fn finish(mut self) -> Result<W, BackupError> {
        if self.failed {
            return Err(BackupError::WriterFailed);
        }
        // A full buffer must go out as a non-final chunk: the final chunk is
        // always strictly shorter than CHUNK_SIZE.
        if self.buf.len() == CHUNK_SIZE {
            self.seal_chunk(false)?;
        }
        self.seal_chunk(true)?;
        if let Err(e) = self.inner.flush() {
            self.failed = true;
            return Err(e.into());
        }
        Ok(self.inner)
    }

    /// Encrypts `buf` in place and writes `length || ciphertext || tag`.
    /// Marks the writer failed on any error.
    fn seal_chunk(&mut self, is_final: bool) -> Result<(), BackupError> {
        let result = self.seal_chunk_inner(is_final);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn seal_chunk_inner(&mut self, is_final: bool) -> Result<(), BackupError> {
        debug_assert!(if is_final {
            self.buf.len() < CHUNK_SIZE
        } else {
            self.buf.len() == CHUNK_SIZE
        });
        // A non-final chunk must leave a counter value for the final chunk.
        let next_counter = if is_final {
            None
        } else {
            Some(self.counter.checked_add(1).ok_or(BackupError::TooLarge)?)
        };
        let nonce = chunk_nonce(&self.nonce_prefix, self.counter);
        let aad = chunk_aad(&self.header_hash, self.counter, is_final);
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut self.buf[..])
            .expect("a chunk is far below the AES-GCM message length limit");
        self.buf.extend_from_slice(&tag);
        let sealed_len = u32::try_from(self.buf.len()).expect("chunk length fits in u32");
        self.inner.write_all(&sealed_len.to_be_bytes())?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        if let Some(next) = next_counter {
            self.counter = next;
        }
        Ok(())
    }
}

impl<W: Write> Write for BackupWriter<W> {
    /// Buffers plaintext; a full chunk is sealed and written when more data
    /// arrives (never eagerly, so that `finish` can decide finality).
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(BackupError::WriterFailed.into());
        }
        if data.is_empty() {
            return Ok(0);
        }
        if self.buf.len() == CHUNK_SIZE {
            // Nothing from `data` has been consumed yet, so an error here
            // honours the `Write::write` contract.
            self.seal_chunk(false)?;
        }
        let n = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    /// Flushes the inner writer. Buffered plaintext (less than one chunk plus
    /// one byte) is *not* written; only [`BackupWriter::finish`] does that.
    fn flush(&mut self) -> io::Result<()> {
        if self.failed {
            return Err(BackupError::WriterFailed.into());
        }
        self.inner.flush()
    }
}

/// Reads exactly `buf.len()` bytes; EOF anywhere means the final chunk was
/// never reached.
fn read_exact_or_truncated<R: Read>(inner: &mut R, buf: &mut [u8]) -> Result<(), BackupError> {
    inner.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => BackupError::Truncated,
        _ => BackupError::Io(e),
    })
}

/// A parsed backup header whose contents are **not yet authenticated**.
///
/// Use it when the key must be chosen from the public context (for example
/// by root-key version): inspect [`SealedBackup::unverified_context`], pick
/// the key, then [`SealedBackup::unlock`]. Do not act on the context beyond
/// key selection until `unlock` has succeeded, since an attacker can alter
/// it freely up to that point.
pub struct SealedBackup<R: Read> {
    inner: R,
    salt: [u8; SALT_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    context: Vec<u8>,
    header_hash: [u8; 32],
}

impl<R: Read> fmt::Debug for SealedBackup<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBackup")
            .field("context_len", &self.context.len())
            .finish_non_exhaustive()
    }
}

impl<R: Read> SealedBackup<R> {
    /// Reads and checks the header (magic, version, context length). No key
    /// is needed and nothing is authenticated yet.
    pub fn parse(mut inner: R) -> Result<Self, BackupError> {
        let mut magic = [0u8; 8];
        inner.read_exact(&mut magic).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => BackupError::NotABackup,
            _ => BackupError::Io(e),
        })?;
        if magic != MAGIC {
            return Err(BackupError::NotABackup);
        }
        let mut fixed = [0u8; FIXED_HEADER_LEN - 8];
        read_exact_or_truncated(&mut inner, &mut fixed)?;
        let version = u16::from_be_bytes([fixed[0], fixed[1]]);
        if version != FORMAT_VERSION {
            return Err(BackupError::UnsupportedVersion(version));
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&fixed[2..2 + SALT_LEN]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&fixed[2 + SALT_LEN..2 + SALT_LEN + NONCE_PREFIX_LEN]);
        let len_bytes: [u8; 4] = fixed[2 + SALT_LEN + NONCE_PREFIX_LEN..]
            .try_into()
            .expect("4-byte context length field");
        let context_len = u32::from_be_bytes(len_bytes) as usize;
        if context_len > MAX_CONTEXT_LEN {
            // Checked before allocating anything of that size.
            return Err(BackupError::Corrupt(format!(
                "header context length {context_len} exceeds the maximum of {MAX_CONTEXT_LEN}"
            )));
        }
        let mut context = vec![0u8; context_len];
        read_exact_or_truncated(&mut inner, &mut context)?;

        let mut hasher = Sha256::new();
        hasher.update(magic);
        hasher.update(fixed);
        hasher.update(&context);
        let header_hash: [u8; 32] = hasher.finalize().into();
        Ok(SealedBackup {
            inner,
            salt,
            nonce_prefix,
            context,
            header_hash,
        })
    }

    /// The header context as stored, **unauthenticated**. Use only to select
    /// the key; [`BackupReader::context`] returns the verified copy.
    pub fn unverified_context(&self) -> &[u8] {
        &self.context
    }

    /// Derives the file key and authenticates the first chunk (which also
    /// authenticates the whole header). A wrong key, or a modified header or
    /// first chunk, fails here with [`BackupError::WrongKeyOrCorrupt`].
    pub fn unlock(self, master_key: &[u8; 32]) -> Result<BackupReader<R>, BackupError> {
        let mut plain = Zeroizing::new(Vec::new());
        plain.reserve_exact(MAX_SEALED_CHUNK_LEN);
        let mut reader = BackupReader {
            cipher: file_cipher(master_key, &self.salt),
            inner: self.inner,
            header_hash: self.header_hash,
            nonce_prefix: self.nonce_prefix,
            context: self.context,
            counter: 0,
            plain,
            pos: 0,
            state: ReadState::Streaming,
        };
        reader.next_chunk()?;
        Ok(reader)
    }
}

enum ReadState {
    /// More chunks are expected.
    Streaming,
    /// The final chunk authenticated and nothing follows it.
    Done,
    /// A previous call failed; repeat the error.
    Failed(BackupError),
}

/// Decrypting reader for a backup file.
///
/// Invariants: the header and the first chunk are authenticated before
/// [`BackupReader::open`] returns; `read` only returns plaintext of chunks
/// that have authenticated, in order; `read` returns `Ok(0)` only after the
/// final chunk authenticated and end-of-file was confirmed after it. Errors
/// are [`io::Error`]s of kind [`io::ErrorKind::InvalidData`] carrying a
/// [`BackupError`] (see [`into_backup_error`]), or plain errors of the
/// underlying reader; after any error every later `read` fails as well.
pub struct BackupReader<R: Read> {
    inner: R,
    cipher: Aes256Gcm,
    header_hash: [u8; 32],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    context: Vec<u8>,
    /// Counter of the next chunk to read.
    counter: u32,
    /// Plaintext of the current chunk (or, transiently, its ciphertext).
    /// Capacity is reserved up front and never exceeded.
    plain: Zeroizing<Vec<u8>>,
    /// Bytes of `plain` already returned.
    pos: usize,
    state: ReadState,
}

impl<R: Read> fmt::Debug for BackupReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupReader")
            .field("chunks_read", &self.counter)
            .field("context_len", &self.context.len())
            .finish_non_exhaustive()
    }
}

impl<R: Read> BackupReader<R> {
    /// Parses the header, derives the file key from `master_key`, and
    /// authenticates the first chunk. Equivalent to
    /// `SealedBackup::parse(inner)?.unlock(master_key)`.
    ///
    /// Fails with [`BackupError::NotABackup`],
    /// [`BackupError::UnsupportedVersion`], [`BackupError::WrongKeyOrCorrupt`]
    /// (wrong key or modified header/first chunk),
    /// [`BackupError::Truncated`], [`BackupError::TrailingData`] (for a
    /// single-chunk backup) or [`BackupError::Corrupt`].
    pub fn open(inner: R, master_key: &[u8; 32]) -> Result<Self, BackupError> {
        SealedBackup::parse(inner)?.unlock(master_key)
    }

    /// The header context; authenticated (it is bound into every chunk's
    /// AAD and the first chunk has been verified).
    pub fn context(&self) -> &[u8] {
        &self.context
    }

    /// Reads, authenticates and decrypts the next chunk into `plain`. On the
    /// final chunk also checks that nothing follows it. Records failures as
    /// sticky.
    fn next_chunk(&mut self) -> Result<(), BackupError> {
        let result = self.next_chunk_inner();
        if let Err(e) = &result {
            self.plain.zeroize();
            self.pos = 0;
            self.state = ReadState::Failed(e.duplicate());
        }
        result
    }

    fn next_chunk_inner(&mut self) -> Result<(), BackupError> {
        self.plain.clear();
        self.pos = 0;

        let mut len_bytes = [0u8; 4];
        read_exact_or_truncated(&mut self.inner, &mut len_bytes)?;
        let sealed_len = u32::from_be_bytes(len_bytes) as usize;
        if sealed_len > MAX_SEALED_CHUNK_LEN {
            // Rejected before any allocation or read of that size.
            return Err(BackupError::Corrupt(format!(
                "chunk {} has length {sealed_len}, more than the maximum of {MAX_SEALED_CHUNK_LEN}",
                self.counter
            )));
        }
        if sealed_len < TAG_LEN {
            return Err(BackupError::Corrupt(format!(
                "chunk {} has length {sealed_len}, less than the {TAG_LEN}-byte authentication tag",
                self.counter
            )));
        }
        // Only the final chunk is shorter than a full chunk; the flag in the
        // AAD makes the tag check enforce this.
        let is_final = sealed_len < MAX_SEALED_CHUNK_LEN;

        // Within the reserved capacity: no reallocation.
        self.plain.resize(sealed_len, 0);
        read_exact_or_truncated(&mut self.inner, &mut self.plain[..])?;
        let body_len = sealed_len - TAG_LEN;
        let tag = *Tag::from_slice(&self.plain[body_len..]);
        self.plain.truncate(body_len);

        let nonce = chunk_nonce(&self.nonce_prefix, self.counter);
        let aad = chunk_aad(&self.header_hash, self.counter, is_final);
        self.cipher
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut self.plain[..], &tag)
            .map_err(|_| BackupError::WrongKeyOrCorrupt)?;

        if is_final {
            // Confirm end-of-file before releasing the last plaintext.
            let mut probe = [0u8; 1];
            loop {
                match self.inner.read(&mut probe) {
                    Ok(0) => break,
                    Ok(_) => return Err(BackupError::TrailingData),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(BackupError::Io(e)),
                }
            }
            self.state = ReadState::Done;
        } else {
            self.counter = self.counter.checked_add(1).ok_or_else(|| {
                BackupError::Corrupt("chunk counter overflow without a final chunk".to_owned())
            })?;
        }
        Ok(())
    }
}

impl<R: Read> Read for BackupReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.plain.len() {
                let n = out.len().min(self.plain.len() - self.pos);
                out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match &self.state {
                ReadState::Done => return Ok(0),
                ReadState::Failed(e) => return Err(e.duplicate().into()),
                ReadState::Streaming => self.next_chunk()?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0x42; 32];
    const OTHER_KEY: [u8; 32] = [0x43; 32];
    const CTX: &[u8] = b"root-key-version=7";

    fn pattern(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
            .collect()
    }

    fn seal(plain: &[u8], context: &[u8]) -> Vec<u8> {
        let mut w = BackupWriter::new(Vec::new(), &KEY, context).unwrap();
        w.write_all(plain).unwrap();
        w.finish().unwrap()
    }

    /// Seals with writes of `piece` bytes at a time.
    fn seal_in_pieces(plain: &[u8], piece: usize) -> Vec<u8> {
        let mut w = BackupWriter::new(Vec::new(), &KEY, CTX).unwrap();
        for part in plain.chunks(piece) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn restore_with(file: &[u8], key: &[u8; 32]) -> Result<Vec<u8>, BackupError> {
        let mut r = BackupReader::open(file, key)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    fn restore(file: &[u8]) -> Result<Vec<u8>, BackupError> {
        restore_with(file, &KEY)
    }

    fn header_len(context_len: usize) -> usize {
        FIXED_HEADER_LEN + context_len
    }

    /// (offset, total length including the 4-byte prefix) of each chunk.
    fn chunk_spans(file: &[u8], context_len: usize) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut off = header_len(context_len);
        while off < file.len() {
            let len = u32::from_be_bytes(file[off..off + 4].try_into().unwrap()) as usize;
            spans.push((off, 4 + len));
            off += 4 + len;
        }
        assert_eq!(off, file.len());
        spans
    }

    fn round_trip(len: usize) {
        let plain = pattern(len);
        let file = seal(&plain, CTX);
        assert_eq!(restore(&file).unwrap(), plain, "len {len}");
        let spans = chunk_spans(&file, CTX.len());
        assert_eq!(spans.len(), len / CHUNK_SIZE + 1, "len {len}");
        // Odd-sized writes and small reads give the same result.
        let file2 = seal_in_pieces(&plain, 7777);
        assert_eq!(file2.len(), file.len());
        let mut r = BackupReader::open(&file2[..], &KEY).unwrap();
        let mut out = Vec::new();
        let mut small = [0u8; 1000];
        loop {
            let n = r.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&small[..n]);
        }
        assert_eq!(out, plain, "len {len} (pieces)");
        // EOF is sticky.
        assert_eq!(r.read(&mut small).unwrap(), 0);
    }

    #[test]
    fn round_trip_empty() {
        round_trip(0);
        let file = seal(b"", CTX);
        assert_eq!(file.len(), header_len(CTX.len()) + 4 + TAG_LEN);
    }

    #[test]
    fn round_trip_one_byte() {
        round_trip(1);
    }

    #[test]
    fn round_trip_around_one_chunk() {
        round_trip(CHUNK_SIZE - 1);
        round_trip(CHUNK_SIZE);
        round_trip(CHUNK_SIZE + 1);
    }

    #[test]
    fn round_trip_several_chunks_and_tail() {
        round_trip(2 * CHUNK_SIZE);
        round_trip(3 * CHUNK_SIZE - 1);
        round_trip(3 * CHUNK_SIZE + 12_345);
    }

    #[test]
    fn round_trip_large() {
        round_trip(3_000_000);
    }

    #[test]
    fn non_final_chunks_are_full_and_final_is_short() {
        let file = seal(&pattern(2 * CHUNK_SIZE), CTX);
        let spans = chunk_spans(&file, CTX.len());
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].1, 4 + MAX_SEALED_CHUNK_LEN);
        assert_eq!(spans[1].1, 4 + MAX_SEALED_CHUNK_LEN);
        assert_eq!(spans[2].1, 4 + TAG_LEN);
    }

    #[test]
    fn round_trip_through_a_file() {
        let plain = pattern(CHUNK_SIZE * 2 + 99);
        let mut tmp = tempfile::tempfile().unwrap();
        let mut w = BackupWriter::new(&mut tmp, &KEY, CTX).unwrap();
        w.write_all(&plain).unwrap();
        w.finish().unwrap();
        use std::io::{Seek, SeekFrom};
        tmp.seek(SeekFrom::Start(0)).unwrap();
        let mut r = BackupReader::open(io::BufReader::new(tmp), &KEY).unwrap();
        assert_eq!(r.context(), CTX);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn header_layout() {
        let file = seal(b"x", CTX);
        assert_eq!(&file[..8], b"CAPCRMBK");
        assert_eq!(&file[8..10], &1u16.to_be_bytes());
        assert_eq!(&file[50..54], &(CTX.len() as u32).to_be_bytes());
        assert_eq!(&file[54..54 + CTX.len()], CTX);
        let first_len =
            u32::from_be_bytes(file[54 + CTX.len()..58 + CTX.len()].try_into().unwrap());
        assert_eq!(first_len as usize, 1 + TAG_LEN);
    }

    #[test]
    fn fresh_salt_and_nonce_prefix_per_file() {
        let a = seal(b"same", CTX);
        let b = seal(b"same", CTX);
        assert_ne!(a[10..42], b[10..42]);
        assert_ne!(a[42..50], b[42..50]);
        assert_ne!(a[header_len(CTX.len())..], b[header_len(CTX.len())..]);
    }

    #[test]
    fn context_round_trip() {
        for ctx in [&b""[..], CTX, &[0xAB; MAX_CONTEXT_LEN][..]] {
            let file = seal(b"payload", ctx);
            let sealed = SealedBackup::parse(&file[..]).unwrap();
            assert_eq!(sealed.unverified_context(), ctx);
            let mut r = sealed.unlock(&KEY).unwrap();
            assert_eq!(r.context(), ctx);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"payload");
        }
    }

    #[test]
    fn context_too_long_is_rejected() {
        let err = BackupWriter::new(Vec::new(), &KEY, &[0; MAX_CONTEXT_LEN + 1]).unwrap_err();
        assert!(matches!(err, BackupError::ContextTooLong(n) if n == MAX_CONTEXT_LEN + 1));
    }

    #[test]
    fn wrong_key_fails_on_first_chunk() {
        for len in [0, 10, 3 * CHUNK_SIZE] {
            let file = seal(&pattern(len), CTX);
            let err = restore_with(&file, &OTHER_KEY).unwrap_err();
            assert!(matches!(err, BackupError::WrongKeyOrCorrupt), "{err:?}");
            assert_eq!(
                err.to_string(),
                "backup cannot be decrypted: wrong root key or corrupted file"
            );
        }
    }

    #[test]
    fn not_a_backup() {
        for junk in [&b""[..], b"CAPCR", b"SQLite format 3\0 and more bytes here"] {
            let err = restore(junk).unwrap_err();
            assert!(matches!(err, BackupError::NotABackup), "{err:?}");
            assert_eq!(err.to_string(), "not a capcrm backup file");
        }
    }

    #[test]
    fn unsupported_version() {
        let mut file = seal(b"x", CTX);
        file[8..10].copy_from_slice(&2u16.to_be_bytes());
        let err = restore(&file).unwrap_err();
        assert!(matches!(err, BackupError::UnsupportedVersion(2)), "{err:?}");
        assert_eq!(err.to_string(), "unsupported backup format version 2");
    }

    #[test]
    fn flipped_bit_in_header() {
        let file = seal(&pattern(CHUNK_SIZE + 5), CTX);
        for byte in 0..header_len(CTX.len()) {
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[byte] ^= 1 << bit;
                let err = restore(&bad).unwrap_err();
                match byte {
                    0..8 => assert!(matches!(err, BackupError::NotABackup), "{byte}: {err:?}"),
                    8..10 => assert!(
                        matches!(err, BackupError::UnsupportedVersion(_)),
                        "{byte}: {err:?}"
                    ),
                    // Salt, nonce prefix, context: caught by the first chunk.
                    10..50 => assert!(
                        matches!(err, BackupError::WrongKeyOrCorrupt),
                        "{byte}: {err:?}"
                    ),
                    // Context length: misparses one way or another.
                    50..54 => {}
                    _ => assert!(
                        matches!(err, BackupError::WrongKeyOrCorrupt),
                        "{byte}: {err:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected_in_a_small_backup() {
        let file = seal(b"customer: Ada Lovelace", CTX);
        for byte in 0..file.len() {
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    restore(&bad).is_err(),
                    "flip at byte {byte} bit {bit} undetected"
                );
            }
        }
    }

    #[test]
    fn flipped_bit_in_a_chunk() {
        let plain = pattern(3 * CHUNK_SIZE + 100);
        let file = seal(&plain, CTX);
        let spans = chunk_spans(&file, CTX.len());
        for (i, &(off, len)) in spans.iter().enumerate() {
            // Start of ciphertext, middle, and inside the tag.
            for pos in [off + 4, off + len / 2, off + len - 1] {
                let mut bad = file.clone();
                bad[pos] ^= 0x10;
                let mut r = match BackupReader::open(&bad[..], &KEY) {
                    Ok(r) => r,
                    Err(e) => {
                        assert_eq!(i, 0);
                        assert!(matches!(e, BackupError::WrongKeyOrCorrupt), "{e:?}");
                        continue;
                    }
                };
                let mut out = Vec::new();
                let err = r.read_to_end(&mut out).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidData);
                assert!(matches!(
                    into_backup_error(&err),
                    Some(BackupError::WrongKeyOrCorrupt)
                ));
                // Only the chunks before the damaged one were released.
                assert_eq!(out, &plain[..i * CHUNK_SIZE], "chunk {i}");
                // The failure is sticky.
                let again = r.read(&mut [0u8; 16]).unwrap_err();
                assert!(matches!(
                    BackupError::from(again),
                    BackupError::WrongKeyOrCorrupt
                ));
            }
        }
    }

    #[test]
    fn flipped_bit_in_a_length() {
        let plain = pattern(2 * CHUNK_SIZE + 100);
        let file = seal(&plain, CTX);
        let spans = chunk_spans(&file, CTX.len());
        for &(off, _) in &spans {
            for byte in 0..4 {
                for bit in 0..8 {
                    let mut bad = file.clone();
                    bad[off + byte] ^= 1 << bit;
                    let err = restore(&bad).unwrap_err();
                    assert!(
                        matches!(
                            err,
                            BackupError::Corrupt(_)
                                | BackupError::WrongKeyOrCorrupt
                                | BackupError::Truncated
                        ),
                        "{err:?}"
                    );
                    if byte == 0 {
                        // Far above the maximum: rejected up front.
                        assert!(matches!(err, BackupError::Corrupt(_)), "{err:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn oversized_length_is_rejected_without_allocating() {
        let mut file = seal(b"abc", CTX);
        let off = header_len(CTX.len());
        file[off..off + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = restore(&file).unwrap_err();
        assert!(matches!(err, BackupError::Corrupt(_)), "{err:?}");
        assert!(err.to_string().starts_with("backup file is corrupt: "));

        // Just above the maximum is also rejected.
        file[off..off + 4].copy_from_slice(&((MAX_SEALED_CHUNK_LEN + 1) as u32).to_be_bytes());
        assert!(matches!(restore(&file), Err(BackupError::Corrupt(_))));

        // Shorter than a tag.
        file[off..off + 4].copy_from_slice(&15u32.to_be_bytes());
        assert!(matches!(restore(&file), Err(BackupError::Corrupt(_))));

        // Oversized context length in the header.
        let mut file = seal(b"abc", CTX);
        file[50..54].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(restore(&file), Err(BackupError::Corrupt(_))));
    }

    #[test]
    fn reader_buffer_never_exceeds_one_chunk() {
        let file = seal(&pattern(2 * CHUNK_SIZE + 1), CTX);
        let mut r = BackupReader::open(&file[..], &KEY).unwrap();
        let cap = r.plain.capacity();
        assert!((MAX_SEALED_CHUNK_LEN..2 * MAX_SEALED_CHUNK_LEN).contains(&cap));
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.plain.capacity(), cap);
    }

    #[test]
    fn truncation_is_detected_everywhere() {
        let plain = pattern(3 * CHUNK_SIZE + 100);
        let file = seal(&plain, CTX);
        let spans = chunk_spans(&file, CTX.len());
        let hdr = header_len(CTX.len());
        let mut cuts = vec![
            0,
            3,
            8,
            9,
            30,
            53,
            hdr - 1,
            hdr,
            hdr + 2,
            hdr + 4,
            hdr + 100,
        ];
        for &(off, len) in &spans {
            // Exactly at chunk boundaries, inside the length, inside the body,
            // one byte short of the end of the chunk.
            cuts.extend([
                off,
                off + 1,
                off + 4,
                off + len / 2,
                off + len - 1,
                off + len,
            ]);
        }
        cuts.retain(|&c| c < file.len());
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts {
            let err = restore(&file[..cut]).unwrap_err();
            if cut < 8 {
                assert!(matches!(err, BackupError::NotABackup), "cut {cut}: {err:?}");
            } else {
                assert!(matches!(err, BackupError::Truncated), "cut {cut}: {err:?}");
            }
        }
    }

    #[test]
    fn truncation_exactly_at_a_chunk_boundary() {
        let plain = pattern(2 * CHUNK_SIZE + 7);
        let file = seal(&plain, CTX);
        let spans = chunk_spans(&file, CTX.len());
        assert_eq!(spans.len(), 3);
        for &(off, _) in &spans {
            let err = restore(&file[..off]).unwrap_err();
            assert!(matches!(err, BackupError::Truncated), "{err:?}");
            assert_eq!(
                err.to_string(),
                "backup file is truncated: the final chunk is missing"
            );
        }
        // Dropping the final chunk of an exactly-chunk-sized backup.
        let file = seal(&pattern(CHUNK_SIZE), CTX);
        let spans = chunk_spans(&file, CTX.len());
        assert_eq!(spans.len(), 2);
        let err = restore(&file[..spans[1].0]).unwrap_err();
        assert!(matches!(err, BackupError::Truncated), "{err:?}");
    }

    #[test]
    fn swapped_chunks_are_detected() {
        let plain = pattern(3 * CHUNK_SIZE + 100);
        let file = seal(&plain, CTX);
        let spans = chunk_spans(&file, CTX.len());
        let piece = |i: usize| &file[spans[i].0..spans[i].0 + spans[i].1];
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            let mut order: Vec<usize> = (0..spans.len()).collect();
            order.swap(a, b);
            let mut bad = file[..spans[0].0].to_vec();
            for i in order {
                bad.extend_from_slice(piece(i));
            }
            let err = restore(&bad).unwrap_err();
            assert!(
                matches!(err, BackupError::WrongKeyOrCorrupt),
                "{a}<->{b}: {err:?}"
            );
        }
        // A dropped middle chunk and a duplicated chunk.
        let mut dropped = file[..spans[1].0].to_vec();
        dropped.extend_from_slice(&file[spans[2].0..]);
        assert!(matches!(
            restore(&dropped),
            Err(BackupError::WrongKeyOrCorrupt)
        ));
        let mut dup = file[..spans[2].0].to_vec();
        dup.extend_from_slice(piece(1));
        dup.extend_from_slice(&file[spans[2].0..]);
        assert!(matches!(restore(&dup), Err(BackupError::WrongKeyOrCorrupt)));
    }

    #[test]
    fn chunks_from_another_backup_are_rejected() {
        let a = seal(&pattern(2 * CHUNK_SIZE + 1), CTX);
        let b = seal(&pattern(2 * CHUNK_SIZE + 1), CTX);
        let spans = chunk_spans(&a, CTX.len());
        let mut spliced = a[..spans[1].0].to_vec();
        spliced.extend_from_slice(&b[spans[1].0..]);
        assert!(matches!(
            restore(&spliced),
            Err(BackupError::WrongKeyOrCorrupt)
        ));
    }

    #[test]
    fn trailing_garbage_is_detected() {
        for len in [0, 5, CHUNK_SIZE, 2 * CHUNK_SIZE + 3] {
            let plain = pattern(len);
            let file = seal(&plain, CTX);
            for extra in [&b"\0"[..], b"garbage", &file[header_len(CTX.len())..]] {
                let mut bad = file.clone();
                bad.extend_from_slice(extra);
                let err = restore(&bad).unwrap_err();
                assert!(
                    matches!(err, BackupError::TrailingData),
                    "len {len}: {err:?}"
                );
            }
            // The final chunk's plaintext is not released before the check.
            let mut bad = file.clone();
            bad.push(0);
            if let Ok(mut r) = BackupReader::open(&bad[..], &KEY) {
                let mut out = Vec::new();
                assert!(r.read_to_end(&mut out).is_err());
                assert_eq!(out, &plain[..(len / CHUNK_SIZE) * CHUNK_SIZE]);
            }
        }
    }

    #[test]
    fn plaintext_does_not_appear_in_output() {
        let canary = b"CANARY-4f1c-customer-ssn-078-05-1120;";
        let plain = canary.repeat(200_000 / canary.len());
        let file = seal(&plain, CTX);
        assert!(!file.windows(canary.len()).any(|w| w == canary));
        // Not even a 12-byte fragment of it.
        assert!(!file.windows(12).any(|w| w == &canary[..12]));
        assert_eq!(restore(&file).unwrap(), plain);
    }

    #[test]
    fn unfinished_writer_restores_as_truncated() {
        let mut buf = Vec::new();
        {
            let mut w = BackupWriter::new(&mut buf, &KEY, CTX).unwrap();
            w.write_all(&pattern(3 * CHUNK_SIZE + 9)).unwrap();
            w.flush().unwrap();
            // Dropped without finish().
        }
        assert!(matches!(restore(&buf), Err(BackupError::Truncated)));
    }

    #[test]
    fn chunk_counter_never_wraps() {
        let mut w = BackupWriter::new(Vec::new(), &KEY, CTX).unwrap();
        w.counter = u32::MAX - 1;
        // Chunk u32::MAX - 1 can be sealed as non-final; it leaves u32::MAX
        // for the final chunk.
        w.write_all(&pattern(CHUNK_SIZE + 1)).unwrap();
        assert_eq!(w.counter, u32::MAX);
        // Another non-final chunk would wrap the counter.
        w.write_all(&pattern(CHUNK_SIZE - 1)).unwrap();
        let err = w.write(b"more").unwrap_err();
        assert!(matches!(
            into_backup_error(&err),
            Some(BackupError::TooLarge)
        ));
        // The writer is now unusable.
        assert!(matches!(
            into_backup_error(&w.write(b"x").unwrap_err()),
            Some(BackupError::WriterFailed)
        ));
        assert!(matches!(w.finish(), Err(BackupError::WriterFailed)));

        // Finishing at the last counter value works.
        let mut w = BackupWriter::new(Vec::new(), &KEY, CTX).unwrap();
        w.counter = u32::MAX;
        w.write_all(b"tail").unwrap();
        assert!(w.finish().is_ok());
    }

    struct FailingWriter {
        budget: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = data.len().min(self.budget);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn io_errors_poison_the_writer() {
        let sink = FailingWriter { budget: 1000 };
        let mut w = BackupWriter::new(sink, &KEY, CTX).unwrap();
        let err = w.write_all(&pattern(2 * CHUNK_SIZE)).unwrap_err();
        // The underlying error is passed through unchanged.
        assert!(into_backup_error(&err).is_none());
        assert_eq!(err.to_string(), "disk full");
        assert!(matches!(w.finish(), Err(BackupError::WriterFailed)));

        let err = BackupWriter::new(FailingWriter { budget: 3 }, &KEY, CTX).unwrap_err();
        assert!(matches!(err, BackupError::Io(_)));
    }

    #[test]
    fn io_error_conversions() {
        let e: io::Error = BackupError::Truncated.into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(
            into_backup_error(&e),
            Some(BackupError::Truncated)
        ));
        assert!(matches!(BackupError::from(e), BackupError::Truncated));

        let plain = io::Error::new(io::ErrorKind::PermissionDenied, "nope");
        assert!(into_backup_error(&plain).is_none());
        let be = BackupError::from(plain);
        assert!(matches!(&be, BackupError::Io(e) if e.kind() == io::ErrorKind::PermissionDenied));
        let back: io::Error = be.into();
        assert_eq!(back.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let file = seal(b"secret plaintext", CTX);
        let r = BackupReader::open(&file[..], &KEY).unwrap();
        let s = format!("{r:?}");
        assert!(s.starts_with("BackupReader"));
        assert!(!s.contains("secret"));
        let w = BackupWriter::new(Vec::new(), &KEY, CTX).unwrap();
        assert!(format!("{w:?}").starts_with("BackupWriter"));
    }
}
