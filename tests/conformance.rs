//! The conformance suite: tests/conformance/cases.txt run unchanged against
//! every client kind. Every kind must give exactly the table's outcomes.

mod common;
use common::pki::Pki;
use common::Memcached;
use pymemcache::{
    Batch, CasOutcome, Client, ClientOptions, Error, FallbackClient, FetchCmd, HashClient,
    HashOptions, Item, Memcache, MockClient, OpStatus, PoolOptions, PooledClient, Reply, Request,
    RetryOptions, RetryingClient, ServerStats, StoreCmd,
};
use std::collections::HashMap;
use std::time::Duration;

const CASES: &str = include_str!("conformance/cases.txt");

/// Decode one token: escapes and {c*N} repetitions.
fn decode(tok: &str) -> Vec<u8> {
    let b = tok.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let (bytes, used) = match b.get(i + 1) {
                    Some(b'x') => {
                        let h = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                        (vec![u8::from_str_radix(h, 16).unwrap()], 4)
                    }
                    Some(b'r') => (vec![b'\r'], 2),
                    Some(b'n') => (vec![b'\n'], 2),
                    Some(b't') => (vec![b'\t'], 2),
                    Some(b'0') => (vec![0], 2),
                    Some(b'\\') => (vec![b'\\'], 2),
                    other => panic!("bad escape {other:?} in {tok}"),
                };
                out.extend(bytes);
                i += used;
            }
            b'{' => {
                let end = i + b[i..].iter().position(|&c| c == b'}').unwrap();
                let inner = std::str::from_utf8(&b[i + 1..end]).unwrap();
                let (c, n) = inner.rsplit_once('*').unwrap();
                let c = decode(c);
                assert_eq!(c.len(), 1, "{{c*N}} repeats one byte: {tok}");
                let n: usize = n.parse().unwrap();
                out.extend(std::iter::repeat_n(c[0], n));
                i = end + 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Show bytes in the table's notation (for outcomes).
fn encode(v: &[u8]) -> String {
    let mut s = String::new();
    for &c in v {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x21..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

struct Line {
    no: usize,
    cmd: String,
    args: Vec<String>,
    opts: HashMap<String, String>,
    expect: String,
}

struct Case {
    name: String,
    lines: Vec<Line>,
}

fn parse() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, raw) in CASES.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("== ") {
            cases.push(Case {
                name: name.to_string(),
                lines: Vec::new(),
            });
            continue;
        }
        let (lhs, expect) = match line.split_once(" -> ") {
            Some((l, e)) => (l, e.trim().to_string()),
            None => match line.strip_suffix(" ->") {
                Some(l) => (l, String::new()),
                None => (line, String::new()),
            },
        };
        let mut toks = lhs.split_whitespace();
        let cmd = toks.next().unwrap().to_string();
        let mut args = Vec::new();
        let mut opts = HashMap::new();
        for t in toks {
            match t.split_once('=') {
                Some((k, v)) if ["flags", "expire", "reply"].contains(&k) => {
                    opts.insert(k.to_string(), v.to_string());
                }
                _ => args.push(t.to_string()),
            }
        }
        cases
            .last_mut()
            .expect("a case header first")
            .lines
            .push(Line {
                no: i + 1,
                cmd,
                args,
                opts,
                expect,
            });
    }
    cases
}

fn err_name(e: &Error) -> String {
    let kind = match e {
        Error::IllegalInput(_) => "ILLEGAL_INPUT",
        Error::ClientError { .. } => "CLIENT_ERROR",
        Error::ServerError { .. } => "SERVER_ERROR",
        Error::TooLarge { .. } => "TOO_LARGE",
        Error::UnknownCommand { .. } => "UNKNOWN_COMMAND",
        other => return format!("err:OTHER({other})"),
    };
    format!("err:{kind}")
}

fn item(it: &Option<Item>) -> String {
    match it {
        Some(i) => format!("{}/{}", encode(&i.value), i.flags),
        None => "MISS".into(),
    }
}

