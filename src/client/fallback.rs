//! `FallbackClient`: pymemcache's FallbackClient, for moving to a new
//! cluster while the old one is still warm. Writes go to the first client;
//! reads try each client in order and take, key by key, the first hit.

use super::batch::{Batch, OpKind, OpStatus};
use super::{FetchCmd, Item, Memcache, Reply, Request};
use crate::error::{Error, Result};

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

    /// Each key from the first client that has it.
    fn fetch_through(&self, cmd: FetchCmd, keys: &[&[u8]]) -> Result<Vec<Option<Item>>> {
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
}

impl FallbackClient {
    /// The batch's get/gets/gat/gats misses, asked of the next clients in
    /// turn as `fetch_through` does; a hit fills the command's result.
    fn execute_through(&self, batch: &mut Batch) -> Result<()> {
        self.primary().execute(batch)?;
        for client in &self.clients[1..] {
            let missing: Vec<usize> = (0..batch.len())
                .filter(|&i| {
                    matches!(
                        batch.kind(i),
                        OpKind::Get | OpKind::Gets | OpKind::Gat(_) | OpKind::Gats(_)
                    ) && batch.result(i).status == OpStatus::Miss
                })
                .collect();
            if missing.is_empty() {
                break;
            }
            let mut older = Batch::new();
            for &i in &missing {
                older.push(batch.kind(i), batch.ops.key(i), b"", 0, 0);
            }
            client.execute(&mut older)?;
            for (j, &i) in missing.iter().enumerate() {
                let r = &mut older.out.results[j];
                match r.status {
                    OpStatus::Ok => {
                        let (flags, cas) = (r.flags, r.cas);
                        batch.out.put_value(i, older.result_value(j));
                        let out = &mut batch.out.results[i];
                        out.status = OpStatus::Ok;
                        out.flags = flags;
                        out.cas = cas;
                    }
                    OpStatus::Failed => {
                        let e = r.error.take().unwrap_or(Error::NoServers);
                        batch.out.fail(i, e);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

impl FallbackClient {
    /// Reads go through the clients in order, key by key; `stats` asks
    /// every client (the first client's servers first); `quit` quits every
    /// client; every other command goes to the first client.
    fn call_one(&self, req: Request<'_>) -> Result<Reply> {
        match req {
            Request::Fetch { cmd, keys } => self.fetch_through(cmd, keys).map(Reply::Items),
            Request::Stats { args } => {
                let mut all = Vec::new();
                for c in &self.clients {
                    all.extend(c.stats(args)?);
                }
                Ok(Reply::Stats(all))
            }
            Request::Quit => {
                for c in &self.clients {
                    c.quit()?;
                }
                Ok(Reply::Done)
            }
            _ => self.primary().call(req),
        }
    }
}

impl Memcache for FallbackClient {
    /// Writes, stampede reads and meta commands go to the first (live)
    /// client; get/gets/gat/gats misses fall through to the others; the
    /// requests as `call_one` runs them.
    fn execute(&self, batch: &mut Batch) -> Result<()> {
        batch.run_with(|b| self.execute_through(b), |req| self.call_one(req))
    }

    /// The first client, for what is not merged over every client.
    fn inner(&self) -> Option<&dyn Memcache> {
        Some(self.primary())
    }

    /// Not a hash client, whatever the first client is.
    fn as_hash(&self) -> Option<&super::HashClient> {
        None
    }

    fn close(&self) {
        self.clients.iter().for_each(|c| c.close())
    }

    fn pool_clear(&self) {
        self.clients.iter().for_each(|c| c.pool_clear())
    }

    /// Both clients' servers, primary first.
    fn metrics_snapshot(&self) -> crate::metrics::MetricsSnapshot {
        crate::metrics::MetricsSnapshot {
            servers: self
                .clients
                .iter()
                .flat_map(|c| c.metrics_snapshot().servers)
                .collect(),
        }
    }

    fn metrics_reset(&self) {
        self.clients.iter().for_each(|c| c.metrics_reset())
    }
}
