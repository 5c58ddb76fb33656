//! What each command does, over the library's `Memcache` trait: keyed
//! commands through a `Client` (one server) or a `HashClient` (several),
//! server commands through one `Client` per server so that each server's
//! answer or failure is reported on its own.

use crate::servers::ServerList;
use crate::status::Status;
use crate::{Cli, Cmd, GetArgs, ManArgs, ValueArgs};
use pymemcache::client::FetchCmd;
use pymemcache::tls::{AuthCredentials, TlsConfig, TlsOptions};
use pymemcache::Error;
use pymemcache::{
    CasOutcome, Client, ClientOptions, HashClient, HashOptions, Item, KeyForm, Memcache, ServerAddr,
};
use std::borrow::Cow;
use std::fmt::Display;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Instant;

/// How `lru_crawler metadump` output may grow before `keys` gives up.
const MAX_DUMP_LEN: usize = 256 * 1024 * 1024;

/// How fetched values are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// The bytes exactly.
    Raw,
    /// The value and a newline.
    Line,
    /// "VALUE KEY FLAGS BYTES[ CAS]", the bytes, a newline.
    Framed,
    /// Nothing: only whether the key exists.
    Nothing,
}

/// The state of one run: the servers, the options, the worst outcome so far
/// and stdout.
struct Ctx {
    servers: Vec<String>,
    opts: ClientOptions,
    /// Placement over several servers: text or Python bytes keys.
    key_form: KeyForm,
    quiet: bool,
    status: Status,
    out: io::BufWriter<io::StdoutLock<'static>>,
    write_error: Option<io::Error>,
    /// `--metrics`: every client made, to print their metrics at the end.
    metrics: Option<Vec<Arc<dyn Memcache>>>,
    /// Servers whose connection failed in this run, with the status: their
    /// other keys are not tried again (one timeout per server, not per key).
    failed: Vec<(String, Status)>,
}

impl Ctx {
    /// Report an outcome on stderr (misses not with --quiet).
    fn report(&mut self, status: Status, msg: impl Display) {
        self.status = self.status.max(status);
        if !(self.quiet && status == Status::Miss) {
            eprintln!("pmc: {msg}");
        }
    }

    /// Report a library error about `what`, naming `server` if the error
    /// does not already.
    fn error(&mut self, what: impl Display, server: Option<&str>, e: &pymemcache::Error) {
        let msg = e.to_string();
        match server {
            Some(s) if !msg.contains(s) => {
                self.report(Status::of(e), format_args!("{what}: {msg} (server {s})"))
            }
            _ => self.report(Status::of(e), format_args!("{what}: {msg}")),
        }
    }

    /// Report a library error about `what` on `server`, and remember a
    /// server whose connection failed.
    fn server_error(&mut self, what: impl Display, server: &str, e: &pymemcache::Error) {
        if e.is_connection_failure() && !self.failed.iter().any(|(s, _)| s == server) {
            self.failed.push((server.to_string(), Status::of(e)));
        }
        self.error(what, Some(server), e);
    }

