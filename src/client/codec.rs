//! `CodecClient`: any client with a transformation of every value it sends
//! and receives (compression, a C program's serialize/deserialize
//! callbacks), applied transparently by every command that carries values.

use super::batch::{Batch, Lease, OpKind, OpStatus};
use super::{Item, Memcache, Reply, Request, StoreCmd};
use crate::error::Result;
use crate::serde::{compress, maybe_compress, FLAG_COMPRESSED};

/// A transformation of values on their way to and from the server.
pub trait ValueCodec: Send + Sync {
    /// What to store for `value` with `flags`.
    fn encode(&self, key: &[u8], value: &[u8], flags: u32) -> Result<(Vec<u8>, u32)>;
    /// What the caller gets for stored `data` with `flags`.
    fn decode(&self, key: &[u8], data: Vec<u8>, flags: u32) -> Result<(Vec<u8>, u32)>;
}

/// pymemcache's CompressedSerde as a codec: zlib when a value is longer than
/// `min_compress_len` and compresses to no more than it was (flag 8 added);
/// values stored with flag 8 are decompressed (at most `max_value_len`).
#[derive(Debug, Clone)]
pub struct Compression {
    /// Compress values longer than this; 0 = never compress (still read).
    pub min_compress_len: usize,
    /// Bound on a decompressed value.
    pub max_value_len: usize,
}

impl ValueCodec for Compression {
    fn encode(&self, _key: &[u8], value: &[u8], flags: u32) -> Result<(Vec<u8>, u32)> {
        let (data, compressed) = maybe_compress(value.to_vec(), self.min_compress_len);
        Ok((
            data,
            if compressed {
                flags | FLAG_COMPRESSED
            } else {
                flags
            },
        ))
    }

    fn decode(&self, _key: &[u8], data: Vec<u8>, flags: u32) -> Result<(Vec<u8>, u32)> {
        if flags & FLAG_COMPRESSED == 0 {
            return Ok((data, flags));
        }
        Ok((
            compress::decompress(&data, self.max_value_len)?,
            flags & !FLAG_COMPRESSED,
        ))
    }
}

/// `set_many` of values that may each carry their own flags: one call per
/// distinct flags value; the indices (into `keys`) of items not stored.
pub fn set_many_encoded(
    client: &dyn Memcache,
    keys: &[&[u8]],
    encoded: &[(Vec<u8>, u32)],
    expire: i64,
    noreply: Option<bool>,
) -> Result<Vec<usize>> {
    let mut flag_values: Vec<u32> = encoded.iter().map(|(_, f)| *f).collect();
    flag_values.sort_unstable();
    flag_values.dedup();
    let mut failed = Vec::new();
    for f in flag_values {
        let idx: Vec<usize> = (0..keys.len()).filter(|&i| encoded[i].1 == f).collect();
        let batch: Vec<(&[u8], &[u8])> = idx
            .iter()
            .map(|&i| (keys[i], encoded[i].0.as_slice()))
            .collect();
        let bad = client.set_many(&batch, f, expire, noreply)?;
        failed.extend(bad.into_iter().map(|b| idx[b]));
    }
    failed.sort_unstable();
    Ok(failed)
}

/// A client whose values pass through a codec.
pub struct CodecClient<C: ValueCodec> {
    inner: Box<dyn Memcache>,
    codec: C,
}

impl<C: ValueCodec> CodecClient<C> {
    /// Put `codec` in front of `inner`.
    pub fn new(inner: Box<dyn Memcache>, codec: C) -> Self {
        CodecClient { inner, codec }
    }
}

impl<C: ValueCodec> CodecClient<C> {
    fn decode_items(&self, keys: &[&[u8]], items: Vec<Option<Item>>) -> Result<Vec<Option<Item>>> {
        keys.iter()
            .zip(items)
            .map(|(k, it)| {
                it.map(|it| {
                    let (value, flags) = self.codec.decode(k, it.value, it.flags)?;
                    Ok(Item {
                        value,
                        flags,
                        cas: it.cas,
                    })
                })
                .transpose()
            })
            .collect()
    }
}

