//! HTTPS termination for the CRM server.
//!
//! capcrm terminates TLS itself (rustls, `ring` provider) so a trial install is
//! encrypted end to end without a reverse proxy. This module offers three pieces:
//!
//! * [`load_server_config`] turns a PEM certificate chain and private key into a
//!   rustls [`ServerConfig`] that negotiates HTTP/2 or HTTP/1.1 via ALPN;
//! * [`generate_self_signed`] creates (once) a self-signed pair for trials and
//!   local development;
//! * [`serve_tls`] is an accept loop comparable to `axum::serve`, but with a TLS
//!   handshake per connection and graceful shutdown.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake.
///
/// Handshakes run in their own task, so a slow or silent client cannot hold up
/// other connections; the timeout additionally makes sure such a client cannot
/// pin a socket and a task forever (slowloris-style resource exhaustion).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Upper bound on how long [`serve_tls`] waits for in-flight connections after
/// the shutdown signal; connections still open afterwards are aborted so that
/// a stuck client cannot block process exit.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long an HTTP/1 client may take to send a complete request head (same
/// rationale as [`HANDSHAKE_TIMEOUT`], one layer up).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Validity of generated self-signed certificates. 825 days is the maximum
/// Apple platforms accept for TLS server certificates, even user-trusted ones.
const SELF_SIGNED_VALIDITY_DAYS: i64 = 825;

/// File names used by [`generate_self_signed`].
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";

/// Why TLS material could not be loaded or created.
///
/// Every message names the file involved, because the usual remedy is for an
/// operator to fix a path or a file, and "invalid key" alone does not say which.
/// Underlying errors are included in the message (not chained as `source()`),
/// so printing the error with `{}` is enough to diagnose it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read (missing, permissions, ...).
    #[error("cannot read certificate file {}: {error}", path.display())]
    ReadCert { path: PathBuf, error: io::Error },
    /// The certificate file contains a malformed PEM section.
    #[error("malformed PEM in certificate file {}: {error}", path.display())]
    BadCertPem { path: PathBuf, error: io::Error },
    /// The certificate file contains no `CERTIFICATE` PEM block.
    #[error("no certificate in {} (expected a PEM \"BEGIN CERTIFICATE\" block)", path.display())]
    NoCertificate { path: PathBuf },
    /// The private key file could not be read (missing, permissions, ...).
    #[error("cannot read private key file {}: {error}", path.display())]
    ReadKey { path: PathBuf, error: io::Error },
    /// The private key file contains a malformed PEM section.
    #[error("malformed PEM in private key file {}: {error}", path.display())]
    BadKeyPem { path: PathBuf, error: io::Error },
    /// The private key file contains no unencrypted PKCS#8, PKCS#1 or SEC1 key.
    #[error(
        "no private key in {} (expected an unencrypted PEM PKCS#8, PKCS#1 or SEC1 private key)",
        path.display()
    )]
    NoPrivateKey { path: PathBuf },
    /// The private key is valid but belongs to a different certificate.
    #[error(
        "private key in {} does not match the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// rustls rejected the certificate or key (unsupported key type, bad DER, ...).
    #[error(
        "cannot use certificate {} with private key {}: {error}",
        cert.display(),
        key.display()
    )]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
    /// The crypto provider could not be set up with the default protocol versions.
    #[error("TLS crypto provider rejected the default protocol versions: {0}")]
    Provider(rustls::Error),
    /// The directory for generated TLS files could not be created.
    #[error("cannot create TLS directory {}: {error}", path.display())]
    CreateDir { path: PathBuf, error: io::Error },
    /// A generated TLS file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
    /// Certificate generation failed, typically because a host name is not a
    /// valid DNS name or IP address.
    #[error("cannot generate a self-signed certificate for {names:?}: {error}")]
    Generate {
        names: Vec<String>,
        error: rcgen::Error,
    },
}

