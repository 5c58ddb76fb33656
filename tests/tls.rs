//! TLS (memcached -Z) and ASCII authentication (memcached -Y) against real
//! memcached processes, with certificates made at test time: every failure
//! mode gets its own error and a message naming what failed.

mod common;
use common::pki::Pki;
use common::Memcached;
use pymemcache::tls::{AuthCredentials, TlsConfig, TlsOptions, TlsVersion};
use pymemcache::{Client, ClientOptions, Error, Memcache, PoolOptions, PooledClient};
use std::time::{Duration, Instant};

fn opts_with(tls: Option<TlsOptions>) -> ClientOptions {
    ClientOptions {
        timeout: Some(Duration::from_secs(5)),
        connect_timeout: Some(Duration::from_secs(5)),
        reconnect_backoff: None,
        tls: tls.map(|t| TlsConfig::new(t).expect("TLS options")),
        ..Default::default()
    }
}

/// A TLS memcached with `pki.server` as its certificate.
fn tls_server(pki: &Pki) -> Memcached {
    Memcached::tcp_with(
        &Pki::server_args(&pki.server),
        opts_with(Some(pki.client_tls())),
    )
}

fn roundtrip(c: &dyn Memcache) {
    c.set(b"tls-key", b"over TLS", 3, 0, Some(false)).unwrap();
    let got = c.get(b"tls-key").unwrap().expect("hit");
    assert_eq!(got.value, b"over TLS");
    assert_eq!(got.flags, 3);
}

/// The error of the first command of a new client with `tls`.
fn first_error(addr: &str, tls: TlsOptions) -> Error {
    let c = Client::new(addr, &opts_with(Some(tls))).unwrap();
    c.version().expect_err("the connection must fail")
}

fn expect_tls(e: Error, words: &str) {
    match &e {
        Error::Tls { text, .. } => {
            assert!(text.contains(words), "TLS error should say {words:?}: {e}")
        }
        other => panic!("expected a TLS error saying {words:?}, got {other:?}"),
    }
}

#[test]
fn set_get_over_tls_single_and_pooled() {
    let pki = Pki::new();
    let m = tls_server(&pki);
    let opts = opts_with(Some(pki.client_tls()));
    let c = Client::new(&m.addr(), &opts).unwrap();
    roundtrip(&c);
    // A large value crosses many TLS records each way.
    let big: Vec<u8> = (0..900_000u32).map(|i| (i % 251) as u8).collect();
    c.set(b"big", &big, 0, 0, Some(false)).unwrap();
    assert_eq!(c.get(b"big").unwrap().unwrap().value, big);
    let many: Vec<(Vec<u8>, Vec<u8>)> = (0..2000)
        .map(|i| (format!("k{i}").into_bytes(), vec![b'v'; i % 300]))
        .collect();
    let items: Vec<(&[u8], &[u8])> = many
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    assert!(c.set_many(&items, 0, 0, Some(false)).unwrap().is_empty());
    let keys: Vec<&[u8]> = many.iter().map(|(k, _)| k.as_slice()).collect();
    let got = c.get_many(&keys).unwrap();
    assert_eq!(got.len(), many.len());

    let p = PooledClient::new(
        &m.addr(),
        &opts,
        PoolOptions {
            max_size: Some(4),
            ..Default::default()
        },
    )
    .unwrap();
    roundtrip(&p);
    std::thread::scope(|s| {
        for t in 0..4 {
            let p = &p;
            s.spawn(move || {
                for i in 0..200 {
                    let k = format!("t{t}-{i}");
                    p.set(k.as_bytes(), b"x", 0, 0, Some(false)).unwrap();
                    assert!(p.get(k.as_bytes()).unwrap().is_some());
                }
            });
        }
    });
}