impl<C: ValueCodec> CodecClient<C> {
    /// Run `batch` on the inner client with the values encoded as the
    /// single commands encode them (set/add/replace/cas; append, prepend
    /// and generic meta commands pass as they are) and the values read
    /// decoded (get/gets/gat/gats and the values of stampede reads; a
    /// generic `mg` returns the stored bytes and flags). A value that does
    /// not encode or decode fails its own command.
    fn execute_encoded(&self, batch: &mut Batch) -> Result<()> {
        let n = batch.len();
        let mut inner = Batch::new();
        // Per command: its position in `inner`, or the encoding error.
        let mut placed: Vec<std::result::Result<usize, crate::Error>> = Vec::with_capacity(n);
        for i in 0..n {
            let req = batch.ops.reqs[i];
            let (key, value) = (batch.ops.key(i), batch.ops.value(i));
            let encoded = match req.kind {
                OpKind::Store(StoreCmd::Append | StoreCmd::Prepend) => None,
                OpKind::Store(_) | OpKind::Cas(_) => {
                    match self.codec.encode(key, value, req.flags) {
                        Ok(e) => Some(e),
                        Err(e) => {
                            placed.push(Err(e));
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let (value, flags) = match &encoded {
                Some((data, flags)) => (&data[..], *flags),
                None => (value, req.flags),
            };
            let tokens = batch.ops.tokens(i);
            placed.push(Ok(
                inner.push_with_tokens(req.kind, key, value, flags, req.expire, tokens)
            ));
        }
        self.inner.execute(&mut inner)?;
        batch.start();
        for (i, place) in placed.into_iter().enumerate() {
            let j = match place {
                Ok(j) => j,
                Err(e) => {
                    batch.out.fail(i, e);
                    continue;
                }
            };
            let kind = batch.ops.reqs[i].kind;
            let r = &mut inner.out.results[j];
            let error = r.error.take();
            let (status, flags) = (r.status, r.flags);
            let decode = status == OpStatus::Ok
                && match kind {
                    OpKind::Get | OpKind::Gets | OpKind::Gat(_) | OpKind::Gats(_) => true,
                    OpKind::GetOrLock { .. } => {
                        !matches!(r.lease, Some(Lease::MissWon | Lease::MissBusy))
                    }
                    _ => false,
                };
            {
                let out = &mut batch.out.results[i];
                let r = &inner.out.results[j];
                out.status = status;
                out.error = error;
                out.flags = r.flags;
                out.cas = r.cas;
                out.number = r.number;
                out.ttl = r.ttl;
                out.lease = r.lease;
                out.code = r.code;
            }
            let ret_flags = inner.result_flags(j);
            let start = batch.out.data.len();
            batch.out.data.extend_from_slice(ret_flags);
            batch.out.results[i].ret_flags = (start, ret_flags.len());
            let value = inner.result_value(j);
            if !decode {
                batch.out.put_value(i, value);
                continue;
            }
            let key = batch.ops.key(i);
            match self.codec.decode(key, value.to_vec(), flags) {
                Ok((v, f)) => {
                    batch.out.put_value(i, &v);
                    batch.out.results[i].flags = f;
                }
                Err(e) => batch.out.fail(i, e),
            }
        }
        Ok(())
    }
}

impl<C: ValueCodec> CodecClient<C> {
    /// Values are encoded on the way out (but bytes appended or prepended
    /// join the stored value as they are) and decoded on the way in; every
    /// other command passes through.
    fn call_one(&self, req: Request<'_>) -> Result<Reply> {
        match req {
            Request::Fetch { cmd, keys } => {
                let items = self.inner.fetch(cmd, keys)?;
                self.decode_items(keys, items).map(Reply::Items)
            }
            Request::Store {
                cmd: StoreCmd::Append | StoreCmd::Prepend,
                ..
            } => self.inner.call(req),
            Request::Store {
                cmd,
                key,
                value,
                flags,
                expire,
                noreply,
            } => {
                let (data, flags) = self.codec.encode(key, value, flags)?;
                self.inner.call(Request::Store {
                    cmd,
                    key,
                    value: &data,
                    flags,
                    expire,
                    noreply,
                })
            }
            Request::SetMany {
                items,
                flags,
                expire,
                noreply,
            } => {
                let encoded: Vec<(Vec<u8>, u32)> = items
                    .iter()
                    .map(|(k, v)| self.codec.encode(k, v, flags))
                    .collect::<Result<_>>()?;
                let keys: Vec<&[u8]> = items.iter().map(|(k, _)| *k).collect();
                set_many_encoded(self.inner.as_ref(), &keys, &encoded, expire, noreply)
                    .map(Reply::Indices)
            }
            Request::Cas {
                key,
                value,
                cas,
                flags,
                expire,
                noreply,
            } => {
                let (data, flags) = self.codec.encode(key, value, flags)?;
                self.inner.call(Request::Cas {
                    key,
                    value: &data,
                    cas,
                    flags,
                    expire,
                    noreply,
                })
            }
            _ => self.inner.call(req),
        }
    }
}

impl<C: ValueCodec> Memcache for CodecClient<C> {
    /// The batch runs on the inner client, values encoded and decoded per
    /// command as the single commands do.
    fn execute(&self, batch: &mut Batch) -> Result<()> {
        batch.run_with(|b| self.execute_encoded(b), |req| self.call_one(req))
    }

    fn inner(&self) -> Option<&dyn Memcache> {
        Some(self.inner.as_ref())
    }
}