/// Builds the rustls server configuration from a PEM certificate chain
/// (leaf first) and a PEM private key.
///
/// The `ring` provider is selected explicitly rather than through the
/// process-wide default, so the result does not depend on which rustls
/// features other crates in the build happen to enable. ALPN offers `h2` and
/// `http/1.1`, matching what [`serve_tls`] speaks. The key is checked against
/// the certificate here, so a mismatched pair fails at startup rather than on
/// the first handshake.
///
/// On unix a warning is logged if the key file is readable by group or others.
///
/// # Errors
///
/// A [`TlsError`] naming the offending file if either file cannot be read,
/// holds no certificate or key, or the key does not match the certificate.
pub fn load_server_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certs(cert_pem)?;
    let key = read_key(key_pem)?;
    warn_if_key_exposed(key_pem);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Provider)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch {
                    cert: cert_pem.to_path_buf(),
                    key: key_pem.to_path_buf(),
                }
            }
            error => TlsError::Rejected {
                cert: cert_pem.to_path_buf(),
                key: key_pem.to_path_buf(),
                error,
            },
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|error| TlsError::ReadCert {
        path: path.to_path_buf(),
        error,
    })?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::BadCertPem {
            path: path.to_path_buf(),
            error,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|error| TlsError::ReadKey {
        path: path.to_path_buf(),
        error,
    })?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|error| TlsError::BadKeyPem {
            path: path.to_path_buf(),
            error,
        })?
        .ok_or_else(|| TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        })
}

#[cfg(unix)]
fn warn_if_key_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "TLS private key file is readable by group or others; consider chmod 600"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_key_exposed(_path: &Path) {}

/// Ensures `dir/cert.pem` and `dir/key.pem` hold a self-signed certificate and
/// its key, and returns their paths `(cert, key)`.
///
/// This exists so a trial install can serve HTTPS without the operator
/// obtaining a certificate. The subject alternative names always include
/// `localhost`, `127.0.0.1` and `::1`, plus `hostnames` (DNS names or IP
/// addresses; empty entries are ignored). The certificate is an ECDSA P-256
/// leaf valid for 825 days with the `serverAuth` extended key usage.
///
/// If both files already exist they are reused untouched, so clients that
/// trusted the certificate once keep trusting it across restarts; delete the
/// files to regenerate (e.g. after changing `hostnames` or on expiry).
///
/// The key is written to a temporary file created with mode 0600 on unix
/// (before any key bytes are written, so it is never briefly world-readable)
/// and then renamed into place, as is the certificate, so an interrupted run
/// never leaves a half-written pair that would be reused.
///
/// # Errors
///
/// [`TlsError::Generate`] if a host name is neither a valid DNS name nor an IP
/// address; [`TlsError::CreateDir`] or [`TlsError::Write`] on I/O failure.
pub fn generate_self_signed(
    dir: &Path,
    hostnames: &[String],
) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    if cert_path.is_file() && key_path.is_file() {
        tracing::debug!(dir = %dir.display(), "reusing existing self-signed certificate");
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(dir).map_err(|error| TlsError::CreateDir {
        path: dir.to_path_buf(),
        error,
    })?;

    let names = san_names(hostnames);
    let generate_err = |error| TlsError::Generate {
        names: names.clone(),
        error,
    };
    let mut params = rcgen::CertificateParams::new(names.clone()).map_err(generate_err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "capcrm self-signed certificate");
    params.distinguished_name = dn;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let today = days_since_epoch(SystemTime::now());
    // Start yesterday to tolerate clients whose clock is slightly behind.
    let (y, m, d) = civil_from_days(today - 1);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = civil_from_days(today - 1 + SELF_SIGNED_VALIDITY_DAYS);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let key_pair = rcgen::KeyPair::generate().map_err(generate_err)?;
    let cert = params.self_signed(&key_pair).map_err(generate_err)?;

    let pid = std::process::id();
    let key_tmp = dir.join(format!(".{KEY_FILE}.tmp-{pid}"));
    let cert_tmp = dir.join(format!(".{CERT_FILE}.tmp-{pid}"));
    let result = write_new_file(&key_tmp, key_pair.serialize_pem().as_bytes(), true)
        .and_then(|()| write_new_file(&cert_tmp, cert.pem().as_bytes(), false))
        // Key first: the pair only counts as present once cert.pem exists too.
        .and_then(|()| rename(&key_tmp, &key_path))
        .and_then(|()| rename(&cert_tmp, &cert_path));
    if result.is_err() {
        let _ = std::fs::remove_file(&key_tmp);
        let _ = std::fs::remove_file(&cert_tmp);
    }
    result?;
    tracing::info!(
        cert = %cert_path.display(),
        names = ?names,
        "generated self-signed TLS certificate"
    );
    Ok((cert_path, key_path))
}