    /// Whether `server` may be tried; if not, the reason is reported for `what`.
    fn may_try(&mut self, what: impl Display, server: &str) -> bool {
        match self.failed.iter().find(|(s, _)| s == server) {
            None => true,
            Some(&(_, status)) => {
                self.report(
                    status,
                    format_args!("{what}: not tried: server {server} failed earlier in this run"),
                );
                false
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.write_error.is_none() {
            if let Err(e) = self.out.write_all(bytes) {
                self.write_error = Some(e);
            }
        }
    }

    /// The client for keyed commands: a `Client` for one server, a
    /// `HashClient` for several. Nothing is connected yet.
    fn keyed(&mut self) -> Option<Arc<dyn Memcache>> {
        let res: pymemcache::Result<Arc<dyn Memcache>> = if self.servers.len() == 1 {
            Client::new(&self.servers[0], &self.opts).map(|c| Arc::new(c) as _)
        } else {
            let refs: Vec<&str> = self.servers.iter().map(String::as_str).collect();
            // Placement stays pymemcache's over every server listed: a
            // failing server is never taken out of the hash (which would
            // send its keys to other servers); `may_try` skips it instead.
            let hash = HashOptions {
                key_form: self.key_form,
                retry_attempts: u32::MAX,
                retry_timeout: std::time::Duration::ZERO,
                ..HashOptions::default()
            };
            HashClient::new(&refs, &self.opts, hash).map(|c| Arc::new(c) as _)
        };
        match res {
            Ok(c) => {
                if let Some(all) = &mut self.metrics {
                    all.push(c.clone());
                }
                Some(c)
            }
            Err(e) => {
                self.error("servers", None, &e);
                None
            }
        }
    }

    /// One `Client` per server, for server commands.
    fn each_server(&mut self) -> Vec<(String, Arc<Client>)> {
        let mut out = Vec::new();
        for s in self.servers.clone() {
            match Client::new(&s, &self.opts) {
                Ok(c) => {
                    let c = Arc::new(c);
                    if let Some(all) = &mut self.metrics {
                        all.push(c.clone());
                    }
                    out.push((s, c))
                }
                Err(e) => self.error(&s, Some(&s), &e),
            }
        }
        out
    }

    /// A node name ("::1:11211") as the server list spells it ("[::1]:11211").
    fn as_given(&self, node: String) -> String {
        self.servers
            .iter()
            .find(|s| ServerAddr::parse(s).is_ok_and(|a| a.node_name() == node))
            .cloned()
            .unwrap_or(node)
    }

    /// The server of each key, checking every key first: with an illegal
    /// key nothing is sent (`None`).
    fn place(&mut self, client: &dyn Memcache, cmd: &str, keys: &[&[u8]]) -> Option<Vec<String>> {
        let mut servers = Vec::with_capacity(keys.len());
        let mut ok = true;
        for k in keys {
            match client.server_for_key(k) {
                Ok(node) => servers.push(self.as_given(node)),
                Err(e) => {
                    self.error(format_args!("{cmd} {}", show(k)), None, &e);
                    ok = false;
                }
            }
        }
        ok.then_some(servers)
    }
}

/// Keys for a message: all of them, or the first few and a count.
fn key_list(keys: &[&[u8]]) -> String {
    const SHOWN: usize = 5;
    let mut s: Vec<Cow<'_, str>> = keys.iter().take(SHOWN).map(|k| show(k)).collect();
    if keys.len() > SHOWN {
        s.push(format!("and {} more keys", keys.len() - SHOWN).into());
    }
    s.join(" ")
}

/// A key or value for messages.
fn show(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

fn key_bytes(keys: &[std::ffi::OsString]) -> Vec<&[u8]> {
    keys.iter().map(|k| k.as_bytes()).collect()
}

/// Build the context from the global options: the server list from
/// --servers or $MEMCACHED_SERVERS.
fn context(cli: &Cli) -> Result<Ctx, String> {
    let g = &cli.global;
    let mut list = ServerList::default();
    if g.servers.is_empty() {
        match std::env::var("MEMCACHED_SERVERS") {
            Ok(v) if !v.trim().is_empty() => list
                .add_list(&v)
                .map_err(|e| format!("MEMCACHED_SERVERS: {e}"))?,
            _ => {
                return Err(
                    "no servers: give --servers HOST:PORT,... or set MEMCACHED_SERVERS".into(),
                )
            }
        }
    } else {
        for s in &g.servers {
            list.add_list(s)?;
        }
    }
    for w in &list.warnings {
        eprintln!("pmc: warning: {w}");
    }
    let opts = ClientOptions {
        connect_timeout: g.connect_timeout.0,
        timeout: g.timeout.0,
        deadline: g.deadline.0,
        key_prefix: g
            .key_prefix
            .as_ref()
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_default(),
        // A command-line tool waits for replies unless told not to.
        default_noreply: false,
        ..ClientOptions::default()
    };
    // A bad prefix is a usage error before anything else.
    opts.key_rules().map_err(|e| e.to_string())?;
    Ok(Ctx {
        servers: list.servers,
        opts,
        key_form: g.hash_key_form,
        quiet: g.quiet,
        status: Status::Ok,
        out: io::BufWriter::new(io::stdout().lock()),
        write_error: None,
        metrics: g.metrics.then(Vec::new),
        failed: Vec::new(),
    })
}

/// Run the command line; the exit status.
pub fn run(cli: &Cli) -> Status {
    let mut ctx = match context(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pmc: {e}");
            return Status::Usage;
        }
    };
    match security(&cli.global) {
        Ok((tls, auth)) => {
            ctx.opts.tls = tls;
            ctx.opts.auth = auth;
        }
        Err((status, e)) => {
            eprintln!("pmc: {e}");
            return status;
        }
    }
    dispatch(&mut ctx, &cli.command);
    if let Some(all) = ctx.metrics.take() {
        let servers = all
            .iter()
            .flat_map(|c| c.metrics_snapshot().servers)
            .collect();
        eprint!("{}", pymemcache::MetricsSnapshot { servers }.prometheus());
    }
    if ctx.write_error.is_none() {
        if let Err(e) = ctx.out.flush() {
            ctx.write_error = Some(e);
        }
    }
    if let Some(e) = ctx.write_error.take() {
        // A reader that went away (`pmc get k | head -c1`) is not worth a message.
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("pmc: writing to stdout: {e}");
        }
        ctx.status = ctx.status.max(Status::Local);
    }
    ctx.status
}

/// TLS and login from the global options: --tls and --tls-* (any of them
/// turns TLS on), --username with --password-file or $MEMCACHED_PASSWORD.
/// A file that cannot be read is a local error (exit 5), a bad combination
/// a usage error (2).
fn security(
    g: &crate::Global,
) -> Result<(Option<TlsConfig>, Option<AuthCredentials>), (Status, String)> {
    let wanted = g.tls
        || g.tls_ca_file.is_some()
        || g.tls_ca_dir.is_some()
        || g.tls_system_roots
        || g.tls_cert.is_some()
        || g.tls_server_name.is_some()
        || g.tls_min_version.is_some()
        || g.tls_insecure_no_verify_testing_only;
    let tls = if wanted {
        let options = TlsOptions {
            ca_file: g.tls_ca_file.clone(),
            ca_dir: g.tls_ca_dir.clone(),
            // No CA named: the system's store, as Python's default context.
            system_roots: g.tls_system_roots || (g.tls_ca_file.is_none() && g.tls_ca_dir.is_none()),
            client_cert_file: g.tls_cert.clone(),
            client_key_file: g.tls_key.clone(),
            server_name: g.tls_server_name.clone(),
            min_version: g.tls_min_version.unwrap_or_default(),
            insecure_no_verify_testing_only: g.tls_insecure_no_verify_testing_only,
        };
        Some(TlsConfig::new(options).map_err(|e| match e {
            Error::Tls { .. } => (Status::Local, e.to_string()),
            e => (Status::Usage, e.to_string()),
        })?)
    } else {
        None
    };
    let auth = match &g.username {
        None => None,
        Some(user) => {
            let password = match &g.password_file {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| {
                        (
                            Status::Local,
                            format!("--password-file {}: {e}", path.display()),
                        )
                    })?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                None => std::env::var("MEMCACHED_PASSWORD").map_err(|_| {
                    (
                        Status::Usage,
                        "--username needs a password: --password-file FILE or $MEMCACHED_PASSWORD"
                            .to_string(),
                    )
                })?,
            };
            Some(
                AuthCredentials::new(user, &password)
                    .map_err(|e| (Status::Usage, e.to_string()))?,
            )
        }
    };
    Ok((tls, auth))
}

