//! `pmc_options`: the builder a client is made from.

use super::boundary::{as_mut, boundary, bytes, run, text};
use super::status::{
    fail, fail_with, pmc_error, pmc_status, report, PMC_CONFIG_ERROR, PMC_INVALID_ARGUMENT, PMC_OK,
};
use crate::addr::ServerAddr;
use crate::client::{BackoffOptions, ClientOptions, HashOptions};
use crate::hash::KeyForm;
use crate::pool::PoolOptions;
use crate::tls::{AuthCredentials, TlsConfig, TlsOptions, TlsVersion};
use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

/// Options for a client: servers and behaviour. Made by `pmc_options_new`,
/// released by `pmc_options_free`. A client copies what it needs, so the
/// options may be freed (or reused) right after `pmc_client_new`.
/// Not for use from several threads at once.
#[allow(non_camel_case_types)]
pub struct pmc_options {
    pub(crate) servers: Vec<ServerAddr>,
    pub(crate) client: ClientOptions,
    pub(crate) use_pooling: bool,
    pub(crate) pool: PoolOptions,
    pub(crate) use_hash: bool,
    pub(crate) hash: HashOptions,
    pub(crate) mock: bool,
    pub(crate) compression: Option<usize>,
    pub(crate) callbacks: Option<super::serde::Callbacks>,
    /// TLS as asked for; made into a `TlsConfig` by `pmc_client_new`.
    pub(crate) tls: Option<TlsOptions>,
}

impl pmc_options {
    /// The client options with TLS built (files read, roots loaded).
    pub(crate) fn client_options(&self) -> Result<ClientOptions, pmc_status> {
        let mut client = self.client.clone();
        if let Some(t) = &self.tls {
            client.tls = Some(TlsConfig::new(t.clone()).map_err(|e| fail_with(&e))?);
        }
        Ok(client)
    }
}

/// A new options builder with pymemcache's defaults: no servers, no
/// timeouts (blocking), no_delay off, keepalive off, ignore_exc off, no key
/// prefix, default_noreply on, unicode keys off, max_value_len 64 MiB.
/// Returns NULL only if memory is exhausted. Free with `pmc_options_free`.
#[no_mangle]
pub extern "C" fn pmc_options_new() -> *mut pmc_options {
    boundary(|| {
        Box::into_raw(Box::new(pmc_options {
            servers: Vec::new(),
            client: ClientOptions::default(),
            use_pooling: false,
            pool: PoolOptions::default(),
            use_hash: false,
            hash: HashOptions::default(),
            mock: false,
            compression: None,
            callbacks: None,
            tls: None,
        }))
    })
}

/// Release options made by `pmc_options_new`. NULL is a no-op; freeing the
/// same options twice is undefined behaviour.
///
/// # Safety
/// `opts` is NULL or a pointer from `pmc_options_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_free(opts: *mut pmc_options) {
    boundary(|| {
        if !opts.is_null() {
            drop(Box::from_raw(opts));
        }
    })
}

/// Add a server: "host:port", "[ipv6]:port", or a UNIX socket path
/// (starting with '/'). One server makes a single-server client; two or
/// more make a hash client, which places each key on one server exactly as
/// pymemcache's HashClient does.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, PMC_INVALID_ARGUMENT (not UTF-8) or
/// PMC_CONFIG_ERROR (not an address).
///
/// # Safety
/// `opts` is a live options pointer; `server` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_add_server(
    opts: *mut pmc_options,
    server: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            let spec = text(server, "server")?;
            let addr = ServerAddr::parse(spec).map_err(|e| fail_with(&e))?;
            o.servers.push(addr);
            Ok(PMC_OK)
        }),
    )
}

fn millis(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

/// Apply one setting to live options.
unsafe fn set(opts: *mut pmc_options, apply: impl FnOnce(&mut pmc_options)) -> pmc_status {
    run(|| {
        apply(as_mut(opts, "opts")?);
        Ok(PMC_OK)
    })
}

/// Limit on establishing a connection, in milliseconds; 0 = no limit.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_connect_timeout_ms(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.connect_timeout = millis(value)))
}

