//! Certificates made at test time (rcgen): a CA, a server certificate for
//! 127.0.0.1 and localhost, a client certificate, an expired server
//! certificate, and a server certificate from another CA. Written as PEM
//! files into a temporary directory, for memcached (-Z) and the client.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A certificate and key written as PEM files.
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Every certificate the TLS tests use.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA that signs the server and client certificates.
    pub ca: PathBuf,
    /// Another CA, which signs `foreign_server`.
    pub other_ca: PathBuf,
    /// For 127.0.0.1 and localhost, signed by `ca`.
    pub server: Pair,
    /// For 127.0.0.1 and localhost, signed by `ca`, expired in 2021.
    pub expired_server: Pair,
    /// For 127.0.0.1 and localhost, signed by `other_ca`.
    pub foreign_server: Pair,
    /// A client certificate signed by `ca` (mutual TLS).
    pub client: Pair,
    /// A client certificate signed by `other_ca`.
    pub foreign_client: Pair,
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn leaf(dir: &Path, name: &str, ca: &Ca, server: bool, expired: bool) -> Pair {
    let key = KeyPair::generate().unwrap();
    let sans = if server {
        vec!["127.0.0.1".to_string(), "localhost".to_string()]
    } else {
        Vec::new()
    };
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    } else {
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    }
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let pair = Pair {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&pair.cert, cert.pem()).unwrap();
    std::fs::write(&pair.key, key.serialize_pem()).unwrap();
    pair
}

impl Pki {
    /// Make every certificate in a fresh temporary directory.
    pub fn new() -> Pki {
        let dir = super::temp_dir();
        let ca = make_ca("pymemcache-rs test CA");
        let other = make_ca("some other CA");
        let ca_path = dir.join("ca.pem");
        let other_path = dir.join("other-ca.pem");
        std::fs::write(&ca_path, ca.cert.pem()).unwrap();
        std::fs::write(&other_path, other.cert.pem()).unwrap();
        Pki {
            server: leaf(&dir, "server", &ca, true, false),
            expired_server: leaf(&dir, "expired-server", &ca, true, true),
            foreign_server: leaf(&dir, "foreign-server", &other, true, false),
            client: leaf(&dir, "client", &ca, false, false),
            foreign_client: leaf(&dir, "foreign-client", &other, false, false),
            ca: ca_path,
            other_ca: other_path,
            dir,
        }
    }

    /// memcached's arguments for TLS with `pair` as its certificate.
    pub fn server_args(pair: &Pair) -> Vec<String> {
        vec![
            "-Z".into(),
            "-o".into(),
            format!(
                "ssl_chain_cert={},ssl_key={}",
                pair.cert.display(),
                pair.key.display()
            ),
        ]
    }

    /// memcached's arguments for mutual TLS: `pair` as its certificate,
    /// client certificates required and checked against `ca`.
    pub fn mutual_server_args(&self, pair: &Pair) -> Vec<String> {
        vec![
            "-Z".into(),
            "-o".into(),
            format!(
                "ssl_chain_cert={},ssl_key={},ssl_ca_cert={},ssl_verify_mode=2",
                pair.cert.display(),
                pair.key.display(),
                self.ca.display()
            ),
        ]
    }

    /// Client TLS options trusting `ca`.
    pub fn client_tls(&self) -> pymemcache::tls::TlsOptions {
        pymemcache::tls::TlsOptions {
            ca_file: Some(self.ca.clone()),
            ..Default::default()
        }
    }

    /// Client TLS options trusting `ca`, presenting `client`.
    pub fn client_mutual_tls(&self) -> pymemcache::tls::TlsOptions {
        pymemcache::tls::TlsOptions {
            client_cert_file: Some(self.client.cert.clone()),
            client_key_file: Some(self.client.key.clone()),
            ..self.client_tls()
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