fn dispatch(ctx: &mut Ctx, cmd: &Cmd) {
    use pymemcache::StoreCmd;
    match cmd {
        Cmd::Get(a) => get(ctx, "get", FetchCmd::Get, a),
        Cmd::Gets(a) => fetch(
            ctx,
            "gets",
            FetchCmd::Gets,
            &key_bytes(&a.keys),
            Format::Framed,
        ),
        Cmd::Gat(a) => get(ctx, "gat", FetchCmd::Gat(a.expire), &a.get),
        Cmd::Gats(a) => fetch(
            ctx,
            "gats",
            FetchCmd::Gats(a.expire),
            &key_bytes(&a.keys.keys),
            Format::Framed,
        ),
        Cmd::Set(a) => store(ctx, "set", StoreCmd::Set, a),
        Cmd::Add(a) => store(ctx, "add", StoreCmd::Add, a),
        Cmd::Replace(a) => store(ctx, "replace", StoreCmd::Replace, a),
        Cmd::Append(a) => concat(ctx, "append", StoreCmd::Append, a),
        Cmd::Prepend(a) => concat(ctx, "prepend", StoreCmd::Prepend, a),
        Cmd::Cas(a) => cas(ctx, a),
        Cmd::Delete(a) => delete(ctx, &key_bytes(&a.keys.keys), a.noreply),
        Cmd::Incr(a) => counter(ctx, "incr", a),
        Cmd::Decr(a) => counter(ctx, "decr", a),
        Cmd::Touch(a) => touch(ctx, &key_bytes(&a.keys.keys), a.expire, a.noreply),
        Cmd::Exist(a) => fetch(
            ctx,
            "exist",
            FetchCmd::Get,
            &key_bytes(&a.keys),
            Format::Nothing,
        ),
        Cmd::Locate(a) => locate(ctx, &key_bytes(&a.keys)),
        Cmd::Meta(a) => meta(ctx, a),
        Cmd::Stats(a) => stats(ctx, &a.args, a.flat),
        Cmd::Version => version(ctx),
        Cmd::FlushAll(a) => flush_all(ctx, a.delay, a.noreply),
        Cmd::Ping => ping(ctx),
        Cmd::Keys(a) => keys(ctx, a.long),
        Cmd::Man(_) => unreachable!("handled before the servers are read"),
    }
}