/// Limit on each socket read and write, in milliseconds; 0 = no limit.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_timeout_ms(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.timeout = millis(value)))
}

/// Limit on a whole call, in milliseconds; 0 = none (the default, as
/// pymemcache: then only the connect and socket timeouts apply, each to one
/// step). It bounds waiting for the connection (another thread's call on a
/// single-server client, or a full pool), connecting, writing and reading
/// together; a call past it fails with PMC_TIMEOUT ("the call's deadline
/// passed ..."). A hash client applies it per server of a multi-server
/// command (they run side by side); a retrying client gives each attempt
/// its own. Each read and write then costs one poll(2) more.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_deadline_ms(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.deadline = millis(value)))
}

/// Reconnect backoff of single-server and pooled clients: after a failed
/// connect, the next connects to that server within a window fail at once
/// with the same status and message (plus "not retried: reconnect backoff
/// ..."); the window is `initial_ms` after the first failure and doubles
/// with each further one up to `max_ms`; a successful connect resets it.
/// The default is on, 10 ms doubling to 1000 ms; `initial_ms` 0 turns it off
/// (every call tries to connect, as pymemcache). Hash-client nodes follow
/// the retry / dead-timeout options instead. Returns PMC_OK,
/// PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT when `max_ms` is below
/// `initial_ms`.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_reconnect_backoff_ms(
    opts: *mut pmc_options,
    initial_ms: u32,
    max_ms: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            if initial_ms > 0 && max_ms < initial_ms {
                return Err(fail(
                    PMC_INVALID_ARGUMENT,
                    &format!("reconnect backoff: max_ms {max_ms} is below initial_ms {initial_ms}"),
                ));
            }
            o.client.reconnect_backoff = (initial_ms > 0).then(|| BackoffOptions {
                initial: Duration::from_millis(u64::from(initial_ms)),
                max: Duration::from_millis(u64::from(max_ms)),
            });
            Ok(PMC_OK)
        }),
    )
}

/// Set TCP_NODELAY on TCP connections (default off, as pymemcache).
/// Recommended on: without it a noreply command followed by a request can
/// wait about 40 ms for the server's delayed ACK.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_no_delay(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.no_delay = value))
}

/// Set SO_KEEPALIVE on TCP connections (default off).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_keepalive(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.keepalive = value))
}

/// Make get, gets, gat, gats and their many-key forms report connection
/// and server errors as misses, and stats as an empty list (default off),
/// as pymemcache's ignore_exc. Illegal keys still fail. A hash client gives
/// every command its default (a miss, not stored, not found) on a failed
/// server.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_ignore_exc(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.ignore_exc = value))
}

/// Whether storage commands, delete, touch and flush_all skip the
/// server's reply when called with PMC_REPLY_DEFAULT (default on, as
/// pymemcache).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_default_noreply(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.default_noreply = value))
}

/// Accept text keys with non-ASCII characters (default off): pymemcache's
/// `allow_unicode_keys`, which applies to `str` keys only. C keys are bytes
/// and are checked as pymemcache checks `bytes` keys (any byte but ASCII
/// whitespace and NUL), so this does not change them; the Go, Ruby and Node
/// bindings apply it to their text keys.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_allow_unicode_keys(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.allow_unicode_keys = value))
}

/// The longest value sent, or accepted in a reply, in bytes (default
/// 64 MiB); longer ones give PMC_TOO_LARGE.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_max_value_len(
    opts: *mut pmc_options,
    value: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.client.max_value_len = value))
}

/// Give the client a pool of connections (pymemcache's PooledClient; for a
/// hash client, one pool per server), so that one handle serves many
/// threads at once (default off: one connection per server, calls on it
/// serialized).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_use_pooling(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.use_pooling = value))
}