/// Run one line on `c`; the outcome in the table's notation.
fn run_line(c: &dyn Memcache, l: &Line, cas: &mut HashMap<Vec<u8>, u64>) -> String {
    let arg = |i: usize| decode(&l.args[i]);
    let num = |k: &str, d: i64| l.opts.get(k).map_or(d, |v| v.parse().unwrap());
    let flags = num("flags", 0) as u32;
    let expire = num("expire", 0);
    let reply = match l.opts.get("reply").map(String::as_str) {
        None | Some("default") => None,
        Some("wait") => Some(false),
        Some("none") => Some(true),
        Some(o) => panic!("reply={o}"),
    };
    let ok = |b: bool, no: &str| if b { "OK".to_string() } else { no.to_string() };
    let remember = |cas: &mut HashMap<Vec<u8>, u64>, k: &[u8], it: &Option<Item>| {
        if let Some(c) = it.as_ref().and_then(|i| i.cas) {
            cas.insert(k.to_vec(), c);
        }
    };
    let res: Result<String, Error> = (|| {
        Ok(match l.cmd.as_str() {
            "set" | "add" | "replace" | "append" | "prepend" => {
                let cmd = match l.cmd.as_str() {
                    "set" => StoreCmd::Set,
                    "add" => StoreCmd::Add,
                    "replace" => StoreCmd::Replace,
                    "append" => StoreCmd::Append,
                    _ => StoreCmd::Prepend,
                };
                ok(
                    c.store(cmd, &arg(0), &arg(1), flags, expire, reply)?,
                    "NOT_STORED",
                )
            }
            "cas" => {
                let unique = match l.args[2].strip_prefix('$') {
                    Some(k) => *cas.get(&decode(k)).expect("no CAS unique remembered"),
                    None => l.args[2].parse().unwrap(),
                };
                match c.cas(&arg(0), &arg(1), unique, flags, expire, reply)? {
                    CasOutcome::Stored => "OK".into(),
                    CasOutcome::Exists => "EXISTS".into(),
                    CasOutcome::NotFound => "NOT_FOUND".into(),
                }
            }
            "get" | "gets" => {
                let k = arg(0);
                let it = if l.cmd == "get" {
                    c.get(&k)?
                } else {
                    c.gets(&k)?
                };
                assert_eq!(
                    it.as_ref().is_some_and(|i| i.cas.is_some()),
                    l.cmd == "gets" && it.is_some()
                );
                remember(cas, &k, &it);
                item(&it)
            }
            "gat" | "gats" => {
                let exp: i64 = l.args[0].parse().unwrap();
                let k = arg(1);
                let it = if l.cmd == "gat" {
                    c.gat(&k, exp)?
                } else {
                    c.gats(&k, exp)?
                };
                remember(cas, &k, &it);
                item(&it)
            }
            "get_many" | "gets_many" => {
                let keys: Vec<Vec<u8>> = (0..l.args.len()).map(arg).collect();
                let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
                let cmd = if l.cmd == "get_many" {
                    FetchCmd::Get
                } else {
                    FetchCmd::Gets
                };
                let items = c.fetch(cmd, &refs)?;
                assert_eq!(items.len(), keys.len());
                for (k, it) in keys.iter().zip(&items) {
                    remember(cas, k, it);
                }
                items.iter().map(item).collect::<Vec<_>>().join(" ")
            }
            "set_many" => {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = l
                    .args
                    .iter()
                    .map(|a| {
                        let (k, v) = a.split_once('=').unwrap();
                        (decode(k), decode(v))
                    })
                    .collect();
                let refs: Vec<(&[u8], &[u8])> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_slice()))
                    .collect();
                let failed = c.set_many(&refs, flags, expire, reply)?;
                let list: Vec<String> = failed.iter().map(|i| i.to_string()).collect();
                format!("failed:{}", list.join(","))
            }
            "delete" => ok(c.delete(&arg(0), reply)?, "NOT_FOUND"),
            "delete_many" => {
                let keys: Vec<Vec<u8>> = (0..l.args.len()).map(arg).collect();
                let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
                c.delete_many(&refs, reply)?.to_string()
            }
            "incr" | "decr" => {
                let delta: u64 = l.args[1].parse().unwrap();
                let r = if l.cmd == "incr" {
                    c.incr(&arg(0), delta, reply)?
                } else {
                    c.decr(&arg(0), delta, reply)?
                };
                match (r, reply) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(true)) => "NONE".into(),
                    (None, _) => "NOT_FOUND".into(),
                }
            }
            "touch" => {
                let exp: i64 = l.args[1].parse().unwrap();
                ok(c.touch(&arg(0), exp, reply)?, "NOT_FOUND")
            }
            "flush_all" => {
                let delay = l.args.first().map_or(0, |d| d.parse().unwrap());
                c.flush_all(delay, Some(false))?;
                "OK".into()
            }
            "sleep" => {
                std::thread::sleep(Duration::from_millis(l.args[0].parse().unwrap()));
                String::new()
            }
            other => panic!("line {}: unknown command {other}", l.no),
        })
    })();
    res.unwrap_or_else(|e| err_name(&e))
}