fn get(ctx: &mut Ctx, name: &str, cmd: FetchCmd, a: &GetArgs) {
    let keys = key_bytes(&a.keys.keys);
    let format = if a.raw {
        if keys.len() > 1 {
            ctx.report(
                Status::Usage,
                format_args!(
                    "{name} --raw takes one key (for several, the default output frames \
                     each value with a \"VALUE KEY FLAGS BYTES\" header)"
                ),
            );
            return;
        }
        Format::Raw
    } else if a.headers || keys.len() > 1 {
        Format::Framed
    } else {
        Format::Line
    };
    fetch(ctx, name, cmd, &keys, format);
}

/// Fetch `keys` (one request per server), print the hits in the order
/// given, report misses and failures.
fn fetch(ctx: &mut Ctx, name: &str, cmd: FetchCmd, keys: &[&[u8]], format: Format) {
    let Some(client) = ctx.keyed() else { return };
    let Some(placed) = ctx.place(client.as_ref(), name, keys) else {
        return;
    };
    let mut items: Vec<Option<Item>> = vec![None; keys.len()];
    let mut failed = vec![false; keys.len()];
    let mut servers: Vec<&String> = placed.iter().collect();
    servers.sort();
    servers.dedup();
    for server in servers {
        let idx: Vec<usize> = (0..keys.len()).filter(|&i| &placed[i] == server).collect();
        let ks: Vec<&[u8]> = idx.iter().map(|&i| keys[i]).collect();
        match client.fetch(cmd, &ks) {
            Ok(found) => {
                for (&i, item) in idx.iter().zip(found) {
                    items[i] = item;
                }
            }
            Err(e) => {
                ctx.server_error(format_args!("{name} {}", key_list(&ks)), server, &e);
                idx.iter().for_each(|&i| failed[i] = true);
            }
        }
    }
    let miss = if format == Format::Nothing {
        "not found"
    } else {
        "miss"
    };
    for (i, item) in items.iter().enumerate() {
        match item {
            Some(item) => write_item(ctx, keys[i], item, format),
            None if !failed[i] => ctx.report(
                Status::Miss,
                format_args!("{name} {}: {miss}", show(keys[i])),
            ),
            None => {}
        }
    }
}

fn write_item(ctx: &mut Ctx, key: &[u8], item: &Item, format: Format) {
    match format {
        Format::Raw => ctx.write(&item.value),
        Format::Line => {
            ctx.write(&item.value);
            ctx.write(b"\n");
        }
        Format::Nothing => {}
        Format::Framed => {
            ctx.write(b"VALUE ");
            ctx.write(key);
            let mut head = format!(" {} {}", item.flags, item.value.len());
            if let Some(cas) = item.cas {
                head += &format!(" {cas}");
            }
            head.push('\n');
            ctx.write(head.as_bytes());
            ctx.write(&item.value);
            ctx.write(b"\n");
        }
    }
}

/// The value of a storage command, from the argument, stdin or a file.
fn read_value(ctx: &mut Ctx, what: &str, v: &ValueArgs) -> Option<Vec<u8>> {
    let res = match (&v.file, &v.value) {
        (Some(path), _) => std::fs::read(path).map_err(|e| format!("{}: {e}", path.display())),
        (None, Some(s)) if s == "-" => {
            let mut buf = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut buf)
                .map(|_| buf)
                .map_err(|e| format!("stdin: {e}"))
        }
        (None, Some(s)) => Ok(s.as_bytes().to_vec()),
        (None, None) => Err("no value".into()),
    };
    match res {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.report(Status::Local, format_args!("{what}: reading {e}"));
            None
        }
    }
}

