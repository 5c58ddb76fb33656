//! The screen every pickle passes before serde_pickle decodes it: each
//! opcode is checked (no classes, no functions, no persistent ids, every
//! announced length present) and its effect on the pickle machine's stack
//! and memo is simulated on the sizes and depths of the values alone.
//!
//! The simulation is what keeps a small hostile pickle from costing a large
//! decode. serde_pickle copies a memoized value at every reference to it
//! (so `l = [l0, l0]` repeated doubles at each step: a few hundred bytes
//! become gigabytes), gives every MARK a 128-slot vector, and converts and
//! drops values recursively (so a deep enough nesting overflows the stack).
//! Here each value is an estimate of the bytes serde_pickle spends on it
//! plus the memo entries it refers to; the references are unfolded at the
//! end, as the decoder's conversion unfolds them. The pickle is refused when
//! the estimate of what decoding it costs passes `MAX_DECODE_BYTES`, or its
//! nesting passes `MAX_DEPTH` (where `to_json` would refuse it anyway).
//! The estimate errs on the large side: values are shared where the decoder
//! copies them, and containers are never found to be of the wrong kind.

use super::{truncated, unsupported, MAX_DEPTH};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// The most a pickle may cost to decode, by the estimate below: far beyond
/// the values memcached holds (1 MiB by default), far below what would
/// hurt a host process.
pub const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Bytes one decoded value takes (serde_pickle's `Value` is 40 on 64-bit
/// targets), before whatever it owns on the heap.
const SLOT: u64 = 48;

/// What serde_pickle allocates for one MARK (`Vec::with_capacity(128)`).
const MARK_COST: u64 = 128 * SLOT;

/// The most references the screen itself may copy or move (a value's
/// references move into every container it is nested in): a bound on the
/// screen's own time, far beyond what plain data needs.
const MAX_SCREEN_WORK: u64 = 1 << 25;

/// A value as far as cost goes: the bytes it takes, how deeply it nests,
/// and the memo entries it refers to (each at its nesting level, at least
/// 1) that the decoder unfolds into copies.
#[derive(Clone, Debug, Default)]
struct Shape {
    weight: u64,
    depth: usize,
    refs: Vec<(u32, usize)>,
}

impl Shape {
    fn leaf(payload: usize) -> Shape {
        Shape {
            weight: SLOT.saturating_add(payload as u64),
            ..Shape::default()
        }
    }
}

/// A stack entry: a value of its own, or a reference to a memo entry (what
/// serde_pickle pushes for GET and leaves after PUT).
#[derive(Clone, Debug)]
enum Item {
    Value(Shape),
    Ref(u32),
}

#[derive(Default)]
struct Machine {
    stack: Vec<Item>,
    marks: Vec<Vec<Item>>,
    memo: HashMap<u32, Shape>,
    /// Bytes the decoder keeps, estimated; never decreases.
    spent: u64,
    /// References copied or moved so far.
    work: u64,
}

fn underflow(at: usize) -> Error {
    Error::Corrupt(format!("pickle stack underflow at byte {at}"))
}

fn too_deep() -> Error {
    Error::Corrupt("pickle nested too deeply".into())
}

fn too_costly(at: usize) -> Error {
    Error::UnsupportedPickle(format!(
        "decoding would take more than {} MiB (at byte {at})",
        MAX_DECODE_BYTES >> 20
    ))
}

impl Machine {
    fn count_work(&mut self, refs: usize, at: usize) -> Result<()> {
        self.work = self.work.saturating_add(refs as u64);
        if self.work > MAX_SCREEN_WORK {
            return Err(Error::UnsupportedPickle(format!(
                "too many references to weigh (at byte {at})"
            )));
        }
        Ok(())
    }

    /// Count the references that adding `items` to a container moves.
    fn count_moves(&mut self, items: &[Item], at: usize) -> Result<()> {
        let refs = items
            .iter()
            .map(|it| match it {
                Item::Value(s) => s.refs.len(),
                Item::Ref(_) => 1,
            })
            .fold(0usize, usize::saturating_add);
        self.count_work(refs, at)
    }

    fn spend(&mut self, bytes: u64, at: usize) -> Result<()> {
        self.spent = self.spent.saturating_add(bytes);
        let open = (self.marks.len() as u64).saturating_mul(MARK_COST);
        if self.spent.saturating_add(open) > MAX_DECODE_BYTES {
            return Err(too_costly(at));
        }
        Ok(())
    }

    fn push(&mut self, shape: Shape, at: usize) -> Result<()> {
        self.spend(shape.weight, at)?;
        self.stack.push(Item::Value(shape));
        Ok(())
    }

    fn pop(&mut self, at: usize) -> Result<Item> {
        self.stack.pop().ok_or_else(|| underflow(at))
    }

    fn pop_mark(&mut self, at: usize) -> Result<Vec<Item>> {
        let below = self.marks.pop().ok_or_else(|| underflow(at))?;
        Ok(std::mem::replace(&mut self.stack, below))
    }

    fn memo_entry(&self, id: u32, at: usize) -> Result<&Shape> {
        self.memo
            .get(&id)
            .ok_or_else(|| Error::Corrupt(format!("pickle memo {id} is missing at byte {at}")))
    }

    /// The value an item stands for, copied (what the decoder does when it
    /// resolves a reference), and what the copy costs.
    fn resolve(&mut self, item: Item, at: usize) -> Result<Shape> {
        match item {
            Item::Value(s) => Ok(s),
            Item::Ref(id) => {
                let s = self.memo_entry(id, at)?.clone();
                self.spend(s.weight, at)?;
                self.count_work(s.refs.len(), at)?;
                Ok(s)
            }
        }
    }

    /// The value at the top of the stack, where APPEND and friends add to:
    /// the memo entry itself when the top is a reference to one.
    fn top(&mut self, at: usize) -> Result<&mut Shape> {
        match self.stack.last_mut() {
            Some(Item::Value(s)) => Ok(s),
            Some(Item::Ref(id)) => {
                let id = *id;
                self.memo.get_mut(&id).ok_or_else(|| {
                    Error::Corrupt(format!("pickle memo {id} is missing at byte {at}"))
                })
            }
            None => Err(underflow(at)),
        }
    }

    /// Add `items` to the container at the top of the stack.
    fn extend_top(&mut self, items: Vec<Item>, at: usize) -> Result<()> {
        // The container's vector grows by doubling: up to two slots an item.
        self.spend((items.len() as u64).saturating_mul(2 * SLOT), at)?;
        self.count_moves(&items, at)?;
        let top = self.top(at)?;
        for it in items {
            add_child(top, it);
        }
        if top.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(())
    }

    /// A new container holding `items` (already paid for), its vector of
    /// `slots` slots.
    fn push_container(&mut self, items: Vec<Item>, slots: usize, at: usize) -> Result<()> {
        let mut shape = Shape::leaf(0);
        self.spend((slots as u64).saturating_add(1).saturating_mul(SLOT), at)?;
        self.count_moves(&items, at)?;
        for it in items {
            add_child(&mut shape, it);
        }
        if shape.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        self.stack.push(Item::Value(shape));
        Ok(())
    }

    /// PUT: the top moves into the memo, a reference to it takes its place
    /// (a reference is copied first, as the decoder copies it).
    fn memoize(&mut self, id: u32, at: usize) -> Result<()> {
        let item = self.pop(at)?;
        let shape = self.resolve(item, at)?;
        self.memo.insert(id, shape);
        self.stack.push(Item::Ref(id));
        Ok(())
    }

    fn get(&mut self, id: u32, at: usize) -> Result<()> {
        self.memo_entry(id, at)?;
        self.spend(SLOT, at)?;
        self.stack.push(Item::Ref(id));
        Ok(())
    }

    /// STOP: what converting the result and writing its JSON costs, with
    /// every reference unfolded into the copy the decoder makes of it.
    fn finish(mut self, at: usize) -> Result<()> {
        let result = self.pop(at)?;
        let mut known = HashMap::new();
        let (weight, depth) = match result {
            Item::Ref(id) => unfold(&self.memo, id, 0, &mut known, &mut Vec::new())?,
            Item::Value(s) => unfold_shape(&self.memo, &s, 0, &mut known, &mut Vec::new())?,
        };
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        // The decoded tree, then the JSON text and the public values made
        // from it: about twice over.
        if self.spent.saturating_add(weight.saturating_mul(2)) > MAX_DECODE_BYTES {
            return Err(too_costly(at));
        }
        Ok(())
    }
}

fn add_child(parent: &mut Shape, child: Item) {
    match child {
        Item::Ref(id) => {
            parent.weight = parent.weight.saturating_add(SLOT);
            parent.depth = parent.depth.max(1);
            parent.refs.push((id, 1));
        }
        Item::Value(s) => {
            parent.weight = parent.weight.saturating_add(s.weight);
            parent.depth = parent.depth.max(s.depth + 1);
            parent
                .refs
                .extend(s.refs.iter().map(|&(id, l)| (id, l + 1)));
        }
    }
}

/// The cost and depth of memo entry `id` with its references unfolded.
/// `level` is how deep the references followed so far nest (each adds at
/// least 1), which bounds the recursion; `path` holds the entries being
/// unfolded, so a value that contains itself is found.
fn unfold(
    memo: &HashMap<u32, Shape>,
    id: u32,
    level: usize,
    known: &mut HashMap<u32, (u64, usize)>,
    path: &mut Vec<u32>,
) -> Result<(u64, usize)> {
    if let Some(&done) = known.get(&id) {
        return Ok(done);
    }
    if path.contains(&id) {
        return Err(Error::Corrupt(
            "pickle of a value that contains itself".into(),
        ));
    }
    let shape = memo
        .get(&id)
        .ok_or_else(|| Error::Corrupt(format!("pickle memo {id} is missing")))?;
    path.push(id);
    let done = unfold_shape(memo, shape, level, known, path)?;
    path.pop();
    known.insert(id, done);
    Ok(done)
}

fn unfold_shape(
    memo: &HashMap<u32, Shape>,
    shape: &Shape,
    level: usize,
    known: &mut HashMap<u32, (u64, usize)>,
    path: &mut Vec<u32>,
) -> Result<(u64, usize)> {
    if level > MAX_DEPTH {
        return Err(too_deep());
    }
    let (mut weight, mut depth) = (shape.weight, shape.depth);
    for &(id, l) in &shape.refs {
        let (w, d) = unfold(memo, id, level + l, known, path)?;
        weight = weight.saturating_add(w);
        depth = depth.max(l + d);
        if weight > MAX_DECODE_BYTES {
            return Err(Error::UnsupportedPickle(format!(
                "decoding would take more than {} MiB",
                MAX_DECODE_BYTES >> 20
            )));
        }
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
    }
    Ok((weight, depth))
}

/// NaN and the infinities have no JSON form, so `to_json` could never give
/// them back; refused here, before serde_pickle puts a NaN in a set or dict
/// and its ordering of values (not total with NaN) panics.
fn finite(f: f64, at: usize) -> Result<()> {
    if f.is_finite() {
        Ok(())
    } else {
        Err(Error::Corrupt(format!(
            "float {f} at byte {at} has no JSON form"
        )))
    }
}

/// A memo index written as decimal text (PUT and GET of protocol 0).
fn text_id(line: &[u8], at: usize) -> Result<u32> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| Error::Corrupt(format!("bad memo index at byte {at}")))
}

