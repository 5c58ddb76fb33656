//! TLS for connections to memcached (`memcached -Z`), with rustls and its
//! ring crypto provider, and the credentials of memcached's ASCII
//! authentication (`memcached -Y`).
//!
//! `TlsOptions` is what a caller asks for (files, roots, names, versions);
//! `TlsConfig` is those options made into a rustls client configuration
//! once, when the client is built, and shared by every connection.

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The oldest TLS version a client accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 or 1.3 (the default, as Python's `ssl` and memcached).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// How connections are secured with TLS: pymemcache's `tls_context`.
///
/// The server certificate is checked against the roots given here: a CA
/// file, a CA directory, the system's store, or several of them. With none
/// given, the system's store is used (as `ssl.create_default_context()`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of CA certificates to trust (`cafile=`).
    pub ca_file: Option<PathBuf>,
    /// A directory of PEM files of CA certificates to trust (`capath=`):
    /// every regular file in it that holds certificates is read.
    pub ca_dir: Option<PathBuf>,
    /// Trust the operating system's certificate store (/etc/ssl/certs and
    /// the like, read by rustls-native-certs).
    pub system_roots: bool,
    /// The client certificate chain (PEM) for mutual TLS
    /// (`load_cert_chain(certfile)`); needs `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key_file: Option<PathBuf>,
    /// The name sent for SNI and checked against the certificate; `None`:
    /// the host of each server's address (a name or an IP address).
    pub server_name: Option<String>,
    /// The oldest TLS version accepted.
    pub min_version: TlsVersion,
    /// Accept any certificate from anyone: no encryption worth the name.
    /// For tests against throwaway servers only; never in production.
    pub insecure_no_verify_testing_only: bool,
}

/// Credentials for memcached's ASCII authentication (`memcached -Y`): sent
/// on every new connection before anything else.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthCredentials {
    /// "<user> <password>", shared by every connection of a client.
    login: Arc<str>,
}

impl fmt::Debug for AuthCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCredentials")
            .field("username", &self.username())
            .field("password", &"<hidden>")
            .finish()
    }
}

impl AuthCredentials {
    /// Credentials for `username` and `password`: each non-empty, without
    /// spaces or control bytes (memcached splits the login at a space).
    pub fn new(username: &str, password: &str) -> Result<AuthCredentials> {
        check(username, password)?;
        Ok(AuthCredentials {
            login: Arc::from(format!("{username} {password}")),
        })
    }

    /// The user name.
    pub fn username(&self) -> &str {
        self.login.split_once(' ').map_or("", |(u, _)| u)
    }

    /// The `set` request memcached takes as a login: the key is ignored
    /// and the item is stored already expired (exptime -1), so a server
    /// without `-Y` keeps nothing of it.
    pub fn request(&self) -> Vec<u8> {
        let body = &self.login;
        format!("set _pmc_auth 0 -1 {}\r\n{body}\r\n", body.len()).into_bytes()
    }
}

/// Check credentials can be sent in one `set` request.
fn check(username: &str, password: &str) -> Result<()> {
    let bad = |s: &str| s.is_empty() || s.bytes().any(|b| b <= b' ' || b == 0x7f);
    if bad(username) {
        return Err(Error::Config(
            "auth username must be non-empty, without spaces or control characters".into(),
        ));
    }
    if bad(password) {
        return Err(Error::Config(
            "auth password must be non-empty, without spaces or control characters".into(),
        ));
    }
    Ok(())
}

/// `TlsOptions` made into a rustls client configuration (files read,
/// roots loaded), shared by every connection of a client.
#[derive(Clone)]
pub struct TlsConfig {
    inner: Arc<TlsInner>,
}

struct TlsInner {
    options: TlsOptions,
    config: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("options", &self.inner.options)
            .finish()
    }
}

/// Two configurations are equal when built from equal options.
impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.inner.options == other.inner.options
    }
}

impl Eq for TlsConfig {}

/// ring's provider with AES-128-GCM offered first (ring's default order
/// starts with AES-256-GCM): every suite stays offered and the server
/// (memcached's OpenSSL follows the client's order) encrypts each reply
/// with the cheaper cipher, which makes large replies measurably faster
/// on both sides.
fn provider() -> rustls::crypto::CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites.sort_by_key(|s| match s.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        _ => 1,
    });
    p
}