/// `Some(true)` for --noreply, else wait for the reply.
fn reply_mode(noreply: bool) -> Option<bool> {
    Some(noreply)
}

#[allow(clippy::too_many_arguments)]
fn store_value(
    ctx: &mut Ctx,
    name: &str,
    cmd: pymemcache::StoreCmd,
    key: &[u8],
    value: &ValueArgs,
    flags: u32,
    expire: i64,
    noreply: bool,
) {
    let what = format!("{name} {}", show(key));
    let Some(client) = ctx.keyed() else { return };
    let Some(server) = ctx.place(client.as_ref(), name, &[key]) else {
        return;
    };
    let Some(value) = read_value(ctx, &what, value) else {
        return;
    };
    match client.store(cmd, key, &value, flags, expire, reply_mode(noreply)) {
        Ok(true) => {}
        Ok(false) => ctx.report(Status::Miss, format_args!("{what}: not stored")),
        Err(e) => ctx.error(&what, Some(&server[0]), &e),
    }
}

fn store(ctx: &mut Ctx, name: &str, cmd: pymemcache::StoreCmd, a: &crate::StoreArgs) {
    let key = a.key.as_bytes();
    store_value(ctx, name, cmd, key, &a.value, a.flags, a.expire, a.noreply);
}

fn concat(ctx: &mut Ctx, name: &str, cmd: pymemcache::StoreCmd, a: &crate::ConcatArgs) {
    let key = a.key.as_bytes();
    store_value(ctx, name, cmd, key, &a.value, 0, 0, a.noreply);
}

fn cas(ctx: &mut Ctx, a: &crate::CasArgs) {
    let key = a.key.as_bytes();
    let what = format!("cas {}", show(key));
    let Some(client) = ctx.keyed() else { return };
    let Some(server) = ctx.place(client.as_ref(), "cas", &[key]) else {
        return;
    };
    let Some(value) = read_value(ctx, &what, &a.value) else {
        return;
    };
    let res = client.cas(key, &value, a.cas, a.flags, a.expire, reply_mode(a.noreply));
    match res {
        Ok(CasOutcome::Stored) => {}
        Ok(CasOutcome::Exists) => ctx.report(
            Status::Miss,
            format_args!(
                "{what}: exists (the item changed since CAS {} was read)",
                a.cas
            ),
        ),
        Ok(CasOutcome::NotFound) => ctx.report(Status::Miss, format_args!("{what}: not found")),
        Err(e) => ctx.error(&what, Some(&server[0]), &e),
    }
}

fn delete(ctx: &mut Ctx, keys: &[&[u8]], noreply: bool) {
    let Some(client) = ctx.keyed() else { return };
    let Some(placed) = ctx.place(client.as_ref(), "delete", keys) else {
        return;
    };
    if noreply {
        // One pipelined write per server; nothing to read back.
        if let Err(e) = client.delete_many(keys, Some(true)) {
            ctx.error("delete", None, &e);
        }
        return;
    }
    for (k, server) in keys.iter().zip(&placed) {
        let what = format!("delete {}", show(k));
        if !ctx.may_try(&what, server) {
            continue;
        }
        match client.delete(k, Some(false)) {
            Ok(true) => {}
            Ok(false) => ctx.report(Status::Miss, format_args!("{what}: not found")),
            Err(e) => ctx.server_error(&what, server, &e),
        }
    }
}

