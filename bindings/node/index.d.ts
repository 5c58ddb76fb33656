// Types of the pymemcache package (index.js), written by hand.
// test/types.test.js checks that every method and export is declared, and
// bindings/run-tests.sh compiles test/types-consumer.ts against this file.

/// <reference types="node" />

/** A key: a string is text (ASCII unless allowUnicodeKeys, then UTF-8); a Buffer or Uint8Array is bytes. */
export type Key = string | Buffer | Uint8Array;
/** A value: a string is stored as its UTF-8 bytes. */
export type Value = string | Buffer | Uint8Array;

/** A value with its flags and CAS unique (0n unless read with gets, gats, getsMany). */
export interface Item {
  value: Buffer;
  flags: number;
  cas: bigint;
}

/** Per-call reply mode: absent follows the client's `noreply` option (as pymemcache's noreply=None). */
export interface ReplyOptions {
  /** true: send with noreply and do not wait; false: wait for the server's reply. */
  noreply?: boolean;
}

export interface StoreOptions extends ReplyOptions {
  /** The item's flags (uint32). Default 0. */
  flags?: number;
  /** Seconds from now (up to 30 days), a unix time, 0 never, negative at once. Default 0. */
  expire?: number;
}

export interface ExpireOptions extends ReplyOptions {
  expire?: number;
}

/** Called with the key, the value and its flags; return the new value and flags, or undefined to keep them. */
export type SerdeFunction = (key: Buffer, value: Buffer, flags: number) =>
  { value: Value; flags?: number } | undefined | null;

export interface ClientOptions {
  /** Connect timeout in milliseconds. */
  connectTimeout?: number;
  /** Timeout of each read or write in milliseconds. */
  timeout?: number;
  /** One limit on a whole call in milliseconds (0 or absent: none); past it the call fails with TIMEOUT. */
  deadline?: number;
  noDelay?: boolean;
  keepalive?: boolean;
  /** Hide network and server errors as pymemcache's ignore_exc does (misses, false). */
  ignoreExc?: boolean;
  /** Keep per-server metrics (default true). */
  metrics?: boolean;
  /** The default reply mode of set, add, replace, append, prepend, delete, touch, flushAll. Default false (unlike pymemcache). */
  noreply?: boolean;
  /** Accept non-ASCII string keys, sent as UTF-8. */
  allowUnicodeKeys?: boolean;
  /** Refuse values longer than this many bytes (TOO_LARGE). */
  maxValueLen?: number;
  /** A pool of connections (PooledClient): concurrent async calls run in parallel. */
  usePooling?: boolean;
  /**
   * Where the per-key *Async methods (get, getItem, gets, gat, gatItem, gats, getMany, getsMany,
   * set, add, replace, append, prepend, cas, setMany, delete, deleteMany, incr, decr, touch and
   * the *Multi aliases; noreply calls too) and Batch#executeAsync run: 'auto' (default: the event
   * loop through the native addon when the client's options allow it, else worker threads),
   * 'addon' (the event loop, or the constructor throws), 'worker' (koffi worker threads).
   */
  asyncEngine?: 'auto' | 'addon' | 'worker';
  maxPoolSize?: number;
  /** Milliseconds to wait for a free pooled connection. */
  poolTimeout?: number;
  /** Close pooled connections idle longer than this many milliseconds (0: never). */
  poolIdleTimeout?: number;
  /** An in-memory mock client (pymemcache's MockMemcacheClient); servers are ignored. */
  mock?: boolean;
  /** A HashClient even with one server. Two or more servers always make one. */
  useHashClient?: boolean;
  /** HashClient: failures before a server is marked dead. */
  retryAttempts?: number;
  /** HashClient: milliseconds between those attempts. */
  retryTimeout?: number;
  /** HashClient: milliseconds a dead server stays out before it is tried again. */
  deadTimeout?: number;
  /** How the fleet's Python services pass keys to HashClient: 'text' (default) or 'python_bytes'. */
  hashKeyForm?: 'text' | 'python_bytes';
  /**
   * HashClient: mcrouter-style failure tracking instead of retryAttempts /
   * deadTimeout: soft-down after `threshold` consecutive failures (its keys
   * fail fast, or with `fallback` go to their next server); probed after
   * `initialBackoff` ms, doubling to `maxBackoff` ms. true: 3, 1000, 30000.
   */
  failureTracking?: boolean | { threshold?: number; initialBackoff?: number; maxBackoff?: number; fallback?: boolean };
  /** Prepended to every key. */
  keyPrefix?: Value;
  /** zlib-compress values (flag 8) as pymemcache's CompressedSerde; minLength default 400 bytes. */
  compression?: boolean | { minLength?: number };
  /**
   * Single and pooled clients: after a failed connect, connects to that server fail at once
   * for a window of `initial` ms, doubling per failure up to `max` (default on: 10 and 1000);
   * 0 or false turns it off (every call connects, as pymemcache).
   */
  reconnectBackoff?: false | 0 | true | { initial?: number; max?: number };
  /**
   * TLS on TCP connections (memcached -Z): true trusts the system's store;
   * an object maps pymemcache's tls_context. Failures throw TlsError.
   */
  tls?: boolean | TlsOptions;
  /** memcached ASCII authentication (-Y); a wrong password throws AuthError. */
  auth?: { username: string; password: string };
  /** Your own serializer, run on every value stored and read. A throw fails the command with SERDE_CALLBACK. */
  serde?: { serialize?: SerdeFunction; deserialize?: SerdeFunction };
}

