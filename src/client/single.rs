//! `Client`: pymemcache's single-server client. One connection, guarded by a
//! lock so that a shared `Client` serializes its callers.

use super::{
    CasOutcome, ClientOptions, FetchCmd, Item, Memcache, ServerConn, ServerStats, StoreCmd,
};
use crate::addr::ServerAddr;
use crate::error::{Error, Result};
use parking_lot::Mutex;

/// A client for one memcached server.
pub struct Client {
    conn: Mutex<ServerConn>,
    ignore_exc: bool,
}

impl Client {
    /// A client for `server` ("host:port", "[v6]:port" or a socket path).
    /// Nothing is connected until the first command.
    pub fn new(server: &str, opts: &ClientOptions) -> Result<Client> {
        Client::with_addr(ServerAddr::parse(server)?, opts)
    }

    /// A client for an already parsed address.
    pub fn with_addr(addr: ServerAddr, opts: &ClientOptions) -> Result<Client> {
        Ok(Client {
            conn: Mutex::new(ServerConn::new(addr, opts)?),
            ignore_exc: opts.ignore_exc,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> ServerAddr {
        self.conn.lock().addr().clone()
    }

    /// True while the connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.lock().is_connected()
    }
}

/// With `ignore_exc`, a failed retrieval reads as all misses; illegal input
/// is still reported, as pymemcache checks keys before it tries.
pub(crate) fn ignore_fetch_error(
    res: Result<Vec<Option<Item>>>,
    ignore_exc: bool,
    n: usize,
) -> Result<Vec<Option<Item>>> {
    match res {
        Err(e) if ignore_exc && !matches!(e, Error::IllegalInput(_) | Error::Config(_)) => {
            Ok(vec![None; n])
        }
        other => other,
    }
}

impl Memcache for Client {
    fn fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        let res = self.conn.lock().fetch(cmd, keys);
        ignore_fetch_error(res, self.ignore_exc, keys.len())
    }

    fn store(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        value: &[u8],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        self.conn
            .lock()
            .store(cmd, key, value, flags, expire, noreply)
    }

    fn set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        self.conn.lock().set_many(items, flags, expire, noreply)
    }

    fn cas(
        &self,
        key: &[u8],
        value: &[u8],
        cas: u64,
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<CasOutcome> {
        self.conn
            .lock()
            .cas(key, value, cas, flags, expire, noreply)
    }

    fn delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.conn.lock().delete(key, noreply)
    }

    fn delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        self.conn.lock().delete_many(keys, noreply)
    }

    fn incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.conn.lock().incr_decr(true, key, delta, noreply)
    }

    fn decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.conn.lock().incr_decr(false, key, delta, noreply)
    }

    fn touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        self.conn.lock().touch(key, expire, noreply)
    }

    fn stats(&self, args: &[&str]) -> Result<Vec<ServerStats>> {
        Ok(vec![self.conn.lock().stats(args)?])
    }

    fn version(&self) -> Result<String> {
        self.conn.lock().version()
    }

    fn flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<()> {
        self.conn.lock().flush_all(delay, noreply)
    }

    fn cache_memlimit(&self, megabytes: u64) -> Result<()> {
        self.conn.lock().cache_memlimit(megabytes)
    }

    fn raw_command(&self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>> {
        self.conn.lock().raw_command(command, end_token)
    }

    fn shutdown(&self, graceful: bool) -> Result<()> {
        self.conn.lock().shutdown(graceful)
    }

    fn quit(&self) -> Result<()> {
        self.conn.lock().quit()
    }

    fn close(&self) {
        self.conn.lock().close()
    }
}