/// The most connections a pooled client keeps open at once; 0 = unbounded
/// (the default, as pymemcache).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_max_pool_size(
    opts: *mut pmc_options,
    value: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set(opts, |o| o.pool.max_size = (value > 0).then_some(value)),
    )
}

/// How long a command waits for a free connection when the pool is at its
/// maximum, in milliseconds; 0 (the default, as pymemcache) fails at once
/// with PMC_POOL_EXHAUSTED.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_pool_timeout_ms(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set(opts, |o| {
            o.pool.timeout = Duration::from_millis(u64::from(value))
        }),
    )
}

/// Close pooled connections left idle longer than this, in milliseconds;
/// 0 = never (the default, as pymemcache).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_pool_idle_timeout_ms(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.pool.idle_timeout = millis(value)))
}

/// Make an in-memory mock client (pymemcache's MockMemcacheClient) instead
/// of talking to a server: for unit tests of programs that use this
/// library. It implements every command with memcached 1.6's semantics
/// (expiry, CAS uniques, incr/decr wrapping and padding, 1 MiB item limit,
/// the same key rules and key prefix) and is held to the same conformance
/// table as the real clients. Servers in the options are ignored. Returns
/// PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_mock(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.mock = value))
}

/// Make a hash client (pymemcache's HashClient) even with one server, so
/// that servers can be added later. Two or more servers always make one.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_use_hash_client(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.use_hash = value))
}

/// Hash client: how many retries of a failed server (each at least
/// retry_timeout after the last failure) fail before it is declared dead
/// and its keys move to the other servers (default 2; 0 = dead at the
/// first failure).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_retry_attempts(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, set(opts, |o| o.hash.retry_attempts = value))
}

/// Hash client: least time between tries of a failed server, in
/// milliseconds (default 1000). Meanwhile its commands give their defaults
/// (a miss, not stored, not found), as pymemcache's HashClient, whatever
/// ignore_exc says; only the failure itself and a failed retry are errors.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_retry_timeout_ms(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set(opts, |o| {
            o.hash.retry_timeout = Duration::from_millis(u64::from(value))
        }),
    )
}

/// Hash client: how long a dead server stays out of the hash before it is
/// tried again, in milliseconds (default 60000).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_dead_timeout_ms(
    opts: *mut pmc_options,
    value: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set(opts, |o| {
            o.hash.dead_timeout = Duration::from_millis(u64::from(value))
        }),
    )
}

/// How the fleet's Python services pass keys to pymemcache's HashClient:
/// one of `PMC_KEY_FORM_TEXT`, `PMC_KEY_FORM_PYTHON_BYTES`.
#[allow(non_camel_case_types)]
pub type pmc_key_form = i32;
/// Keys are Python `str` (the default): placement hashes the key's text.
pub const PMC_KEY_FORM_TEXT: pmc_key_form = 0;
/// Keys are Python `bytes`: pymemcache hashes `f"{node}-{key}"`, which for
/// bytes is the repr (`b'user:1'`), so keys land on other nodes than as text.
pub const PMC_KEY_FORM_PYTHON_BYTES: pmc_key_form = 1;

/// Hash client: place keys where pymemcache places them when the fleet's
/// Python services pass keys in `form` (default PMC_KEY_FORM_TEXT). Only
/// placement changes; keys are sent and checked the same way.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT for an unknown
/// form (the options are then unchanged).
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_hash_key_form(
    opts: *mut pmc_options,
    form: pmc_key_form,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            o.hash.key_form = match form {
                PMC_KEY_FORM_TEXT => KeyForm::Text,
                PMC_KEY_FORM_PYTHON_BYTES => KeyForm::PythonBytes,
                other => {
                    return Err(fail(
                        PMC_INVALID_ARGUMENT,
                        &format!(
                        "key form {other} is not PMC_KEY_FORM_TEXT or PMC_KEY_FORM_PYTHON_BYTES"
                    ),
                    ))
                }
            };
            Ok(PMC_OK)
        }),
    )
}