#[test]
fn localhost_name_and_server_name_override() {
    let pki = Pki::new();
    let m = tls_server(&pki);
    let port = m.addr().rsplit_once(':').unwrap().1.to_string();
    // By host name: the certificate names localhost.
    let c = Client::new(
        &format!("localhost:{port}"),
        &opts_with(Some(pki.client_tls())),
    )
    .unwrap();
    roundtrip(&c);
    // An explicit server name the certificate does not hold.
    let e = first_error(
        &m.addr(),
        TlsOptions {
            server_name: Some("memcached.example.com".into()),
            ..pki.client_tls()
        },
    );
    expect_tls(e, "name mismatch");
    // An explicit one it holds.
    let c = Client::new(
        &m.addr(),
        &opts_with(Some(TlsOptions {
            server_name: Some("localhost".into()),
            ..pki.client_tls()
        })),
    )
    .unwrap();
    roundtrip(&c);
}

#[test]
fn expired_certificate() {
    let pki = Pki::new();
    let m = Memcached::tcp_with(
        &Pki::server_args(&pki.expired_server),
        opts_with(Some(TlsOptions {
            insecure_no_verify_testing_only: true,
            ..Default::default()
        })),
    );
    let e = first_error(&m.addr(), pki.client_tls());
    expect_tls(e, "expired");
}

#[test]
fn unknown_ca() {
    let pki = Pki::new();
    let m = Memcached::tcp_with(
        &Pki::server_args(&pki.foreign_server),
        opts_with(Some(TlsOptions {
            ca_file: Some(pki.other_ca.clone()),
            ..Default::default()
        })),
    );
    let e = first_error(&m.addr(), pki.client_tls());
    expect_tls(e, "unknown CA");
    // The system's store does not hold a test CA either.
    let e = first_error(
        &m.addr(),
        TlsOptions {
            system_roots: true,
            ..Default::default()
        },
    );
    expect_tls(e, "unknown CA");
}

#[test]
fn ca_directory() {
    let pki = Pki::new();
    let m = tls_server(&pki);
    let dir = common::temp_dir();
    std::fs::copy(&pki.ca, dir.join("ca.pem")).unwrap();
    std::fs::write(dir.join("README"), "not a certificate").unwrap();
    let c = Client::new(
        &m.addr(),
        &opts_with(Some(TlsOptions {
            ca_dir: Some(dir.clone()),
            ..Default::default()
        })),
    )
    .unwrap();
    roundtrip(&c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn insecure_mode_accepts_any_certificate() {
    let pki = Pki::new();
    let m = Memcached::tcp_with(
        &Pki::server_args(&pki.expired_server),
        opts_with(Some(TlsOptions {
            insecure_no_verify_testing_only: true,
            ..Default::default()
        })),
    );
    let c = Client::new(
        &m.addr(),
        &opts_with(Some(TlsOptions {
            insecure_no_verify_testing_only: true,
            ..Default::default()
        })),
    )
    .unwrap();
    roundtrip(&c);
}

#[test]
fn mutual_tls() {
    let pki = Pki::new();
    let m = Memcached::tcp_with(
        &pki.mutual_server_args(&pki.server),
        opts_with(Some(pki.client_mutual_tls())),
    );
    let c = Client::new(&m.addr(), &opts_with(Some(pki.client_mutual_tls()))).unwrap();
    roundtrip(&c);
    // Without a client certificate: the server refuses (TLS 1.3 tells the
    // client after its side of the handshake, on the first read).
    let e = first_error(&m.addr(), pki.client_tls());
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("client certificate"), "{e}");
    // With a certificate from another CA.
    let e = first_error(
        &m.addr(),
        TlsOptions {
            client_cert_file: Some(pki.foreign_client.cert.clone()),
            client_key_file: Some(pki.foreign_client.key.clone()),
            ..pki.client_tls()
        },
    );
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("client certificate"), "{e}");
}

#[test]
fn minimum_version_tls13() {
    let pki = Pki::new();
    // A server that stops at TLS 1.2 (ssl_min_version 2, TLS 1.3 disabled
    // is not an option of memcached: its range is its OpenSSL's), so the
    // 1.3-only client still connects to a 1.3-capable server.
    let m = tls_server(&pki);
    let c = Client::new(
        &m.addr(),
        &opts_with(Some(TlsOptions {
            min_version: TlsVersion::Tls13,
            ..pki.client_tls()
        })),
    )
    .unwrap();
    roundtrip(&c);
}