fn meta(ctx: &mut Ctx, a: &crate::MetaArgs) {
    use pymemcache::{Batch, MetaCmd, OpStatus};
    let key = a.key.as_bytes();
    let what = format!("meta {} {}", a.command, show(key));
    let Some(client) = ctx.keyed() else { return };
    let Some(server) = ctx.place(client.as_ref(), "meta", &[key]) else {
        return;
    };
    let value = match &a.value {
        Some(v) if v == "-" => {
            let mut buf = Vec::new();
            if let Err(e) = io::Read::read_to_end(&mut io::stdin(), &mut buf) {
                ctx.report(Status::Local, format_args!("{what}: reading stdin: {e}"));
                return;
            }
            buf
        }
        Some(v) => v.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let cmd = MetaCmd::from_code(a.command.as_bytes()).expect("clap checked the command");
    let mut b = Batch::new();
    b.meta(cmd, key, a.flags.join(" ").as_bytes(), &value);
    if let Err(e) = client.execute(&mut b) {
        return ctx.error(&what, Some(&server[0]), &e);
    }
    let r = b.result(0);
    if let Some(e) = &r.error {
        return ctx.error(&what, Some(&server[0]), e);
    }
    let mut line = r.code.to_vec();
    if !b.result_flags(0).is_empty() {
        line.push(b' ');
        line.extend_from_slice(b.result_flags(0));
    }
    line.push(b'\n');
    if &r.code == b"VA" {
        line.extend_from_slice(b.result_value(0));
        line.push(b'\n');
    }
    ctx.write(&line);
    if r.status != OpStatus::Ok {
        ctx.status = ctx.status.max(Status::Miss);
    }
}

fn counter(ctx: &mut Ctx, name: &str, a: &crate::CounterArgs) {
    let key = a.key.as_bytes();
    let what = format!("{name} {}", show(key));
    let Some(client) = ctx.keyed() else { return };
    let Some(server) = ctx.place(client.as_ref(), name, &[key]) else {
        return;
    };
    let res = if name == "incr" {
        client.incr(key, a.delta, reply_mode(a.noreply))
    } else {
        client.decr(key, a.delta, reply_mode(a.noreply))
    };
    match res {
        Ok(Some(v)) => ctx.write(format!("{v}\n").as_bytes()),
        Ok(None) if a.noreply => {}
        Ok(None) => ctx.report(Status::Miss, format_args!("{what}: not found")),
        Err(e) => ctx.error(&what, Some(&server[0]), &e),
    }
}

fn touch(ctx: &mut Ctx, keys: &[&[u8]], expire: i64, noreply: bool) {
    let Some(client) = ctx.keyed() else { return };
    let Some(placed) = ctx.place(client.as_ref(), "touch", keys) else {
        return;
    };
    for (k, server) in keys.iter().zip(&placed) {
        let what = format!("touch {}", show(k));
        if !ctx.may_try(&what, server) {
            continue;
        }
        match client.touch(k, expire, reply_mode(noreply)) {
            Ok(true) => {}
            Ok(false) if noreply => {}
            Ok(false) => ctx.report(Status::Miss, format_args!("{what}: not found")),
            Err(e) => ctx.server_error(&what, server, &e),
        }
    }
}

fn locate(ctx: &mut Ctx, keys: &[&[u8]]) {
    let Some(client) = ctx.keyed() else { return };
    let Some(placed) = ctx.place(client.as_ref(), "locate", keys) else {
        return;
    };
    for (k, server) in keys.iter().zip(&placed) {
        ctx.write(k);
        ctx.write(format!(" {server}\n").as_bytes());
    }
}

fn stats(ctx: &mut Ctx, args: &[String], flat: bool) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for (server, client) in ctx.each_server() {
        match client.stats(&args) {
            Ok(mut list) => {
                let stats = list.pop().map(|s| s.stats).unwrap_or_default();
                let mut text = String::new();
                if !flat {
                    text += &format!("Server: {server}\n");
                }
                for s in stats {
                    if flat {
                        text += &format!("{server} {} {}\n", s.name, s.raw);
                    } else {
                        text += &format!("\t{}: {}\n", s.name, s.raw);
                    }
                }
                ctx.write(text.as_bytes());
            }
            Err(e) => ctx.error("stats", Some(&server), &e),
        }
    }
}

fn version(ctx: &mut Ctx) {
    for (server, client) in ctx.each_server() {
        match client.version() {
            Ok(v) => ctx.write(format!("{server} {v}\n").as_bytes()),
            Err(e) => ctx.error("version", Some(&server), &e),
        }
    }
}

fn flush_all(ctx: &mut Ctx, delay: i64, noreply: bool) {
    for (server, client) in ctx.each_server() {
        if let Err(e) = client.flush_all(delay, reply_mode(noreply)) {
            ctx.error("flush-all", Some(&server), &e);
        }
    }
}

fn ping(ctx: &mut Ctx) {
    for (server, client) in ctx.each_server() {
        let start = Instant::now();
        match client.version() {
            Ok(_) => {
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                if !ctx.quiet {
                    ctx.write(format!("{server} ok {ms:.2} ms\n").as_bytes());
                }
            }
            Err(e) => ctx.error("ping", Some(&server), &e),
        }
    }
}