export interface TlsOptions {
  /** PEM CA certificates to trust (cafile=). */
  caFile?: string;
  /** A directory of PEM CA certificates (capath=). */
  caDir?: string;
  /** Trust the system's store too (load_default_certs()). */
  systemRoots?: boolean;
  /** Client certificate chain and key (PEM) for mutual TLS (load_cert_chain). */
  clientCert?: string;
  clientKey?: string;
  /** Name for SNI and the certificate check; default: the address's host. */
  serverName?: string;
  /** "1.2" (default) or "1.3". */
  minVersion?: '1.2' | '1.3';
  /** Accept any certificate. Tests only: never in production. */
  insecureNoVerifyTestingOnly?: boolean;
}

export interface RetryOptions {
  /** Tries per command, at least 1. Default 2. */
  attempts?: number;
  /** Milliseconds between tries. Default 0. */
  retryDelay?: number;
  /** Status codes to retry (empty: every error). */
  retryFor?: number[];
  /** Status codes never retried. */
  doNotRetryFor?: number[];
}

/** One server's metrics at one moment. */
export interface ServerMetrics {
  server: string;
  requests: number;
  hits: number;
  misses: number;
  timeouts: number;
  connectionErrors: number;
  serverErrors: number;
  protocolErrors: number;
  bytesSent: number;
  bytesReceived: number;
  connectionsOpened: number;
  inUse: number;
  peakInUse: number;
  stateChanges: number;
  /** 0 up, 1 failing, 2 dead, 3 soft-down. */
  state: number;
  latencyCount: number;
  latencySumUs: number;
  latencyMaxUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

export interface PoolStats {
  inUse: number;
  free: number;
  created: number;
  destroyed: number;
}

/** Where getOrLock leaves the caller (PMC_LEASE_*). */
export type LeaseState = 'hit' | 'stale' | 'miss_won' | 'stale_won' | 'miss_busy';

/** The lease states as constants. */
export const Lease: Readonly<{
  HIT: 'hit'; STALE: 'stale'; MISS_WON: 'miss_won'; STALE_WON: 'stale_won'; MISS_BUSY: 'miss_busy';
}>;

/** getOrLock's result: value is null for 'miss_won' and 'miss_busy'. */
export interface LockResult {
  lease: LeaseState;
  value: Buffer | null;
  flags: number;
  cas: bigint;
}

/** The result of one command of a batch. */
export interface BatchResult {
  /** Status.OK, MISS, NOT_STORED, EXISTS, NOT_FOUND, or the command's error status. */
  status: number;
  /** e.g. "PMC_NOT_STORED". */
  statusName: string;
  /** The value read (reads, getOrLock, incr/decr's new value as text, meta with v); empty if none. */
  value: Buffer;
  flags: number;
  /** The CAS unique (gets, gat, getOrLock), else 0n. */
  cas: bigint;
  /** The counter after incr/decr, else 0n. */
  number: bigint;
  /** Seconds left (getOrLock; -1: never expires), else 0. */
  ttl: number;
  /** getOrLock's state, else null. */
  lease: LeaseState | null;
  /** Meta commands: "HD", "VA", "EN", "NF", "NS", "EX"; else "". */
  code: string;
  /** Meta commands: the return flags as sent, e.g. "f5 t-1 c42". */
  metaFlags: string;
  /** For an error status: the error (not thrown), with the library's message; else null. */
  error: PymemcacheError | null;
}

/**
 * Commands run together over memcached's meta protocol: one write and one read
 * pass per server, each command with its own result in the order queued. The
 * queue methods return the command's position. Free with free() (or close()).
 */
export class Batch {
  constructor(options?: { allowUnicodeKeys?: boolean });
  readonly size: number;
  readonly freed: boolean;
  free(): void;
  close(): void;
  clear(): this;
  get(key: Key): number;
  gets(key: Key): number;
  gat(key: Key, expire?: number): number;
  touch(key: Key, expire?: number): number;
  set(key: Key, value: Value, opts?: { flags?: number; expire?: number }): number;
  add(key: Key, value: Value, opts?: { flags?: number; expire?: number }): number;
  replace(key: Key, value: Value, opts?: { flags?: number; expire?: number }): number;
  append(key: Key, value: Value): number;
  prepend(key: Key, value: Value): number;
  cas(key: Key, value: Value, cas: bigint | number, opts?: { flags?: number; expire?: number }): number;
  delete(key: Key): number;
  incr(key: Key, delta?: bigint | number): number;
  decr(key: Key, delta?: bigint | number): number;
  getOrLock(key: Key, lockTtl: number, recacheBelow?: number): number;
  invalidate(key: Key, staleTtl: number): number;
  /** A generic meta command: "mg", "ms", "md" or "ma", its flag tokens (not O or q), and the value of "ms". */
  meta(command: 'mg' | 'ms' | 'md' | 'ma' | string, key: Key, flags?: string[] | string, value?: Value): number;
  execute(client: Client): BatchResult[];
  executeAsync(client: Client): Promise<BatchResult[]>;
}

/** The commands; Client has each as a sync method and as `nameAsync` returning a Promise. */
interface Commands<R extends 'sync' | 'async'> {
  /** The value, or null on a miss. */
  get(key: Key): Ret<R, Buffer | null>;
  /** {value, flags, cas: 0n}, or null on a miss. */
  getItem(key: Key): Ret<R, Item | null>;
  /** The item with its CAS unique, or null. */
  gets(key: Key): Ret<R, Item | null>;
  /** get and touch: the value, or null. */
  gat(key: Key, expire?: number): Ret<R, Buffer | null>;
  gatItem(key: Key, expire?: number): Ret<R, Item | null>;
  /** gets and touch: the item with its CAS unique, or null. */
  gats(key: Key, expire?: number): Ret<R, Item | null>;
  /** The hits, keyed by the keys as given (strings, or the very Buffer objects). */
  getMany(keys: Iterable<Key>, opts?: { items?: false }): Ret<R, Map<Key, Buffer>>;
  getMany(keys: Iterable<Key>, opts: { items: true }): Ret<R, Map<Key, Item>>;
  getMulti(keys: Iterable<Key>, opts?: { items?: false }): Ret<R, Map<Key, Buffer>>;
  getMulti(keys: Iterable<Key>, opts: { items: true }): Ret<R, Map<Key, Item>>;
  /** The hits with their CAS uniques. */
  getsMany(keys: Iterable<Key>): Ret<R, Map<Key, Item>>;
  /** true (set always stores, or was not waited for). */
  set(key: Key, value: Value, opts?: StoreOptions): Ret<R, boolean>;
  /** true if stored, false if not (add: the key exists; replace/append/prepend: it does not). */
  add(key: Key, value: Value, opts?: StoreOptions): Ret<R, boolean>;
  replace(key: Key, value: Value, opts?: StoreOptions): Ret<R, boolean>;
  append(key: Key, value: Value, opts?: StoreOptions): Ret<R, boolean>;
  prepend(key: Key, value: Value, opts?: StoreOptions): Ret<R, boolean>;
  /** true (stored), false (changed since gets), null (no such key). Waits for the reply unless noreply. */
  cas(key: Key, value: Value, cas: bigint | number, opts?: StoreOptions): Ret<R, boolean | null>;
  /** The keys (as given) that were not stored. */
  setMany(items: Map<Key, Value> | Array<[Key, Value]> | Record<string, Value>, opts?: StoreOptions): Ret<R, Key[]>;
  setMulti(items: Map<Key, Value> | Array<[Key, Value]> | Record<string, Value>, opts?: StoreOptions): Ret<R, Key[]>;
  /** true if the key existed (or noreply), false if not. */
  delete(key: Key, opts?: ReplyOptions): Ret<R, boolean>;
  /** How many of the keys existed. */
  deleteMany(keys: Iterable<Key>, opts?: ReplyOptions): Ret<R, number>;
  deleteMulti(keys: Iterable<Key>, opts?: ReplyOptions): Ret<R, number>;
  /** The new value, null if there is no such key, undefined with noreply. Waits unless noreply. */
  incr(key: Key, delta?: bigint | number, opts?: ReplyOptions): Ret<R, bigint | null | undefined>;
  decr(key: Key, delta?: bigint | number, opts?: ReplyOptions): Ret<R, bigint | null | undefined>;
  /** A new expiry: true if the key existed (or noreply), false if not. */
  touch(key: Key, expire?: number, opts?: ReplyOptions): Ret<R, boolean>;
  /** server => (stat name => value), for the stats arguments given (e.g. 'settings', 'items'). */
  stats(...args: string[]): Ret<R, Map<string, Map<string, string>>>;
  /** The first stat of that name, or null. */
  stat(name: string, ...args: string[]): Ret<R, string | null>;
  /** The server's version. */
  version(): Ret<R, string>;
  flushAll(delay?: number, opts?: ReplyOptions): Ret<R, boolean>;
  /** Set the server's memory limit in megabytes. */
  cacheMemlimit(megabytes: bigint | number): Ret<R, boolean>;
  /** Send one command line and read the reply up to endToken (default "\r\n", not included). */
  rawCommand(command: Value, endToken?: Value): Ret<R, Buffer>;
  /** Stop the server (memcached must run with -A). */
  shutdown(graceful?: boolean): Ret<R, void>;
  /** Send quit and close the connection; the next command reconnects. */
  quit(): Ret<R, void>;
  /** Close the connections (pymemcache's close()); the next command reconnects. The handle stays. */
  closeConnections(): Ret<R, void>;
  poolStats(): Ret<R, PoolStats>;
  /** Every server's metrics (empty with `metrics: false`). */
  metrics(): Ret<R, ServerMetrics[]>;
  /** Every server's metrics in Prometheus text exposition format. */
  metricsPrometheus(): Ret<R, string>;
  /** Zero every server's counters. */
  metricsReset(): Ret<R, void>;
  /** Close the pooled connections waiting in the pool. */
  poolClear(): Ret<R, void>;
  /** HashClient: add a server to the ring. */
  addServer(server: string): Ret<R, void>;
  removeServer(server: string): Ret<R, void>;
  /** The server a key is placed on ("host:port" or socket path); connects to nothing. */
  serverForKey(key: Key): Ret<R, string>;
  /** HashClient with failureTracking: a server's state and counters. */
  nodeState(server: string): Ret<R, NodeHealth>;
  /** Store text as pymemcache stores a str (flag 16). */
  setText(key: Key, text: string, opts?: ExpireOptions): Ret<R, boolean>;
  /** Text (a pymemcache str, or UTF-8 bytes), or null; ValueError (NOT_TEXT) for other types. */
  getText(key: Key): Ret<R, string | null>;
  /** Store an integer as pymemcache stores an int (flag 2). */
  setInt(key: Key, value: bigint | number, opts?: ExpireOptions): Ret<R, boolean>;
  /** The integer, or null; ValueError (NOT_INTEGER) for other types. */
  getInt(key: Key): Ret<R, bigint | null>;
  /** Store a JSON-able value as pymemcache's pickle serde stores the Python object. */
  setJson(key: Key, value: unknown, opts?: ExpireOptions): Ret<R, boolean>;
  /** Any value a pymemcache service stored, as JSON data; undefined on a miss. */
  getJson(key: Key): Ret<R, unknown>;
  /**
   * Stampede control (memcached's meta get with a lock): on a miss exactly one
   * caller gets 'miss_won' (compute and set the value; a placeholder lives
   * lockTtl seconds) and the others 'miss_busy'; after invalidate one gets
   * 'stale_won' and the others 'stale', both with the old value.
   * recacheBelow > 0 also lets one caller win while the item has fewer
   * seconds left than that.
   */
  getOrLock(key: Key, lockTtl: number, recacheBelow?: number): Ret<R, LockResult>;
  /** Mark the key stale for staleTtl seconds: true, or false if there is no such key. */
  invalidate(key: Key, staleTtl: number): Ret<R, boolean>;
}

type Ret<R, T> = R extends 'async' ? Promise<T> : T;
type AsyncCommands = { [K in keyof Commands<'async'> as `${K & string}Async`]: Commands<'async'>[K] };

export interface Client extends Commands<'sync'>, AsyncCommands {}

export class Client {
  /** servers: "host:port" / socket path, or an array (two or more make a hash client). */
  constructor(servers: string | string[] | null, options?: ClientOptions);
  /** An in-memory mock client. */
  static mock(options?: ClientOptions): Client;
  /** pymemcache's FallbackClient; on success it owns the clients (they close). */
  static fallback(clients: Iterable<Client>): Client;
  /** pymemcache's RetryingClient; on success it owns `client` (it closes). */
  static retrying(client: Client, options?: RetryOptions): Client;
  /** Free the handle once the calls in flight finish; later calls throw ClosedError. */
  close(): void;
  readonly closed: boolean;
  /**
   * 'addon': the per-key *Async methods (noreply too) and Batch#executeAsync run on the event
   * loop; server-wide ones (stats, version, flushAll, ...) stay on worker threads. 'worker': all
   * on worker threads.
   */
  readonly asyncEngine: 'addon' | 'worker';
  /** Why this client's async calls run on worker threads; null on the addon. */
  readonly asyncEngineReason: string | null;
}

export const KEY_FORMS: Readonly<{ text: 0; python_bytes: 1 }>;

export const Status: Readonly<{
  OK: 0; MISS: 1; NOT_STORED: 2; EXISTS: 3; NOT_FOUND: 4;
  NULL_ARGUMENT: 10; INVALID_ARGUMENT: 11; ILLEGAL_INPUT: 12; CONFIG_ERROR: 13; TOO_LARGE: 14;
  TIMEOUT: 20; IO_ERROR: 21; UNEXPECTED_CLOSE: 22; POOL_EXHAUSTED: 23; NO_SERVERS: 24;
  TLS_ERROR: 25; AUTH_ERROR: 26;
  UNKNOWN_COMMAND: 30; CLIENT_ERROR: 31; SERVER_ERROR: 32; UNKNOWN_ERROR: 33;
  NOT_TEXT: 40; NOT_INTEGER: 41; UNSUPPORTED_PICKLE: 42; CORRUPT_VALUE: 43; SERDE_CALLBACK: 44;
  PANIC: 90;
}>;

/** The name of a status code, e.g. "PMC_IO_ERROR". */
export function statusName(status: number): string;
/** The version of the loaded C library. */
export function libraryVersion(): string;
/** Where the C library was loaded from. */
export const libraryPath: string;

/** An error status of the library, with its message of that call. */
export class PymemcacheError extends Error {
  readonly status: number;
  readonly statusName: string;
}
export class InvalidArgumentError extends PymemcacheError {}
/** A key or argument refused before anything was sent. */
export class IllegalInputError extends PymemcacheError {}
export class ConfigError extends PymemcacheError {}
export class TooLargeError extends PymemcacheError {}
export class ConnectionError extends PymemcacheError {}
export class TimeoutError extends ConnectionError {}
export class TlsError extends ConnectionError {}
export class AuthError extends ConnectionError {}
export class ServerError extends PymemcacheError {}
export class ClientError extends PymemcacheError {}
/** A value of another type than asked for (NOT_TEXT, NOT_INTEGER), or one that cannot be decoded. */
export class ValueError extends PymemcacheError {}
/** A call on a closed client, or on one moved into a fallback or retrying client. */
export class ClosedError extends Error {}

/** A server's failure tracking state (Client.nodeState). */
export interface NodeHealth {
  state: 'up' | 'soft_down' | 'probing';
  consecutiveFailures: number;
  timeouts: number;
  refusals: number;
}
