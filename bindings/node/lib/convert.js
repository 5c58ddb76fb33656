'use strict';

// Converting keys, values and reply modes between JS and the C surface.

const { koffi, C } = require('./ffi');
const { Status, IllegalInputError } = require('./errors');

// The binding's messages for a text key it refuses, in the library's form.
const NON_ASCII_KEY =
  'PMC_ILLEGAL_INPUT: illegal input: key contains non-ASCII characters and allow_unicode_keys is off';
const NOT_TEXT_KEY =
  'PMC_ILLEGAL_INPUT: illegal input: key is not valid Unicode text (a lone surrogate; pass a Buffer to send bytes)';
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * [buffer, length] for a value or bytes key (string as UTF-8, Buffer,
 * Uint8Array); the buffer has at least one byte so the pointer is never NULL.
 */
function bytes(value, what) {
  let buf;
  if (Buffer.isBuffer(value)) buf = value;
  else if (typeof value === 'string') buf = Buffer.from(value, 'utf8');
  else if (value instanceof Uint8Array) buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  else throw new TypeError(`${what} must be a string, Buffer or Uint8Array`);
  return [buf.length ? buf : Buffer.alloc(1), buf.length];
}

/**
 * [buffer, length] for a key, as pymemcache takes keys: the one key check of
 * the binding. A Buffer or Uint8Array is bytes and goes as it is; a string
 * is text, ASCII only unless allowUnicode, then sent as UTF-8. ASCII strings
 * encode to as many bytes as they have UTF-16 units and every other string
 * to more, so the check is one comparison.
 */
function keyBytes(op, key, allowUnicode) {
  if (typeof key !== 'string') return bytes(key, 'key');
  const buf = Buffer.from(key, 'utf8');
  if (buf.length !== key.length) {
    if (!allowUnicode) throw new IllegalInputError(`${op}: ${NON_ASCII_KEY}`, Status.ILLEGAL_INPUT);
    // UTF-8 cannot carry a lone surrogate (Buffer.from would send U+FFFD).
    if (LONE_SURROGATE.test(key)) throw new IllegalInputError(`${op}: ${NOT_TEXT_KEY}`, Status.ILLEGAL_INPUT);
  }
  return [buf.length ? buf : Buffer.alloc(1), buf.length];
}

/** pmc_reply of a call's noreply option: absent -> the client's default. */
function replyMode(noreply) {
  if (noreply === undefined || noreply === null) return 0; // PMC_REPLY_DEFAULT
  return noreply ? 2 : 1; // PMC_REPLY_NONE : PMC_REPLY_WAIT
}

/** A Buffer copied from len bytes at the library's pointer. */
function copyOut(ptr, len) {
  if (!ptr || !len) return Buffer.alloc(0);
  return Buffer.from(new Uint8Array(koffi.view(ptr, Number(len))));
}

/** Copy a pmc_value into JS ({value, flags, cas}) and free the library's bytes. */
function takeValue(v) {
  try {
    return { value: copyOut(v.data, v.len), flags: v.flags, cas: BigInt(v.cas) };
  } finally {
    C.value_free(v);
  }
}

/** Copy a string the library allocated (char *) and free it. */
function takeString(ptr) {
  if (!ptr) return null;
  try {
    return koffi.decode(ptr, 'char', -1);
  } finally {
    C.string_free(ptr);
  }
}

/** A milliseconds option as uint32 (rounded up, clamped). */
function ms(value) {
  return Math.min(Math.max(Math.ceil(Number(value)), 0), 0xffffffff);
}

module.exports = { bytes, keyBytes, replyMode, copyOut, takeValue, takeString, ms };