#[test]
fn bad_files_are_tls_errors_at_build_time() {
    let pki = Pki::new();
    let missing = pki.dir.join("missing.pem");
    let e = TlsConfig::new(TlsOptions {
        ca_file: Some(missing.clone()),
        ..Default::default()
    })
    .unwrap_err();
    expect_tls(e, "missing.pem");
    let e = TlsConfig::new(TlsOptions {
        ca_file: Some(pki.server.key.clone()),
        ..Default::default()
    })
    .unwrap_err();
    expect_tls(e, "no PEM certificate");
    // A key that is not the certificate's.
    let e = TlsConfig::new(TlsOptions {
        client_cert_file: Some(pki.client.cert.clone()),
        client_key_file: Some(pki.server.key.clone()),
        ..pki.client_tls()
    })
    .unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    let e = TlsConfig::new(TlsOptions {
        client_cert_file: Some(pki.client.cert.clone()),
        ..pki.client_tls()
    })
    .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
}

#[test]
fn plaintext_client_against_tls_server_fails_clearly() {
    let pki = Pki::new();
    let m = tls_server(&pki);
    let c = Client::new(&m.addr(), &opts_with(None)).unwrap();
    let start = Instant::now();
    let e = c
        .version()
        .expect_err("a TLS server does not answer plaintext");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert!(e.to_string().contains("TLS"), "should say TLS: {e}");
}

#[test]
fn tls_client_against_plaintext_server_fails_clearly() {
    let m = Memcached::tcp(&[]);
    let pki = Pki::new();
    let start = Instant::now();
    let e = first_error(&m.addr(), pki.client_tls());
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    expect_tls(e, "not TLS");
}

#[test]
fn handshake_is_bounded_by_connect_timeout() {
    // A server that accepts and never answers: the handshake waits for
    // its reply until the connect timeout.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let pki = Pki::new();
    let opts = ClientOptions {
        connect_timeout: Some(Duration::from_millis(300)),
        ..opts_with(Some(pki.client_tls()))
    };
    let c = Client::new(&addr, &opts).unwrap();
    let start = Instant::now();
    let e = c.version().unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("TLS handshake"), "{e}");
    // The limit named is the one the user set, not a call deadline.
    assert!(e.to_string().contains("connect_timeout"), "{e}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    drop(l);
}

#[test]
fn restarted_server_gets_a_new_handshake() {
    let pki = Pki::new();
    let mut m = tls_server(&pki);
    let opts = opts_with(Some(pki.client_tls()));
    let c = Client::new(&m.addr(), &opts).unwrap();
    let p = PooledClient::new(&m.addr(), &opts, PoolOptions::default()).unwrap();
    roundtrip(&c);
    roundtrip(&p);
    m.kill();
    assert!(c.get(b"tls-key").is_err());
    m.restart();
    // The broken connection was dropped; the next call connects anew.
    let mut ok = false;
    for _ in 0..3 {
        if c.set(b"again", b"1", 0, 0, Some(false)).is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "the client did not reconnect over TLS");
    assert_eq!(c.get(b"again").unwrap().unwrap().value, b"1");
    let mut ok = false;
    for _ in 0..5 {
        if p.get(b"again").ok().flatten().is_some() {
            ok = true;
            break;
        }
    }
    assert!(ok, "the pool did not reconnect over TLS");
}

// ---- ASCII authentication (memcached -Y) ------------------------------

fn auth_server(extra: &[String], tls: Option<TlsOptions>) -> (Memcached, std::path::PathBuf) {
    let dir = common::temp_dir();
    let file = dir.join("auth");
    std::fs::write(&file, "alice:s3cret\nbob:hunter2\n").unwrap();
    let mut args = vec!["-Y".to_string(), file.display().to_string()];
    args.extend_from_slice(extra);
    let probe = ClientOptions {
        auth: Some(AuthCredentials::new("bob", "hunter2").unwrap()),
        ..opts_with(tls)
    };
    (Memcached::tcp_with(&args, probe), dir)
}