/// How a kind empties its cache before each case.
type Reset = Box<dyn Fn(&dyn Memcache)>;

/// A client kind under test: how to make it and how to empty its servers.
struct Kind {
    name: &'static str,
    client: Box<dyn Memcache>,
    reset: Reset,
    _servers: Vec<Memcached>,
    _pki: Option<Pki>,
}

/// Every command of the table run as a batch (`Memcache::execute`, the
/// meta protocol): single-key commands as a batch of one, multi-key ones as
/// a batch of one command per key. Commands the table sends with noreply
/// report what noreply reports (the batch itself always reads replies).
struct ThroughBatches {
    inner: Box<dyn Memcache>,
    default_noreply: bool,
}

impl ThroughBatches {
    /// Run `fill`'s commands; the first failure is the call's error.
    fn run(&self, fill: impl FnOnce(&mut Batch)) -> Result<Batch, Error> {
        let mut b = Batch::new();
        fill(&mut b);
        self.inner.execute(&mut b)?;
        if let Some(i) = (0..b.len()).find(|&i| b.result(i).status == OpStatus::Failed) {
            // Report the failed command's error (the table's err:KIND).
            return Err(take_error(&b, i));
        }
        Ok(b)
    }

    fn item(b: &Batch, i: usize) -> Option<Item> {
        let r = b.result(i);
        (r.status == OpStatus::Ok).then(|| Item {
            value: b.result_value(i).to_vec(),
            flags: r.flags,
            cas: r.cas,
        })
    }

    fn noreply(&self, n: Option<bool>) -> bool {
        n.unwrap_or(self.default_noreply)
    }

    /// pymemcache checks every key of a multi-key command before sending
    /// any (a batch fails only the command with the bad key).
    fn check_keys<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> Result<(), Error> {
        for k in keys {
            self.inner.server_for_key(k)?;
        }
        Ok(())
    }
}

fn take_error(b: &Batch, i: usize) -> Error {
    let text = format!("{:?}", b.result(i).error);
    match b.result(i).error.as_ref().map(|e| e.kind()) {
        Some(pymemcache::ErrorKind::IllegalInput) => Error::IllegalInput(text),
        Some(pymemcache::ErrorKind::ClientError) => Error::ClientError {
            text,
            server: Default::default(),
        },
        Some(pymemcache::ErrorKind::ServerError) => Error::ServerError {
            text,
            server: Default::default(),
        },
        Some(pymemcache::ErrorKind::TooLarge) => Error::TooLarge {
            len: 0,
            max: 0,
            server: Default::default(),
        },
        _ => Error::UnknownError {
            text,
            server: Default::default(),
        },
    }
}

