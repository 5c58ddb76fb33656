'use strict';

// The conformance table (tests/conformance/cases.txt) run through this
// binding: parsed as examples-c/conformance.c parses it, each line run with
// the Client's methods, each outcome written in the table's notation. A
// command the binding cannot run fails the run (no skipping).

const fs = require('node:fs');
const { PymemcacheError, statusName } = require('./pkg').pmc;

// ---- the table's notation ----------------------------------------------------

/** Decode a token: \xNN \r \n \t \0 \\ escapes and {c*N} repetitions. */
function decode(tok, lineNo) {
  const out = [];
  let i = 0;
  const bad = (why) => { throw new Error(`line ${lineNo}: ${why} in token \`${tok}\``); };
  while (i < tok.length) {
    const c = tok[i];
    if (c === '\\') {
      const e = tok[i + 1];
      if (e === 'x') {
        const hex = tok.slice(i + 2, i + 4);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) bad('bad \\x escape');
        out.push(Buffer.from([parseInt(hex, 16)]));
        i += 4;
        continue;
      }
      const map = { r: '\r', n: '\n', t: '\t', 0: '\0', '\\': '\\' };
      if (!(e in map)) bad('bad escape');
      out.push(Buffer.from(map[e], 'latin1'));
      i += 2;
    } else if (c === '{') {
      const end = tok.indexOf('}', i);
      if (end < 0) bad('{ without }');
      const inner = tok.slice(i + 1, end);
      const star = inner.lastIndexOf('*');
      if (star < 0) bad('{c*N} without *');
      const one = decode(inner.slice(0, star), lineNo);
      if (one.length !== 1) bad('{c*N} repeats one byte');
      if (!/^\+?[0-9]+$/.test(inner.slice(star + 1))) bad('bad count in {c*N}');
      out.push(Buffer.alloc(Number(inner.slice(star + 1)), one[0]));
      i = end + 1;
    } else {
      const cp = tok.codePointAt(i);
      const ch = String.fromCodePoint(cp);
      out.push(Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  return Buffer.concat(out);
}

/** Bytes in the table's notation. */
function encode(buf) {
  let s = '';
  for (const c of buf) {
    if (c === 0x0d) s += '\\r';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x5c) s += '\\\\';
    else if (c >= 0x21 && c <= 0x7e) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** The expected outcome with value tokens (`v/flags`) decoded and encoded again. */
function normalize(expect, lineNo) {
  return expect.split(' ').map((t) => {
    const slash = t.lastIndexOf('/');
    if (slash >= 0 && /^\+?[0-9]+$/.test(t.slice(slash + 1)) && Number(t.slice(slash + 1)) <= 0xffffffff) {
      return encode(decode(t.slice(0, slash), lineNo)) + t.slice(slash);
    }
    return t;
  }).join(' ');
}

// ---- parsing -------------------------------------------------------------------

/** [{name, lines: [{no, cmd, args, flags, expire, reply, expect}]}] */
function parseTable(text) {
  const cases = [];
  text.split('\n').forEach((raw, idx) => {
    const no = idx + 1;
    const s = raw.trim();
    if (!s || s.startsWith('#')) return;
    if (s.startsWith('== ')) {
      cases.push({ name: s.slice(3), lines: [] });
      return;
    }
    if (!cases.length) throw new Error(`line ${no}: a command before the first "== name" case header`);
    let lhs = s;
    let expect = '';
    const arrow = s.indexOf(' -> ');
    if (arrow >= 0) {
      lhs = s.slice(0, arrow);
      expect = s.slice(arrow + 4).trim();
    } else if (s.endsWith(' ->')) {
      lhs = s.slice(0, -3);
    }
    const words = lhs.split(/\s+/).filter(Boolean);
    const line = { no, cmd: words[0], args: [], flags: null, expire: null, reply: null, expect };
    for (const w of words.slice(1)) {
      const m = /^(flags|expire|reply)=(.*)$/.exec(w);
      if (m) line[m[1]] = m[2];
      else line.args.push(w);
    }
    cases[cases.length - 1].lines.push(line);
  });
  return cases;
}

// ---- running -------------------------------------------------------------------

const ERROR_KINDS = new Set(['ILLEGAL_INPUT', 'CLIENT_ERROR', 'SERVER_ERROR', 'TOO_LARGE', 'UNKNOWN_COMMAND']);

function errorOutcome(e) {
  if (!(e instanceof PymemcacheError)) throw e;
  const kind = statusName(e.status).replace(/^PMC_/, '');
  return ERROR_KINDS.has(kind) ? `err:${kind}` : `err:OTHER(${e.message})`;
}

function int(line, s) {
  if (!/^[-+]?[0-9]+$/.test(s)) throw new Error(`line ${line.no}: \`${s}\` is not an integer`);
  return Number(s);
}

function need(line, n) {
  if (line.args.length < n) {
    throw new Error(`line ${line.no}: ${line.cmd} needs ${n} argument(s), has ${line.args.length}`);
  }
}

const itemOutcome = (it) => `${encode(it.value)}/${it.flags}`;

/**
 * Runs the table's lines on a client through its sync methods, or its
 * *Async methods when `async`; `cas` holds the remembered CAS uniques.
 */
class Runner {
  constructor(client, async) {
    this.client = client;
    this.async = async;
    this.cas = new Map(); // key (latin1 string of the bytes) => BigInt
  }

  // Call a client method, sync or async, and wait for its result.
  async call(name, ...args) {
    return this.async ? await this.client[`${name}Async`](...args) : this.client[name](...args);
  }

  async run(line) {
    try {
      return await this.outcome(line);
    } catch (e) {
      return errorOutcome(e);
    }
  }

  async outcome(line) {
    const { cmd, args } = line;
    const opts = {};
    if (line.flags !== null) opts.flags = int(line, line.flags);
    if (line.expire !== null) opts.expire = int(line, line.expire);
    if (line.reply === 'wait') opts.noreply = false;
    else if (line.reply === 'none') opts.noreply = true;
    else if (line.reply !== null && line.reply !== 'default') throw new Error(`line ${line.no}: reply=${line.reply}`);
    const key = (i) => decode(args[i], line.no);

    switch (cmd) {
      case 'set': case 'add': case 'replace': case 'append': case 'prepend': {
        need(line, 2);
        return (await this.call(cmd, key(0), key(1), opts)) ? 'OK' : 'NOT_STORED';
      }
      case 'cas': {
        need(line, 3);
        let unique;
        if (args[2].startsWith('$')) {
          unique = this.cas.get(decode(args[2].slice(1), line.no).toString('latin1'));
          if (unique === undefined) return `(no CAS unique remembered for ${args[2]})`;
        } else {
          unique = BigInt(args[2]);
        }
        const r = await this.call('cas', key(0), key(1), unique, opts);
        return r === true ? 'OK' : r === false ? 'EXISTS' : 'NOT_FOUND';
      }
      case 'get': case 'gets': case 'gat': case 'gats': {
        const touch = cmd.startsWith('ga');
        need(line, touch ? 2 : 1);
        const k = key(touch ? 1 : 0);
        const method = { get: 'getItem', gets: 'gets', gat: 'gatItem', gats: 'gats' }[cmd];
        const it = touch ? await this.call(method, k, int(line, args[0])) : await this.call(method, k);
        if (it === null) return 'MISS';
        if (cmd === 'gets' || cmd === 'gats') this.cas.set(k.toString('latin1'), it.cas);
        else if (it.cas !== 0n) return `${itemOutcome(it)} (get gave CAS unique ${it.cas})`;
        return itemOutcome(it);
      }
      case 'get_many': case 'gets_many': {
        const keys = args.map((_, i) => key(i));
        const hits = cmd === 'get_many' ? await this.call('getMany', keys, { items: true })
          : await this.call('getsMany', keys);
        const extra = [...hits.keys()].filter((k) => !keys.includes(k));
        const out = keys.map((k) => {
          const it = hits.get(k);
          if (!it) return 'MISS';
          if (cmd === 'gets_many') this.cas.set(k.toString('latin1'), it.cas);
          return itemOutcome(it);
        }).join(' ');
        return extra.length ? `${out} (${extra.length} hits for keys not asked for)` : out;
      }
      case 'set_many': {
        const pairs = args.map((a) => {
          const eq = a.indexOf('=');
          if (eq < 0) throw new Error(`line ${line.no}: set_many takes key=value, not \`${a}\``);
          return [decode(a.slice(0, eq), line.no), decode(a.slice(eq + 1), line.no)];
        });
        const failed = await this.call('setMany', pairs, opts);
        return `failed:${failed.map((k) => pairs.findIndex((p) => p[0] === k)).join(',')}`;
      }
      case 'delete': {
        need(line, 1);
        return (await this.call('delete', key(0), opts)) ? 'OK' : 'NOT_FOUND';
      }
      case 'delete_many':
        return String(await this.call('deleteMany', args.map((_, i) => key(i)), opts));
      case 'incr': case 'decr': {
        need(line, 2);
        if (!/^\+?[0-9]+$/.test(args[1])) throw new Error(`line ${line.no}: \`${args[1]}\` is not an unsigned integer`);
        const r = await this.call(cmd, key(0), BigInt(args[1]), opts);
        return r === undefined ? 'NONE' : r === null ? 'NOT_FOUND' : String(r);
      }
      case 'touch': {
        need(line, 2);
        return (await this.call('touch', key(0), int(line, args[1]), opts)) ? 'OK' : 'NOT_FOUND';
      }
      case 'flush_all':
        return (await this.call('flushAll', args.length ? int(line, args[0]) : 0, { noreply: false })) ? 'OK' : 'NOT OK';
      case 'sleep': {
        need(line, 1);
        await new Promise((r) => setTimeout(r, int(line, args[0])));
        return '';
      }
      default:
        throw new Error(`line ${line.no}: unknown command ${cmd} (the Node binding cannot run it)`);
    }
  }
}

/**
 * Run every case; makeClient() gives a client with an empty cache (or the
 * runner flushes it, flush: true). Returns {cases, lines, diffs}.
 */
async function runTable(file, { makeClient, flush, async }) {
  const table = parseTable(fs.readFileSync(file, 'utf8'));
  if (!table.length) throw new Error(`${file} holds no cases`);
  const diffs = [];
  let lines = 0;
  let client = makeClient();
  try {
    for (const cs of table) {
      if (flush) client.flushAll(0, { noreply: false });
      else {
        client.close();
        client = makeClient();
      }
      const runner = new Runner(client, async);
      for (const line of cs.lines) {
        const got = await runner.run(line);
        lines++;
        const want = normalize(line.expect, line.no);
        if (line.cmd !== 'sleep' && got !== want) {
          diffs.push(`${cs.name} line ${line.no}: \`${line.cmd} ${line.args.join(' ').slice(0, 120)}\` ` +
            `gave \`${got.slice(0, 200)}\`, table says \`${want.slice(0, 200)}\``);
        }
      }
    }
  } finally {
    client.close();
  }
  return { cases: table.length, lines, diffs };
}

module.exports = { runTable, parseTable, decode, encode, normalize };