/// The SAN list: the loopback names first, then the caller's names, trimmed,
/// with `[v6]` brackets removed and duplicates dropped.
fn san_names(hostnames: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let defaults = ["localhost", "127.0.0.1", "::1"].map(String::from);
    for raw in defaults.iter().chain(hostnames) {
        let mut name = raw.trim();
        if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'))
            && inner.parse::<IpAddr>().is_ok()
        {
            name = inner;
        }
        if name.is_empty() {
            continue;
        }
        let duplicate = names.iter().any(|existing| {
            match (existing.parse::<IpAddr>(), name.parse::<IpAddr>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => existing.eq_ignore_ascii_case(name),
            }
        });
        if !duplicate {
            names.push(name.to_owned());
        }
    }
    names
}

/// Creates `path` (which must not exist) and writes `contents` to it durably.
/// Secret files get mode 0600 at creation time on unix.
fn write_new_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), TlsError> {
    let write = || -> io::Result<()> {
        // A leftover from a crashed run with the same pid would block create_new.
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(if secret { 0o600 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = secret;
        let mut file = options.open(path)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    write().map_err(|error| TlsError::Write {
        path: path.to_path_buf(),
        error,
    })
}

fn rename(from: &Path, to: &Path) -> Result<(), TlsError> {
    std::fs::rename(from, to).map_err(|error| TlsError::Write {
        path: to.to_path_buf(),
        error,
    })
}

fn days_since_epoch(now: SystemTime) -> i64 {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(0)
}

/// Converts days since 1970-01-01 to a UTC (year, month, day), using
/// H. Hinnant's `civil_from_days`; avoids a direct dependency on `time`.
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Month and day are in range by construction, the year for any sane clock.
    (
        i32::try_from(year).unwrap_or(9999),
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

/// Serves `app` over HTTPS on `listener` until `shutdown` completes.
///
/// Comparable to `axum::serve`, with TLS in front:
///
/// * Each accepted connection gets its own task, and the TLS handshake happens
///   inside it with a [`HANDSHAKE_TIMEOUT`], so a slow or silent client never
///   blocks the accept loop or other clients. Failed or timed-out handshakes
///   (scanners, plain HTTP sent to the HTTPS port, clients rejecting a
///   self-signed certificate) are logged at debug level and never stop the
///   server.
/// * HTTP/1.1 and HTTP/2 are both served (hyper-util's auto builder; ALPN from
///   [`load_server_config`]), including HTTP/1.1 upgrades such as `WebSockets`.
/// * Handlers can extract `axum::extract::ConnectInfo<SocketAddr>` with the
///   peer's address, as with `into_make_service_with_connect_info`.
/// * When `shutdown` completes the listener is closed immediately, open
///   connections are asked to finish (HTTP/1 closes after the current
///   response, HTTP/2 sends GOAWAY), and connections still open after
///   [`SHUTDOWN_GRACE`] are aborted.
///
/// Errors from `accept` (e.g. running out of file descriptors) are logged and
/// retried rather than returned, as `axum::serve` does, so the server survives
/// transient resource exhaustion.
///
/// # Errors
///
/// None at present: the `io::Result` leaves room for fatal listener errors.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    config: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_limits(
        listener,
        app,
        config,
        shutdown,
        HANDSHAKE_TIMEOUT,
        SHUTDOWN_GRACE,
    )
    .await
}

async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    config: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    handshake_timeout: Duration,
    grace: Duration,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);

    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving HTTPS");
    }

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_join_result(joined);
            }
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_per_connection_error(&e) => {
                        tracing::debug!(error = %e, "accept failed for one connection");
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "accept failed; retrying in 1s");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                };
                // Registered before the task starts, so a shutdown signalled
                // while this connection is still handshaking is not missed.
                let watcher = graceful.watcher();
                connections.spawn(handle_connection(
                    tcp,
                    peer,
                    acceptor.clone(),
                    app.clone(),
                    Arc::clone(&builder),
                    watcher,
                    handshake_timeout,
                ));
            }
        }
    }

    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "shutting down HTTPS server; waiting for open connections"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = connections.len(),
            "connections still open after {grace:?}; aborting them"
        );
    }
    connections.abort_all();
    while let Some(joined) = connections.join_next().await {
        log_join_result(joined);
    }
    Ok(())
}

async fn handle_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    handshake_timeout: Duration,
) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out after {handshake_timeout:?}");
            return;
        }
    };

    let router = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.call(request)
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %e, "HTTPS connection ended with an error");
    }
}

fn log_join_result(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        tracing::error!(error = %e, "HTTPS connection task panicked");
    }
}