fn with_auth(user: &str, pass: &str, tls: Option<TlsOptions>) -> ClientOptions {
    ClientOptions {
        auth: Some(AuthCredentials::new(user, pass).unwrap()),
        ..opts_with(tls)
    }
}

#[test]
fn auth_right_password() {
    let (m, _d) = auth_server(&[], None);
    let c = Client::new(&m.addr(), &with_auth("alice", "s3cret", None)).unwrap();
    roundtrip(&c);
    let p = PooledClient::new(
        &m.addr(),
        &with_auth("bob", "hunter2", None),
        PoolOptions::default(),
    )
    .unwrap();
    roundtrip(&p);
}

#[test]
fn auth_wrong_password_is_an_auth_error_not_a_hang() {
    let (m, _d) = auth_server(&[], None);
    let c = Client::new(&m.addr(), &with_auth("alice", "wrong", None)).unwrap();
    let start = Instant::now();
    let e = c.get(b"k").unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("alice"), "{e}");
    let c = Client::new(&m.addr(), &with_auth("mallory", "hunter2", None)).unwrap();
    assert!(matches!(c.get(b"k").unwrap_err(), Error::Auth { .. }));
}

#[test]
fn auth_missing_credentials_is_an_auth_error() {
    let (m, _d) = auth_server(&[], None);
    let c = Client::new(&m.addr(), &opts_with(None)).unwrap();
    let e = c.version().unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("requires authentication"), "{e}");
}

#[test]
fn auth_against_a_server_without_auth_stores_nothing() {
    let m = Memcached::tcp(&[]);
    let c = Client::new(&m.addr(), &with_auth("alice", "pw", None)).unwrap();
    roundtrip(&c);
    let plain = Client::new(&m.addr(), &opts_with(None)).unwrap();
    assert!(plain.get(b"_pmc_auth").unwrap().is_none());
}

#[test]
fn auth_credentials_are_checked() {
    assert!(matches!(
        AuthCredentials::new("a b", "x"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        AuthCredentials::new("a", ""),
        Err(Error::Config(_))
    ));
    // memcached splits the login at a space.
    assert!(matches!(
        AuthCredentials::new("a", "two words"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        AuthCredentials::new("a", "x\r\ny"),
        Err(Error::Config(_))
    ));
    assert!(!format!("{:?}", AuthCredentials::new("a", "secret").unwrap()).contains("secret"));
}

#[test]
fn auth_over_tls() {
    let pki = Pki::new();
    let (m, _d) = auth_server(&Pki::server_args(&pki.server), Some(pki.client_tls()));
    let c = Client::new(
        &m.addr(),
        &with_auth("bob", "hunter2", Some(pki.client_tls())),
    )
    .unwrap();
    roundtrip(&c);
    let c = Client::new(&m.addr(), &with_auth("bob", "nope", Some(pki.client_tls()))).unwrap();
    assert!(matches!(c.version().unwrap_err(), Error::Auth { .. }));
}

#[test]
fn auth_restarted_server_logs_in_again() {
    let (mut m, _d) = auth_server(&[], None);
    let c = Client::new(&m.addr(), &with_auth("bob", "hunter2", None)).unwrap();
    roundtrip(&c);
    m.kill();
    m.restart();
    let mut ok = false;
    for _ in 0..3 {
        if c.set(b"again", b"1", 0, 0, Some(false)).is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok);
}

#[test]
fn unix_socket_stays_plaintext_under_tls_options() {
    // memcached -Z serves TLS on TCP listeners only; a client with TLS
    // options speaks plaintext over a UNIX socket.
    let pki = Pki::new();
    let args = Pki::server_args(&pki.server);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let m = Memcached::unix(&args);
    let c = Client::new(&m.addr(), &opts_with(Some(pki.client_tls()))).unwrap();
    roundtrip(&c);
}