impl ThroughBatches {
    fn op_fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>, Error> {
        self.check_keys(keys.iter().copied())?;
        let b = self.run(|b| {
            for k in keys {
                match cmd {
                    FetchCmd::Get => b.get(k),
                    FetchCmd::Gets => b.gets(k),
                    FetchCmd::Gat(t) => b.gat(k, t),
                    FetchCmd::Gats(t) => b.push(pymemcache::OpKind::Gats(t), k, b"", 0, 0),
                };
            }
        })?;
        Ok((0..keys.len()).map(|i| Self::item(&b, i)).collect())
    }

    fn op_store(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool, Error> {
        let b = self.run(|b| {
            b.store(cmd, key, value, flags, expire);
        })?;
        Ok(self.noreply(noreply) || b.result(0).status == OpStatus::Ok)
    }

    fn op_set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>, Error> {
        self.check_keys(items.iter().map(|(k, _)| *k))?;
        let b = self.run(|b| {
            for (k, v) in items {
                b.set(k, v, flags, expire);
            }
        })?;
        if self.noreply(noreply) {
            return Ok(Vec::new());
        }
        Ok((0..items.len())
            .filter(|&i| b.result(i).status != OpStatus::Ok)
            .collect())
    }

    fn op_cas(
        &self,
        key: &[u8],
        value: &[u8],
        cas: u64,
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<CasOutcome, Error> {
        let b = self.run(|b| {
            b.cas(key, value, cas, flags, expire);
        })?;
        Ok(match (noreply == Some(true), b.result(0).status) {
            (true, _) | (_, OpStatus::Ok) => CasOutcome::Stored,
            (_, OpStatus::Exists) => CasOutcome::Exists,
            _ => CasOutcome::NotFound,
        })
    }

    fn op_delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool, Error> {
        let b = self.run(|b| {
            b.delete(key);
        })?;
        Ok(self.noreply(noreply) || b.result(0).status == OpStatus::Ok)
    }

    fn op_delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize, Error> {
        self.check_keys(keys.iter().copied())?;
        let b = self.run(|b| {
            for k in keys {
                b.delete(k);
            }
        })?;
        if self.noreply(noreply) {
            return Ok(keys.len());
        }
        Ok((0..keys.len())
            .filter(|&i| b.result(i).status == OpStatus::Ok)
            .count())
    }

    fn op_incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>, Error> {
        let b = self.run(|b| {
            b.incr(key, delta);
        })?;
        Ok(b.result(0).number.filter(|_| noreply != Some(true)))
    }

    fn op_decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>, Error> {
        let b = self.run(|b| {
            b.decr(key, delta);
        })?;
        Ok(b.result(0).number.filter(|_| noreply != Some(true)))
    }

    fn op_touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool, Error> {
        let b = self.run(|b| {
            b.touch(key, expire);
        })?;
        Ok(self.noreply(noreply) || b.result(0).status == OpStatus::Ok)
    }

    fn op_stats(&self, args: &[&str]) -> Result<Vec<ServerStats>, Error> {
        self.inner.stats(args)
    }

    fn op_version(&self) -> Result<String, Error> {
        self.inner.version()
    }

    fn op_flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<(), Error> {
        self.inner.flush_all(delay, noreply)
    }

    fn op_cache_memlimit(&self, megabytes: u64) -> Result<(), Error> {
        self.inner.cache_memlimit(megabytes)
    }

    fn op_raw_command(&self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>, Error> {
        self.inner.raw_command(command, end_token)
    }

    fn op_shutdown(&self, graceful: bool) -> Result<(), Error> {
        self.inner.shutdown(graceful)
    }

    fn op_quit(&self) -> Result<(), Error> {
        self.inner.quit()
    }
}

impl ThroughBatches {
    fn call_one(&self, req: Request<'_>) -> Result<Reply, Error> {
        match req {
            Request::Fetch { cmd, keys } => self.op_fetch(cmd, keys).map(Reply::Items),
            Request::Store {
                cmd,
                key,
                value,
                flags,
                expire,
                noreply,
            } => self
                .op_store(cmd, key, value, flags, expire, noreply)
                .map(Reply::Bool),
            Request::SetMany {
                items,
                flags,
                expire,
                noreply,
            } => self
                .op_set_many(items, flags, expire, noreply)
                .map(Reply::Indices),
            Request::Cas {
                key,
                value,
                cas,
                flags,
                expire,
                noreply,
            } => self
                .op_cas(key, value, cas, flags, expire, noreply)
                .map(Reply::Cas),
            Request::Delete { key, noreply } => self.op_delete(key, noreply).map(Reply::Bool),
            Request::DeleteMany { keys, noreply } => {
                self.op_delete_many(keys, noreply).map(Reply::Count)
            }
            Request::Incr {
                key,
                delta,
                noreply,
            } => self.op_incr(key, delta, noreply).map(Reply::Counter),
            Request::Decr {
                key,
                delta,
                noreply,
            } => self.op_decr(key, delta, noreply).map(Reply::Counter),
            Request::Touch {
                key,
                expire,
                noreply,
            } => self.op_touch(key, expire, noreply).map(Reply::Bool),
            Request::Stats { args } => self.op_stats(args).map(Reply::Stats),
            Request::Version => self.op_version().map(Reply::Text),
            Request::FlushAll { delay, noreply } => {
                self.op_flush_all(delay, noreply).map(|()| Reply::Done)
            }
            Request::CacheMemlimit { megabytes } => {
                self.op_cache_memlimit(megabytes).map(|()| Reply::Done)
            }
            Request::Raw { command, end_token } => {
                self.op_raw_command(command, end_token).map(Reply::Bytes)
            }
            Request::Shutdown { graceful } => self.op_shutdown(graceful).map(|()| Reply::Done),
            Request::Quit => self.op_quit().map(|()| Reply::Done),
        }
    }
}

/// The one command method: a single call's request runs as meta batches
/// (`call_one`); other batches go to the inner client as they are.
impl Memcache for ThroughBatches {
    fn execute(&self, b: &mut Batch) -> Result<(), Error> {
        if b.is_single_request() {
            b.run_with(|_| Ok(()), |req| self.call_one(req))
        } else {
            self.inner.execute(b)
        }
    }

    fn inner(&self) -> Option<&dyn Memcache> {
        Some(self.inner.as_ref())
    }
}

/// The smallest wrapper there is: only the one required method, handing
/// every batch on. Its single calls are the provided `call`, a batch of one
/// request, so the table runs through each client's one-request `execute`.
struct ExecuteOnly(Box<dyn Memcache>);

impl Memcache for ExecuteOnly {
    fn execute(&self, b: &mut Batch) -> Result<(), Error> {
        self.0.execute(b)
    }

    fn inner(&self) -> Option<&dyn Memcache> {
        Some(self.0.as_ref())
    }
}

fn plain_opts() -> ClientOptions {
    ClientOptions {
        timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    }
}

/// How the servers of a kind are reached: plaintext, or TLS with
/// certificates made for the run.
struct Net {
    opts: ClientOptions,
    pki: Option<Pki>,
}

impl Net {
    fn plain() -> Net {
        Net {
            opts: plain_opts(),
            pki: None,
        }
    }

    fn tls() -> Net {
        let pki = Pki::new();
        let tls = pymemcache::tls::TlsConfig::new(pki.client_tls()).unwrap();
        Net {
            opts: ClientOptions {
                tls: Some(tls),
                ..plain_opts()
            },
            pki: Some(pki),
        }
    }

    fn tcp(&self) -> Memcached {
        match &self.pki {
            None => Memcached::tcp(&[]),
            Some(pki) => Memcached::tcp_with(&Pki::server_args(&pki.server), self.opts.clone()),
        }
    }
}

fn flusher(addrs: Vec<String>, opts: ClientOptions) -> Reset {
    Box::new(move |_| {
        for a in &addrs {
            let c = Client::new(a, &opts).unwrap();
            c.flush_all(0, Some(false)).unwrap();
        }
    })
}

fn kind(name: &'static str) -> Kind {
    kind_on(name, Net::plain())
}

fn kind_on(name: &'static str, net: Net) -> Kind {
    let opts = || net.opts.clone();
    let tcp = || net.tcp();
    let mock = || -> Box<dyn Memcache> { Box::new(MockClient::new(&opts()).unwrap()) };
    // A client of one server, or a hash client of `n`.
    let single_or_hash = |n: usize| -> (Box<dyn Memcache>, Vec<Memcached>) {
        let ms: Vec<Memcached> = (0..n).map(|_| tcp()).collect();
        let a: Vec<String> = ms.iter().map(|m| m.addr()).collect();
        let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        let c: Box<dyn Memcache> = if n == 1 {
            Box::new(Client::new(refs[0], &opts()).unwrap())
        } else {
            Box::new(HashClient::new(&refs, &opts(), HashOptions::default()).unwrap())
        };
        (c, ms)
    };
    // A kind over the mock (or a wrapper of it): no servers, reset by a flush.
    let on_mock = |client: Box<dyn Memcache>| Kind {
        name,
        client,
        reset: Box::new(|c: &dyn Memcache| c.flush_all(0, Some(false)).unwrap()),
        _servers: Vec::new(),
        _pki: None,
    };
    let (client, servers): (Box<dyn Memcache>, Vec<Memcached>) = match name {
        "client-tcp" => {
            let m = tcp();
            (Box::new(Client::new(&m.addr(), &opts()).unwrap()), vec![m])
        }
        "client-unix" => {
            let m = Memcached::unix(&[]);
            (Box::new(Client::new(&m.addr(), &opts()).unwrap()), vec![m])
        }
        "pooled" => {
            let m = tcp();
            let p = PoolOptions {
                max_size: Some(2),
                ..Default::default()
            };
            (
                Box::new(PooledClient::new(&m.addr(), &opts(), p).unwrap()),
                vec![m],
            )
        }
        "hash-1" | "hash-3" => {
            let n = if name == "hash-1" { 1 } else { 3 };
            let ms: Vec<Memcached> = (0..n).map(|_| tcp()).collect();
            let a: Vec<String> = ms.iter().map(|m| m.addr()).collect();
            let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
            (
                Box::new(HashClient::new(&refs, &opts(), HashOptions::default()).unwrap()),
                ms,
            )
        }
        "fallback" => {
            let (a, b) = (tcp(), tcp());
            let clients: Vec<Box<dyn Memcache>> = vec![
                Box::new(Client::new(&a.addr(), &opts()).unwrap()),
                Box::new(Client::new(&b.addr(), &opts()).unwrap()),
            ];
            (Box::new(FallbackClient::new(clients).unwrap()), vec![a, b])
        }
        "retrying" => {
            let m = tcp();
            let inner = Box::new(Client::new(&m.addr(), &opts()).unwrap());
            let r = RetryOptions {
                attempts: 3,
                retry_delay: Duration::from_millis(10),
                ..Default::default()
            };
            (Box::new(RetryingClient::new(inner, r).unwrap()), vec![m])
        }
        "batch-tcp" | "batch-hash-3" => {
            let (inner, ms) = single_or_hash(if name == "batch-tcp" { 1 } else { 3 });
            let through = ThroughBatches {
                inner,
                default_noreply: opts().default_noreply,
            };
            (Box::new(through), ms)
        }
        "batch-mock" => {
            return on_mock(Box::new(ThroughBatches {
                inner: mock(),
                default_noreply: opts().default_noreply,
            }))
        }
        "execute-tcp" | "execute-hash-3" => {
            let (inner, ms) = single_or_hash(if name == "execute-tcp" { 1 } else { 3 });
            (Box::new(ExecuteOnly(inner)), ms)
        }
        "execute-mock" => return on_mock(Box::new(ExecuteOnly(mock()))),
        "mock" => return on_mock(mock()),
        other => panic!("unknown kind {other}"),
    };
    Kind {
        name,
        client,
        reset: flusher(servers.iter().map(|m| m.addr()).collect(), net.opts.clone()),
        _servers: servers,
        _pki: net.pki,
    }
}

/// The expected outcome in the same notation as actual ones: value tokens
/// are decoded and encoded again, so `{z*3}/0` reads as `zzz/0`.
fn normalize(expect: &str) -> String {
    expect
        .split(' ')
        .map(|t| match t.rsplit_once('/') {
            Some((v, f)) if f.parse::<u32>().is_ok() => format!("{}/{f}", encode(&decode(v))),
            _ => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn short(s: &str) -> String {
    if s.len() > 120 {
        format!("{}... ({} chars)", &s[..120], s.len())
    } else {
        s.to_string()
    }
}

/// Run every case on `k`; panic with every difference.
fn conform(k: Kind) {
    let mut diffs = Vec::new();
    let mut count = 0;
    for case in parse() {
        (k.reset)(k.client.as_ref());
        let mut cas = HashMap::new();
        for l in &case.lines {
            let got = run_line(k.client.as_ref(), l, &mut cas);
            count += 1;
            let want = normalize(&l.expect);
            if l.cmd != "sleep" && got != want {
                diffs.push(format!(
                    "{} / {} line {}: `{} {}` gave `{}`, table says `{}`",
                    k.name,
                    case.name,
                    l.no,
                    l.cmd,
                    short(&l.args.join(" ")),
                    short(&got),
                    short(&want)
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    println!("{}: {count} lines conform", k.name);
}

#[test]
fn table_parses() {
    let cases = parse();
    assert!(cases.len() >= 15);
    assert!(cases.iter().all(|c| !c.lines.is_empty()));
    assert_eq!(decode("a\\x20{b*3}\\r\\n\\0"), b"a bbb\r\n\0");
    assert_eq!(decode("{\\x20*2}"), b"  ");
    assert_eq!(normalize("{z*3}/0 MISS"), "zzz/0 MISS");
    assert_eq!(encode(b"a b\r\n\x00"), "a\\x20b\\r\\n\\x00");
}

#[test]
fn client_tcp() {
    conform(kind("client-tcp"));
}

#[test]
fn client_unix() {
    conform(kind("client-unix"));
}

#[test]
fn pooled() {
    conform(kind("pooled"));
}

#[test]
fn hash_one_server() {
    conform(kind("hash-1"));
}

#[test]
fn hash_three_servers() {
    conform(kind("hash-3"));
}

#[test]
fn fallback() {
    conform(kind("fallback"));
}

#[test]
fn retrying() {
    conform(kind("retrying"));
}

#[test]
fn mock() {
    conform(kind("mock"));
}

// The same table over TLS (memcached -Z, certificates made for the run).

#[test]
fn tls_client_tcp() {
    conform(kind_on("client-tcp", Net::tls()));
}

#[test]
fn tls_pooled() {
    conform(kind_on("pooled", Net::tls()));
}

#[test]
fn tls_hash_three_servers() {
    conform(kind_on("hash-3", Net::tls()));
}

#[test]
fn tls_fallback() {
    conform(kind_on("fallback", Net::tls()));
}

#[test]
fn tls_retrying() {
    conform(kind_on("retrying", Net::tls()));
}

#[test]
fn through_batches_single_server() {
    conform(kind("batch-tcp"));
}

#[test]
fn through_batches_hash_three_servers() {
    conform(kind("batch-hash-3"));
}

#[test]
fn through_batches_mock() {
    conform(kind("batch-mock"));
}

#[test]
fn through_batches_tls() {
    conform(kind_on("batch-tcp", Net::tls()));
}

// Through a wrapper that implements only `execute`: every single call a
// batch of one request, run by each client's `execute`.

#[test]
fn execute_only_single_server() {
    conform(kind("execute-tcp"));
}

#[test]
fn execute_only_hash_three_servers() {
    conform(kind("execute-hash-3"));
}

#[test]
fn execute_only_mock() {
    conform(kind("execute-mock"));
}