/// A TLS setup error: `Error::Tls` with what failed.
fn tls_err(text: impl Into<String>) -> Error {
    Error::Tls {
        text: text.into(),
        server: Default::default(),
    }
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| tls_err(format!("cannot read the {what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_err(format!(
            "the {what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn add_roots(
    store: &mut RootCertStore,
    certs: Vec<CertificateDer<'static>>,
    from: &Path,
) -> Result<()> {
    for c in certs {
        store.add(c).map_err(|e| {
            tls_err(format!(
                "a CA certificate in {} is not usable: {e}",
                from.display()
            ))
        })?;
    }
    Ok(())
}

impl TlsConfig {
    /// Read the files and roots `options` name and build the rustls
    /// configuration. Errors are `Error::Tls` (unreadable or empty files,
    /// a key that does not match) or `Error::Config` (a key without a
    /// certificate or the reverse).
    pub fn new(options: TlsOptions) -> Result<TlsConfig> {
        let provider = Arc::new(provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match options.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| tls_err(format!("TLS versions: {e}")))?;
        let builder = if options.insecure_no_verify_testing_only {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            builder.with_root_certificates(Self::roots(&options)?)
        };
        let config = match (&options.client_cert_file, &options.client_key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "client certificate file")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    tls_err(format!(
                        "cannot read the client key file {}: {e}",
                        key.display()
                    ))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_err(format!("client certificate and key: {e}")))?
            }
            _ => {
                return Err(Error::Config(
                    "a TLS client certificate needs its key, and a key its certificate".into(),
                ))
            }
        };
        if let Some(name) = &options.server_name {
            ServerName::try_from(name.as_str())
                .map_err(|e| Error::Config(format!("TLS server name {name:?}: {e}")))?;
        }
        Ok(TlsConfig {
            inner: Arc::new(TlsInner {
                options,
                config: Arc::new(config),
            }),
        })
    }

    /// The options this configuration was built from.
    pub fn options(&self) -> &TlsOptions {
        &self.inner.options
    }

    fn roots(options: &TlsOptions) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        if let Some(file) = &options.ca_file {
            add_roots(&mut store, read_certs(file, "CA file")?, file)?;
        }
        if let Some(dir) = &options.ca_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                tls_err(format!(
                    "cannot read the CA directory {}: {e}",
                    dir.display()
                ))
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.is_file() {
                    continue;
                }
                // Files holding no certificate (hash links' targets are
                // read under their own names, README files) are skipped.
                if let Ok(certs) = read_certs(&path, "CA file") {
                    add_roots(&mut store, certs, &path)?;
                }
            }
            if store.is_empty() {
                return Err(tls_err(format!(
                    "the CA directory {} holds no PEM certificate",
                    dir.display()
                )));
            }
        }
        let no_ca = options.ca_file.is_none() && options.ca_dir.is_none();
        if options.system_roots || no_ca {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or(String::new(), |e| format!(": {e}"));
                return Err(tls_err(format!(
                    "no CA certificate found in the system's store{why}"
                )));
            }
        }
        Ok(store)
    }

    /// A new client session for a server whose address has host `host`.
    pub fn session(&self, host: &str) -> Result<rustls::client::UnbufferedClientConnection> {
        let name = self.inner.options.server_name.as_deref().unwrap_or(host);
        // An IPv6 literal may come in brackets.
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|e| Error::Config(format!("TLS server name {name:?}: {e}")))?;
        rustls::client::UnbufferedClientConnection::new(self.inner.config.clone(), server_name)
            .map_err(|e| tls_err(format!("cannot start a TLS session: {e}")))
    }
}

/// What a rustls failure means for a person: the certificate problem named
/// plainly (expired, unknown CA, name mismatch), or a hint that the peer
/// does not speak TLS.
pub fn describe(err: &rustls::Error) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(c) => {
            let what = match c {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired"
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the server's certificate is not valid yet"
                }
                CertificateError::UnknownIssuer => {
                    "the server's certificate is signed by an unknown CA (not among the trusted roots)"
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "the server's certificate does not match the server name (name mismatch)"
                }
                CertificateError::BadSignature => "the server's certificate has a bad signature",
                CertificateError::Revoked => "the server's certificate is revoked",
                _ => "the server's certificate was refused",
            };
            format!("{what}: {err}")
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            format!("the server's reply is not TLS (is it a plaintext server, without -Z?): {err}")
        }
        E::AlertReceived(a) => {
            let hint = match a {
                rustls::AlertDescription::CertificateRequired => {
                    " (the server requires a client certificate)"
                }
                rustls::AlertDescription::UnknownCA
                | rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::CertificateUnknown
                | rustls::AlertDescription::DecryptError => {
                    " (the server refused the client certificate)"
                }
                rustls::AlertDescription::CertificateExpired => {
                    " (the server refused the client certificate: expired)"
                }
                rustls::AlertDescription::ProtocolVersion => " (no TLS version both sides accept)",
                _ => "",
            };
            format!("the server ended the handshake: {err}{hint}")
        }
        _ => err.to_string(),
    }
}

/// The verifier of `insecure_no_verify_testing_only`: every certificate
/// is accepted; signatures are still checked so the handshake completes.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