/// Check a pickle's opcodes, and what decoding it would cost, without
/// decoding it.
pub fn screen(data: &[u8]) -> Result<()> {
    let mut i = 0;
    let mut m = Machine::default();
    let take = |i: &mut usize, n: usize| -> Result<usize> {
        let at = *i;
        if data.len() - at < n {
            return Err(truncated(at));
        }
        *i += n;
        Ok(at)
    };
    let le = |b: &[u8]| {
        b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    };
    // A text-line argument: where it starts; `*i` steps past its '\n'.
    let line = |i: &mut usize| -> Result<usize> {
        let at = *i;
        let n = data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| truncated(at))?;
        *i += n + 1;
        Ok(at)
    };
    loop {
        let op_at = i;
        let op = data[take(&mut i, 1)?];
        match op {
            b'.' => {
                if i != data.len() {
                    return Err(Error::Corrupt(format!(
                        "bytes after the end of the pickle at {i}"
                    )));
                }
                return m.finish(op_at);
            }
            // PROTO and FRAME: no effect on the stack.
            0x80 => {
                take(&mut i, 1)?;
            }
            0x95 => {
                take(&mut i, 8)?;
            }
            b'(' => {
                let below = std::mem::take(&mut m.stack);
                m.marks.push(below);
                m.spend(0, op_at)?;
            }
            b'0' => {
                if m.stack.is_empty() {
                    m.pop_mark(op_at)?;
                } else {
                    m.pop(op_at)?;
                }
            }
            b'1' => {
                m.pop_mark(op_at)?;
            }
            b'2' => {
                let copy = match m.stack.last() {
                    Some(Item::Value(s)) => s.clone(),
                    Some(&Item::Ref(id)) => m.memo_entry(id, op_at)?.clone(),
                    None => return Err(underflow(op_at)),
                };
                m.count_work(copy.refs.len(), op_at)?;
                m.push(copy, op_at)?;
            }
            // None, True, False, and the empty containers.
            b'N' | 0x88 | 0x89 | b']' | b')' | b'}' | 0x8f => m.push(Shape::leaf(0), op_at)?,
            b'a' => {
                let item = m.pop(op_at)?;
                m.extend_top(vec![item], op_at)?;
            }
            b's' => {
                let value = m.pop(op_at)?;
                let key = m.pop(op_at)?;
                m.extend_top(vec![key, value], op_at)?;
            }
            b'e' | b'u' | 0x90 => {
                let items = m.pop_mark(op_at)?;
                m.extend_top(items, op_at)?;
            }
            b'l' | b't' | b'd' | 0x91 => {
                let items = m.pop_mark(op_at)?;
                let slots = items.len().max(128);
                m.push_container(items, slots, op_at)?;
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if m.stack.len() < n {
                    return Err(underflow(op_at));
                }
                let items = m.stack.split_off(m.stack.len() - n);
                m.push_container(items, n, op_at)?;
            }
            // Memo: PUT and GET, in their three sizes each.
            0x94 => m.memoize(m.memo.len() as u32, op_at)?,
            b'q' | b'h' => {
                let at = take(&mut i, 1)?;
                let id = u32::from(data[at]);
                if op == b'q' {
                    m.memoize(id, op_at)?;
                } else {
                    m.get(id, op_at)?;
                }
            }
            b'r' | b'j' => {
                let at = take(&mut i, 4)?;
                let id = le(&data[at..at + 4]) as u32;
                if op == b'r' {
                    m.memoize(id, op_at)?;
                } else {
                    m.get(id, op_at)?;
                }
            }
            b'p' | b'g' => {
                let at = line(&mut i)?;
                let id = text_id(&data[at..i - 1], at)?;
                if op == b'p' {
                    m.memoize(id, op_at)?;
                } else {
                    m.get(id, op_at)?;
                }
            }
            // Numbers and strings with fixed-size arguments.
            b'K' | b'M' | b'J' | b'G' => {
                let n = match op {
                    b'K' => 1,
                    b'M' => 2,
                    b'J' => 4,
                    _ => 8,
                };
                let at = take(&mut i, n)?;
                if op == b'G' {
                    let bits: [u8; 8] = data[at..at + 8].try_into().expect("8 bytes taken");
                    finite(f64::from_be_bytes(bits), op_at)?;
                }
                m.push(Shape::leaf(n), op_at)?;
            }
            // Length-prefixed arguments: the length must be there.
            b'X' | b'B' | b'T' | 0x8b => {
                let at = take(&mut i, 4)?;
                let n = le(&data[at..at + 4]);
                if op == b'T' && n > i32::MAX as u64 {
                    return Err(Error::Corrupt(format!("negative length at byte {at}")));
                }
                let n = usize::try_from(n).map_err(|_| truncated(at))?;
                take(&mut i, n)?;
                m.push(Shape::leaf(n), op_at)?;
            }
            0x8c | b'C' | b'U' | 0x8a => {
                let at = take(&mut i, 1)?;
                let n = usize::from(data[at]);
                take(&mut i, n)?;
                m.push(Shape::leaf(n), op_at)?;
            }
            0x8d | 0x8e | 0x96 => {
                let at = take(&mut i, 8)?;
                let n = le(&data[at..at + 8]);
                let n = usize::try_from(n).map_err(|_| truncated(at))?;
                take(&mut i, n)?;
                m.push(Shape::leaf(n), op_at)?;
            }
            // Text-line arguments.
            b'I' | b'L' | b'F' | b'S' | b'V' => {
                let at = line(&mut i)?;
                if op == b'F' {
                    let text = std::str::from_utf8(&data[at..i - 1]).unwrap_or("");
                    if let Ok(f) = text.trim().parse::<f64>() {
                        finite(f, op_at)?;
                    }
                }
                m.push(Shape::leaf(i - at), op_at)?;
            }
            b'c' => {
                let mo = line(&mut i)?;
                let n = line(&mut i)?;
                let module = &data[mo..n - 1];
                let name = &data[n..i - 1];
                let allowed = matches!(
                    (module, name),
                    (
                        b"builtins" | b"__builtin__",
                        b"set" | b"frozenset" | b"bytearray"
                    ) | (b"_codecs", b"encode")
                );
                if !allowed {
                    return Err(Error::UnsupportedPickle(format!(
                        "global {}.{} at byte {op_at}: not plain data",
                        String::from_utf8_lossy(module),
                        String::from_utf8_lossy(name)
                    )));
                }
                m.push(Shape::leaf(0), op_at)?;
            }
            // REDUCE of one of the globals above: the arguments are resolved
            // (copied if references), and so is the first argument inside
            // them; the result is made of them.
            b'R' => {
                let args = m.pop(op_at)?;
                let args = m.resolve(args, op_at)?;
                let global = m.pop(op_at)?;
                m.resolve(global, op_at)?;
                let copied = args
                    .refs
                    .iter()
                    .filter(|&&(_, l)| l == 1)
                    .map(|&(id, _)| m.memo.get(&id).map_or(0, |s| s.weight))
                    .fold(0u64, u64::saturating_add);
                m.spend(copied, op_at)?;
                m.stack.push(Item::Value(args));
            }
            b'i' => return Err(unsupported("INST (a class instance)", op_at)),
            b'o' => return Err(unsupported("OBJ (a class instance)", op_at)),
            0x81 | 0x92 => return Err(unsupported("NEWOBJ (a class instance)", op_at)),
            b'b' => return Err(unsupported("BUILD (object state)", op_at)),
            0x93 => return Err(unsupported("STACK_GLOBAL (a class or function)", op_at)),
            b'P' | b'Q' => return Err(unsupported("a persistent id", op_at)),
            0x82..=0x84 => return Err(unsupported("an extension code", op_at)),
            0x97 | 0x98 => return Err(unsupported("an out-of-band buffer", op_at)),
            other => {
                return Err(Error::Corrupt(format!(
                    "unknown pickle opcode 0x{other:02x} at byte {op_at}"
                )))
            }
        }
    }
}