fn keys(ctx: &mut Ctx, long: bool) {
    let prefix = std::mem::take(&mut ctx.opts.key_prefix);
    ctx.opts.max_value_len = MAX_DUMP_LEN;
    for (server, client) in ctx.each_server() {
        let dump = match client.raw_command(b"lru_crawler metadump all", b"END\r\n") {
            Ok(d) => d,
            Err(e) => {
                ctx.error("keys", Some(&server), &e);
                continue;
            }
        };
        for line in dump.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(rest) = line.strip_prefix(b"key=") else {
                continue;
            };
            let (encoded, meta) = match rest.iter().position(|&b| b == b' ') {
                Some(p) => (&rest[..p], &rest[p + 1..]),
                None => (rest, &b""[..]),
            };
            let key = percent_decode(encoded);
            let Some(key) = key.strip_prefix(prefix.as_slice()) else {
                continue;
            };
            if long {
                ctx.write(format!("{server} ").as_bytes());
                ctx.write(key);
                ctx.write(b" ");
                ctx.write(meta);
            } else {
                ctx.write(key);
            }
            ctx.write(b"\n");
        }
    }
}

/// memcached's metadump writes keys URL-encoded.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// `pmc man [COMMAND]`: the manual as roff: clap's sections, then the
/// long help's own sections (SERVERS, OUTPUT, EXIT STATUS...) laid out as
/// in `--help`.
pub fn man(mut cmd: clap::Command, args: &ManArgs) -> Status {
    // Built, so that subcommands carry the global options too.
    cmd.build();
    let page = match &args.command {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => {
                let title = format!("pmc-{}", sub.get_name());
                sub.clone().name(title).version(env!("CARGO_PKG_VERSION"))
            }
            None => {
                eprintln!("pmc: man: no command {name:?}");
                return Status::Usage;
            }
        },
    };
    let extra = page
        .get_after_long_help()
        .map(|h| roff_sections(&h.to_string()))
        .unwrap_or_default();
    let page = page.after_long_help(None::<&str>);
    let man = clap_mangen::Man::new(page.clone());
    let mut buf = Vec::new();
    let res = (|| {
        man.render_title(&mut buf)?;
        man.render_name_section(&mut buf)?;
        man.render_synopsis_section(&mut buf)?;
        man.render_description_section(&mut buf)?;
        man.render_options_section(&mut buf)?;
        if page.has_subcommands() {
            man.render_subcommands_section(&mut buf)?;
        }
        buf.extend_from_slice(extra.as_bytes());
        man.render_version_section(&mut buf)?;
        let mut out = io::stdout().lock();
        out.write_all(&buf)?;
        out.flush()
    })();
    match res {
        Ok(()) => Status::Ok,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Status::Local,
        Err(e) => {
            eprintln!("pmc: man: writing to stdout: {e}");
            Status::Local
        }
    }
}

/// Turn the long help's sections (a title at the left margin, its lines
/// indented by four) into roff sections whose lines are kept as written.
fn roff_sections(text: &str) -> String {
    let mut out = String::new();
    let mut open = false;
    for line in text.lines() {
        if !line.is_empty() && !line.starts_with(' ') {
            if open {
                out += ".fi\n";
            }
            out += &format!(".SH \"{}\"\n.nf\n", line.trim());
            open = true;
        } else if open {
            let body = line.strip_prefix("    ").unwrap_or(line);
            let escaped = body.replace('\\', "\\e").replace('-', "\\-");
            if escaped.starts_with('.') || escaped.starts_with('\'') {
                out += "\\&";
            }
            out += &escaped;
            out.push('\n');
        }
    }
    if open {
        out += ".fi\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, roff_sections};

    #[test]
    fn long_help_sections_become_roff() {
        let roff = roff_sections("EXIT STATUS\n    0  ok -- fine\n    .x \\n\n\nENV\n    A  b\n");
        assert_eq!(
            roff,
            ".SH \"EXIT STATUS\"\n.nf\n0  ok \\-\\- fine\n\\&.x \\en\n\n.fi\n\
             .SH \"ENV\"\n.nf\nA  b\n.fi\n"
        );
    }

    #[test]
    fn decodes_metadump_keys() {
        assert_eq!(percent_decode(b"caf%C3%A9"), "café".as_bytes());
        assert_eq!(percent_decode(b"a%2"), b"a%2");
        assert_eq!(percent_decode(b"%zz%41"), b"%zzA");
        assert_eq!(percent_decode(b"plain"), b"plain");
    }
}