/// Accept errors that concern only the connection being accepted.
fn is_per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tokio_rustls::TlsConnector;

    fn router() -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    "slow"
                }),
            )
            .route(
                "/stuck",
                get(|| async {
                    tokio::time::sleep(Duration::from_mins(1)).await;
                    "never"
                }),
            )
    }

    struct TestServer {
        addr: SocketAddr,
        connector: TlsConnector,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<io::Result<()>>,
        dir: tempfile::TempDir,
    }

    impl TestServer {
        async fn start(handshake_timeout: Duration, grace: Duration) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let (cert, key) = generate_self_signed(dir.path(), &[]).unwrap();
            let config = load_server_config(&cert, &key).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve_with_limits(
                listener,
                router(),
                config,
                async move {
                    let _ = stopped.await;
                },
                handshake_timeout,
                grace,
            ));
            Self {
                addr,
                connector: client_connector(&cert, vec![b"http/1.1".to_vec()]),
                stop: Some(stop),
                task,
                dir,
            }
        }

        async fn get(&self, path: &str) -> String {
            let tcp = TcpStream::connect(self.addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = self.connector.connect(name, tcp).await.unwrap();
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            tls.write_all(request.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            tls.read_to_end(&mut response).await.unwrap();
            String::from_utf8(response).unwrap()
        }

        fn stop(&mut self) {
            let _ = self.stop.take().unwrap().send(());
        }
    }

    fn client_connector(cert: &Path, alpn: Vec<Vec<u8>>) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(cert).unwrap() {
            roots.add(cert).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn;
        TlsConnector::from(Arc::new(config))
    }

    fn assert_ok_body(response: &str, body: &str) {
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
        assert!(response.ends_with(body), "{response}");
    }

    #[test]
    fn generated_pair_loads_and_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("tls");
        let names = [
            "crm.example.test".to_owned(),
            " [::1] ".to_owned(),
            "10.0.0.7".to_owned(),
        ];
        let (cert, key) = generate_self_signed(&sub, &names).unwrap();
        assert_eq!(cert, sub.join("cert.pem"));
        assert_eq!(key, sub.join("key.pem"));
        let config = load_server_config(&cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "key mode {mode:o}");
        }
        // No temporary files left behind.
        let mut entries: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        entries.sort();
        assert_eq!(entries, ["cert.pem", "key.pem"]);
    }

    #[test]
    fn existing_pair_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = generate_self_signed(dir.path(), &[]).unwrap();
        let before = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
        let again = generate_self_signed(dir.path(), &["other.test".to_owned()]).unwrap();
        assert_eq!(again, (cert.clone(), key.clone()));
        let after = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
        assert_eq!(before, after);
    }

    #[test]
    fn lone_key_is_replaced_by_a_fresh_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = generate_self_signed(dir.path(), &[]).unwrap();
        std::fs::remove_file(&cert).unwrap();
        generate_self_signed(dir.path(), &[]).unwrap();
        load_server_config(&cert, &key).unwrap();
    }

    #[test]
    fn invalid_hostname_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let err = generate_self_signed(dir.path(), &["bad\u{e9}name".to_owned()]).unwrap_err();
        assert!(matches!(err, TlsError::Generate { .. }), "{err}");
        assert!(!dir.path().join("key.pem").exists());
    }

    #[test]
    fn san_names_always_include_loopback_and_dedupe() {
        let names = san_names(&[
            "LOCALHOST".into(),
            "0:0:0:0:0:0:0:1".into(),
            String::new(),
            "crm.test".into(),
        ]);
        assert_eq!(names, ["localhost", "127.0.0.1", "::1", "crm.test"]);
    }

    #[test]
    fn civil_date_conversion() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn missing_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = generate_self_signed(dir.path(), &[]).unwrap();
        let missing = dir.path().join("nope.pem");

        let err = load_server_config(&missing, &key).unwrap_err();
        assert!(
            matches!(&err, TlsError::ReadCert { path, .. } if *path == missing),
            "{err}"
        );
        assert!(err.to_string().contains("nope.pem"), "{err}");

        let err = load_server_config(&cert, &missing).unwrap_err();
        assert!(
            matches!(&err, TlsError::ReadKey { path, .. } if *path == missing),
            "{err}"
        );
    }

    #[test]
    fn garbage_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = generate_self_signed(dir.path(), &[]).unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "this is not PEM\n").unwrap();

        let err = load_server_config(&garbage, &key).unwrap_err();
        assert!(
            matches!(&err, TlsError::NoCertificate { path } if *path == garbage),
            "{err}"
        );
        assert!(err.to_string().contains("garbage.pem"), "{err}");

        let err = load_server_config(&cert, &garbage).unwrap_err();
        assert!(
            matches!(&err, TlsError::NoPrivateKey { path } if *path == garbage),
            "{err}"
        );

        // A key file holding only a certificate has no key either.
        let err = load_server_config(&cert, &cert).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");

        let truncated = dir.path().join("truncated.pem");
        std::fs::write(&truncated, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let err = load_server_config(&truncated, &key).unwrap_err();
        assert!(matches!(err, TlsError::BadCertPem { .. }), "{err}");

        let bad_der = dir.path().join("bad-der.pem");
        std::fs::write(
            &bad_der,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = load_server_config(&bad_der, &key).unwrap_err();
        assert!(matches!(err, TlsError::Rejected { .. }), "{err}");
    }

    #[test]
    fn mismatched_key_is_reported() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (cert_a, _) = generate_self_signed(a.path(), &[]).unwrap();
        let (_, key_b) = generate_self_signed(b.path(), &[]).unwrap();
        let err = load_server_config(&cert_a, &key_b).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[tokio::test]
    async fn serves_https_with_connect_info() {
        let mut server = TestServer::start(HANDSHAKE_TIMEOUT, SHUTDOWN_GRACE).await;
        assert_ok_body(&server.get("/healthz").await, "ok");
        let peer = server.get("/peer").await;
        assert_ok_body(&peer, "");
        assert!(peer.contains("\r\n\r\n127.0.0.1:"), "{peer}");
        server.stop();
        server.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn negotiates_h2_via_alpn() {
        let server = TestServer::start(HANDSHAKE_TIMEOUT, SHUTDOWN_GRACE).await;
        let cert = server.dir.path().join("cert.pem");
        let connector = client_connector(&cert, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    }

    #[tokio::test]
    async fn plain_http_does_not_break_the_server() {
        let server = TestServer::start(HANDSHAKE_TIMEOUT, SHUTDOWN_GRACE).await;
        let mut plain = TcpStream::connect(server.addr).await.unwrap();
        plain
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        // The server answers with a TLS alert (or nothing) and closes.
        let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf))
            .await
            .expect("server should close a plain-HTTP connection");
        assert!(!buf.starts_with(b"HTTP/"));
        assert_ok_body(&server.get("/healthz").await, "ok");
    }

    #[tokio::test]
    async fn silent_client_neither_blocks_others_nor_lingers() {
        let server = TestServer::start(Duration::from_millis(300), SHUTDOWN_GRACE).await;
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        // Others are served while the silent client holds its connection.
        assert_ok_body(&server.get("/healthz").await, "ok");
        // The silent client is dropped once the handshake timeout elapses.
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
            .await
            .expect("handshake timeout should close the connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish() {
        let mut server = TestServer::start(HANDSHAKE_TIMEOUT, SHUTDOWN_GRACE).await;
        let server_addr = server.addr;
        let stop = server.stop.take().unwrap();
        let (response, ()) = tokio::join!(server.get("/slow"), async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            stop.send(()).unwrap();
        });
        assert_ok_body(&response, "slow");
        tokio::time::timeout(Duration::from_secs(5), &mut server.task)
            .await
            .expect("server should stop after in-flight requests finish")
            .unwrap()
            .unwrap();
        // The listener is closed.
        assert!(TcpStream::connect(server_addr).await.is_err());
    }

    #[tokio::test]
    async fn shutdown_is_bounded_by_grace_period() {
        let mut server = TestServer::start(HANDSHAKE_TIMEOUT, Duration::from_millis(300)).await;
        let addr = server.addr;
        let connector = server.connector.clone();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            tls.write_all(b"GET /stuck HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
                .unwrap();
            let mut buf = Vec::new();
            let _ = tls.read_to_end(&mut buf).await;
            buf
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        server.stop();
        tokio::time::timeout(Duration::from_secs(5), &mut server.task)
            .await
            .expect("server should stop once the grace period is over")
            .unwrap()
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(250));
        let buf = tokio::time::timeout(Duration::from_secs(5), client)
            .await
            .unwrap()
            .unwrap();
        assert!(!buf.starts_with(b"HTTP/1.1 200"));
    }
}