/// Prepend `prefix` (`len` bytes, need not be NUL-terminated) to every key;
/// it counts toward the 250-byte key limit. An empty prefix removes it.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, or PMC_CONFIG_ERROR if the prefix
/// itself is not a legal key.
///
/// # Safety
/// `opts` is a live options pointer; `prefix` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_key_prefix(
    opts: *mut pmc_options,
    prefix: *const u8,
    len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            let p = bytes(prefix, len, "prefix")?;
            crate::key::KeyRules::new(p, true).map_err(|e| fail_with(&e))?;
            o.client.key_prefix = p.to_vec();
            Ok(PMC_OK)
        }),
    )
}

// ---- TLS and authentication ---------------------------------------------

/// Apply one TLS setting, turning TLS on.
unsafe fn set_tls(
    opts: *mut pmc_options,
    apply: impl FnOnce(&mut TlsOptions) -> Result<(), pmc_status>,
) -> pmc_status {
    run(|| {
        let o = as_mut(opts, "opts")?;
        apply(o.tls.get_or_insert_with(TlsOptions::default))?;
        Ok(PMC_OK)
    })
}

/// Secure TCP connections with TLS (`memcached -Z`), or not (default off).
/// With TLS on and no CA file or directory set, the server certificate is
/// checked against the system's store (as Python's
/// `ssl.create_default_context()`). Every `pmc_options_set_tls_*` setter
/// turns TLS on; this turns it off again, forgetting those settings. UNIX
/// sockets stay plaintext: memcached serves TLS on TCP only. The handshake
/// is part of connecting (`pmc_options_set_connect_timeout_ms` covers it);
/// a pooled client pays it once per pooled connection, not per call.
/// Certificate and key files are read by `pmc_client_new`, which fails
/// with PMC_TLS_ERROR when they cannot be used. Handshake failures give
/// PMC_TLS_ERROR with a message saying what failed (expired, unknown CA,
/// name mismatch, not a TLS server, client certificate refused).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls(
    opts: *mut pmc_options,
    enabled: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set(opts, |o| {
            o.tls = if enabled {
                o.tls.take().or_else(|| Some(TlsOptions::default()))
            } else {
                None
            }
        }),
    )
}

/// Trust the CA certificates of a PEM file (pymemcache: `cafile=` of
/// `ssl.create_default_context`); turns TLS on.
/// Returns PMC_OK, PMC_NULL_ARGUMENT or PMC_INVALID_ARGUMENT (not UTF-8).
///
/// # Safety
/// `opts` is NULL or a live options pointer; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls_ca_file(
    opts: *mut pmc_options,
    path: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set_tls(opts, |t| {
            t.ca_file = Some(PathBuf::from(text(path, "path")?));
            Ok(())
        }),
    )
}

/// Trust the CA certificates of every PEM file in a directory (`capath=`);
/// turns TLS on.
/// Returns PMC_OK, PMC_NULL_ARGUMENT or PMC_INVALID_ARGUMENT (not UTF-8).
///
/// # Safety
/// `opts` is NULL or a live options pointer; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls_ca_dir(
    opts: *mut pmc_options,
    path: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set_tls(opts, |t| {
            t.ca_dir = Some(PathBuf::from(text(path, "path")?));
            Ok(())
        }),
    )
}

/// Trust the system's certificate store as well as any CA file or
/// directory (`load_default_certs()`); turns TLS on. Without a CA file or
/// directory the system's store is used anyway.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls_system_roots(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set_tls(opts, |t| {
            t.system_roots = value;
            Ok(())
        }),
    )
}

