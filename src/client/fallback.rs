//! `FallbackClient`: pymemcache's FallbackClient, for moving to a new
//! cluster while the old one is still warm. Writes go to the first client;
//! reads try each client in order and take, key by key, the first hit.

use super::{CasOutcome, FetchCmd, Item, Memcache, ServerStats, StoreCmd};
use crate::error::{Error, Result};
use crate::pool::PoolStats;

/// A client that reads through a list of clients and writes to the first.
pub struct FallbackClient {
    clients: Vec<Box<dyn Memcache>>,
}

impl FallbackClient {
    /// A fallback over `clients` (at least one; any kinds).
    pub fn new(clients: Vec<Box<dyn Memcache>>) -> Result<FallbackClient> {
        if clients.is_empty() {
            return Err(Error::Config(
                "a fallback client needs at least one client".into(),
            ));
        }
        Ok(FallbackClient { clients })
    }

    fn primary(&self) -> &dyn Memcache {
        self.clients[0].as_ref()
    }
}

impl Memcache for FallbackClient {
    fn fetch(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
        let mut out = self.primary().fetch(cmd, keys)?;
        for client in &self.clients[1..] {
            let missing: Vec<usize> = (0..keys.len()).filter(|&i| out[i].is_none()).collect();
            if missing.is_empty() {
                break;
            }
            let ks: Vec<&[u8]> = missing.iter().map(|&i| keys[i]).collect();
            for (i, item) in missing.into_iter().zip(client.fetch(cmd, &ks)?) {
                out[i] = item;
            }
        }
        Ok(out)
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
        self.primary()
            .store(cmd, key, value, flags, expire, noreply)
    }

    fn set_many(
        &self,
        items: &[(&[u8], &[u8])],
        flags: u32,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        self.primary().set_many(items, flags, expire, noreply)
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
        self.primary().cas(key, value, cas, flags, expire, noreply)
    }

    fn delete(&self, key: &[u8], noreply: Option<bool>) -> Result<bool> {
        self.primary().delete(key, noreply)
    }

    fn delete_many(&self, keys: &[&[u8]], noreply: Option<bool>) -> Result<usize> {
        self.primary().delete_many(keys, noreply)
    }

    fn incr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.primary().incr(key, delta, noreply)
    }

    fn decr(&self, key: &[u8], delta: u64, noreply: Option<bool>) -> Result<Option<u64>> {
        self.primary().decr(key, delta, noreply)
    }

    fn touch(&self, key: &[u8], expire: i64, noreply: Option<bool>) -> Result<bool> {
        self.primary().touch(key, expire, noreply)
    }

    /// The stats of every client's servers, the first client's first.
    fn stats(&self, args: &[&str]) -> Result<Vec<ServerStats>> {
        let mut all = Vec::new();
        for c in &self.clients {
            all.extend(c.stats(args)?);
        }
        Ok(all)
    }

    fn version(&self) -> Result<String> {
        self.primary().version()
    }

    fn flush_all(&self, delay: i64, noreply: Option<bool>) -> Result<()> {
        self.primary().flush_all(delay, noreply)
    }

    fn cache_memlimit(&self, megabytes: u64) -> Result<()> {
        self.primary().cache_memlimit(megabytes)
    }

    fn raw_command(&self, command: &[u8], end_token: &[u8]) -> Result<Vec<u8>> {
        self.primary().raw_command(command, end_token)
    }

    fn shutdown(&self, graceful: bool) -> Result<()> {
        self.primary().shutdown(graceful)
    }

    fn quit(&self) -> Result<()> {
        self.clients.iter().try_for_each(|c| c.quit())
    }

    fn close(&self) {
        self.clients.iter().for_each(|c| c.close())
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        self.primary().pool_stats()
    }

    fn pool_clear(&self) {
        self.clients.iter().for_each(|c| c.pool_clear())
    }

    fn server_for_key(&self, key: &[u8]) -> Result<String> {
        self.primary().server_for_key(key)
    }
}