/// Present a client certificate for mutual TLS (`load_cert_chain(certfile,
/// keyfile)`): a PEM certificate chain and its PEM private key (PKCS#8,
/// PKCS#1 or SEC1); turns TLS on.
/// Returns PMC_OK, PMC_NULL_ARGUMENT or PMC_INVALID_ARGUMENT (not UTF-8).
///
/// # Safety
/// `opts` is NULL or a live options pointer; `cert_path` and `key_path`
/// NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls_client_cert(
    opts: *mut pmc_options,
    cert_path: *const c_char,
    key_path: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set_tls(opts, |t| {
            let cert = text(cert_path, "cert_path")?;
            let key = text(key_path, "key_path")?;
            t.client_cert_file = Some(PathBuf::from(cert));
            t.client_key_file = Some(PathBuf::from(key));
            Ok(())
        }),
    )
}

/// The name sent for SNI and checked against the server's certificate
/// (`server_hostname=`); by default the host of each server's address (a
/// name or an IP address); turns TLS on.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, PMC_INVALID_ARGUMENT (not UTF-8) or
/// PMC_CONFIG_ERROR (not a DNS name or IP address).
///
/// # Safety
/// `opts` is NULL or a live options pointer; `name` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls_server_name(
    opts: *mut pmc_options,
    name: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set_tls(opts, |t| {
            let name = text(name, "name")?;
            rustls::pki_types::ServerName::try_from(name)
                .map_err(|e| fail(PMC_CONFIG_ERROR, &format!("TLS server name {name:?}: {e}")))?;
            t.server_name = Some(name.to_owned());
            Ok(())
        }),
    )
}

/// The oldest TLS version accepted: "1.2" (the default) or "1.3"
/// (`minimum_version`); turns TLS on.
/// Returns PMC_OK, PMC_NULL_ARGUMENT or PMC_INVALID_ARGUMENT (another
/// version).
///
/// # Safety
/// `opts` is NULL or a live options pointer; `version` a NUL-terminated
/// string.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls_min_version(
    opts: *mut pmc_options,
    version: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set_tls(opts, |t| {
            t.min_version = match text(version, "version")? {
                "1.2" => TlsVersion::Tls12,
                "1.3" => TlsVersion::Tls13,
                other => {
                    return Err(fail(
                        PMC_INVALID_ARGUMENT,
                        &format!("TLS version {other:?}: \"1.2\" or \"1.3\""),
                    ))
                }
            };
            Ok(())
        }),
    )
}

/// FOR TESTS ONLY: accept any server certificate from anyone, unchecked
/// (`check_hostname = False` with `verify_mode = CERT_NONE`). The traffic
/// is encrypted but anyone on the path can read and change it. Never ship
/// this. Turns TLS on.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_tls_insecure_no_verify_testing_only(
    opts: *mut pmc_options,
    value: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        set_tls(opts, |t| {
            t.insecure_no_verify_testing_only = value;
            Ok(())
        }),
    )
}

/// Log in with memcached's ASCII authentication (`memcached -Y authfile`)
/// on every new connection, before any command: a wrong user name or
/// password gives PMC_AUTH_ERROR on the first command (as does a server
/// that wants a login when none is set). NULL for both turns it off.
/// Returns PMC_OK, PMC_NULL_ARGUMENT (one of the two NULL),
/// PMC_INVALID_ARGUMENT (not UTF-8) or PMC_CONFIG_ERROR (empty, or with a
/// space or control character: memcached splits the login at a space).
///
/// # Safety
/// `opts` is NULL or a live options pointer; `username` and `password`
/// NUL-terminated strings, or both NULL.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_auth(
    opts: *mut pmc_options,
    username: *const c_char,
    password: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            if username.is_null() && password.is_null() {
                o.client.auth = None;
                return Ok(PMC_OK);
            }
            let user = text(username, "username")?;
            let pass = text(password, "password")?;
            o.client.auth = Some(AuthCredentials::new(user, pass).map_err(|e| fail_with(&e))?);
            Ok(PMC_OK)
        }),
    )
}
