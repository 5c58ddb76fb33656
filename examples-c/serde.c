/*
 * serde.c: values shared with Python services.
 *
 * pymemcache stores Python values with flags that say what they are:
 * 0 bytes, 1 pickle, 2 int, 4 long, 8 zlib-compressed (added to the
 * others), 16 str. The typed helpers read and write those values from C:
 *  - pmc_set_text / pmc_get_text: str (flag 16);
 *  - pmc_set_int64 / pmc_get_int64: int (flag 2), and incr/decr counters;
 *  - pmc_get_json / pmc_set_json: anything, pickles of plain data as JSON
 *    (checked here against pickles made by Python's own pickle module);
 *  - pmc_options_set_compression: pymemcache's CompressedSerde (zlib);
 *  - pmc_options_set_serde + pmc_buffer_set: your own serializer.
 *
 * Usage: serde STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

static pmc_client *plain; /* no codecs: shows what is really stored */

/* Store raw bytes with flags, as a Python service would have. */
static void put_raw(const char *key, const void *data, size_t len, uint32_t flags) {
  CHECK_OK(pmc_set(plain, BYTES(key), data, len, flags, 0, PMC_REPLY_WAIT, NULL));
}

/* What is stored under `key`: bytes and flags (caller frees). */
static pmc_value raw(const char *key) {
  pmc_value v = {0};
  CHECK_OK(pmc_get(plain, BYTES(key), &v, NULL));
  return v;
}

/* JSON without the whitespace between tokens (the tests' JSON strings have
   no spaces inside string literals). */
static void squeeze(const char *in, char *out, size_t size) {
  size_t n = 0;
  for (; *in != '\0' && n + 1 < size; in++)
    if (*in != ' ' && *in != '\n' && *in != '\t' && *in != '\r')
      out[n++] = *in;
  out[n] = '\0';
}

static void expect_json(pmc_client *c, const char *key, const char *want) {
  char *json = NULL, got[512];
  CHECK_OK(pmc_get_json(c, BYTES(key), &json, NULL));
  squeeze(json, got, sizeof got);
  if (strcmp(got, want) != 0)
    FAIL("pmc_get_json(%s) is %s, expected %s", key, json, want);
  pmc_string_free(json);
}

/* ---- text and integers ------------------------------------------------------ */

static void text_values(pmc_client *c) {
  const char *cafe = "caf\xc3\xa9 au lait";
  pmc_value v = {0};

  /* A str: UTF-8 bytes with flag 16. */
  CHECK_OK(pmc_set_text(c, BYTES("t"), cafe, strlen(cafe), 0, PMC_REPLY_WAIT, NULL));
  v = raw("t");
  CHECK_VALUE_STR(&v, cafe);
  CHECK_UINT(v.flags, 16);
  pmc_value_free(&v);
  CHECK_OK(pmc_get_text(c, BYTES("t"), &v, NULL));
  CHECK_VALUE_STR(&v, cafe); /* NUL-terminated too */
  pmc_value_free(&v);
  expect_json(c, "t", "\"caf\xc3\xa9" "aulait\""); /* spaces squeezed */

  /* Only `len` bytes count; the empty text is text too. */
  CHECK_OK(pmc_set_text(c, BYTES("t2"), "abcdef", 3, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get_text(c, BYTES("t2"), &v, NULL));
  CHECK_VALUE_STR(&v, "abc");
  pmc_value_free(&v);
  CHECK_OK(pmc_set_text(c, BYTES("t3"), NULL, 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get_text(c, BYTES("t3"), &v, NULL));
  CHECK_VALUE(&v, "", 0);
  pmc_value_free(&v);

  /* Flag-0 bytes that are UTF-8 read as text; others do not. */
  put_raw("bytes-utf8", "plain", 5, 0);
  CHECK_OK(pmc_get_text(c, BYTES("bytes-utf8"), &v, NULL));
  CHECK_VALUE_STR(&v, "plain");
  pmc_value_free(&v);
  put_raw("bytes-bin", "\xff\xfe", 2, 0);
  CHECK_STATUS(pmc_get_text(c, BYTES("bytes-bin"), &v, NULL), PMC_NOT_TEXT);
  CHECK_LAST_ERROR(PMC_NOT_TEXT, NULL);
  CHECK(v.data == NULL);
  put_raw("an-int", "42", 2, 2);
  CHECK_STATUS(pmc_get_text(c, BYTES("an-int"), &v, NULL), PMC_NOT_TEXT);

  /* Text that is not UTF-8 is refused before anything is sent. */
  CHECK_STATUS(pmc_set_text(c, BYTES("t4"), "\xc3\x28", 2, 0, PMC_REPLY_WAIT, NULL),
               PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_get_text(c, BYTES("t4"), &v, NULL), PMC_MISS);
  CHECK_STATUS(pmc_set_text(c, BYTES("t4"), NULL, 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_text(c, BYTES("t4"), NULL, NULL), PMC_NULL_ARGUMENT);
}

static void integer_values(pmc_client *c) {
  static const int64_t samples[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
  int64_t n = 7;
  pmc_value v = {0};
  uint64_t counter = 0;

  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    char want[32];
    CHECK_OK(pmc_set_int64(c, BYTES("i"), samples[i], 0, PMC_REPLY_WAIT, NULL));
    v = raw("i"); /* decimal text, flag 2 */
    snprintf(want, sizeof want, "%lld", (long long)samples[i]);
    CHECK_VALUE_STR(&v, want);
    CHECK_UINT(v.flags, 2);
    pmc_value_free(&v);
    CHECK_OK(pmc_get_int64(c, BYTES("i"), &n, NULL));
    CHECK(n == samples[i]);
    expect_json(c, "i", want);
  }

  /* incr/decr counters are flag-0 decimal text: readable as integers. */
  CHECK_OK(pmc_set(c, BYTES("ctr"), BYTES("41"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_incr(c, BYTES("ctr"), 1, PMC_REPLY_WAIT, &counter, NULL));
  CHECK_OK(pmc_get_int64(c, BYTES("ctr"), &n, NULL));
  CHECK(n == 42);
  /* memcached pads a counter that a decr shortened with spaces ("9 "). */
  CHECK_OK(pmc_decr(c, BYTES("ctr"), 33, PMC_REPLY_WAIT, &counter, NULL));
  CHECK_OK(pmc_get_int64(c, BYTES("ctr"), &n, NULL));
  CHECK(n == 9);
  /* A Python 2 long (flag 4). */
  put_raw("long", "-17", 3, 4);
  CHECK_OK(pmc_get_int64(c, BYTES("long"), &n, NULL));
  CHECK(n == -17);

  /* Not integers, or too big for 64 bits (JSON reads any size). */
  n = 7;
  put_raw("word", "abc", 3, 0);
  CHECK_STATUS(pmc_get_int64(c, BYTES("word"), &n, NULL), PMC_NOT_INTEGER);
  put_raw("huge", "123456789012345678901234567890", 30, 2);
  CHECK_STATUS(pmc_get_int64(c, BYTES("huge"), &n, NULL), PMC_NOT_INTEGER);
  CHECK_LAST_ERROR(PMC_NOT_INTEGER, NULL);
  CHECK(n == 7); /* not written on failure */
  expect_json(c, "huge", "123456789012345678901234567890");
  CHECK_STATUS(pmc_get_int64(c, BYTES("no-such-int"), &n, NULL), PMC_MISS);
  CHECK_STATUS(pmc_get_int64(c, BYTES("i"), NULL, NULL), PMC_NULL_ARGUMENT);
}

/* ---- pickles and JSON ------------------------------------------------------------ */

/* Pickles made by Python 3's pickle.dumps(obj, protocol=5), as pymemcache
   stores them (flag 1), and the JSON each stands for. */
static const struct {
  const char *name;
  const char *pickle;
  size_t len;
  const char *json;
} pickles[] = {
    {"dict", "\x80\x05\x95\x25\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61\x94"
             "\x5d\x94\x28\x4b\x01\x47\x40\x04\x00\x00\x00\x00\x00\x00\x4e\x88\x65\x8c"
             "\x01\x62\x94\x8c\x04\x74\x65\x78\x74\x94\x75\x2e",
     48, "{\"a\":[1,2.5,null,true],\"b\":\"text\"}"},
    {"tuple", "\x80\x05\x95\x09\x00\x00\x00\x00\x00\x00\x00\x4b\x01\x8c\x01\x78\x94\x86"
              "\x94\x2e",
     20, "[1,\"x\"]"},
    {"set", "\x80\x05\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8f\x94\x28\x4b\x03\x90\x2e",
     18, "{\"$set\":[3]}"},
    {"pbytes", "\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00\x43\x02\x00\xff\x94\x2e",
     17, "{\"$bytes\":\"00ff\"}"},
    {"bigint", "\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x8a\x0a\xcb\x44\x42\x71\x76"
               "\x4e\xb6\x42\x9d\x02\x2e",
     24, "12345678901234567890123"},
};

static void json_values(pmc_client *c) {
  char *json = NULL;
  pmc_value v = {0};

  for (size_t i = 0; i < sizeof pickles / sizeof pickles[0]; i++) {
    put_raw(pickles[i].name, pickles[i].pickle, pickles[i].len, 1);
    expect_json(c, pickles[i].name, pickles[i].json);
  }
  /* Bytes (flag 0) read as {"$bytes": hex}. */
  put_raw("raw-bytes", "\x00\x01\xfe", 3, 0);
  expect_json(c, "raw-bytes", "{\"$bytes\":\"0001fe\"}");

  /* A pickle that is not plain data (here: os.system) is refused, never
     run; a truncated one and unknown flags are corrupt. */
  {
    static const char evil[] = "cos\nsystem\n(S'echo pwned'\ntR.";
    put_raw("evil", evil, sizeof evil - 1, 1);
  }
  CHECK_STATUS(pmc_get_json(c, BYTES("evil"), &json, NULL), PMC_UNSUPPORTED_PICKLE);
  CHECK_LAST_ERROR(PMC_UNSUPPORTED_PICKLE, NULL);
  put_raw("truncated", pickles[0].pickle, 20, 1);
  CHECK_STATUS(pmc_get_json(c, BYTES("truncated"), &json, NULL), PMC_CORRUPT_VALUE);
  put_raw("odd-flags", "x", 1, 64);
  CHECK_STATUS(pmc_get_json(c, BYTES("odd-flags"), &json, NULL), PMC_CORRUPT_VALUE);
  CHECK(json == NULL);
  CHECK_STATUS(pmc_get_json(c, BYTES("no-such-json"), &json, NULL), PMC_MISS);

  /* set_json stores what pymemcache would: str as text, int as int, bytes
     as bytes, the rest as a pickle - and reads back the same. */
  CHECK_OK(pmc_set_json(c, BYTES("j-str"), "\"hello\"", 0, PMC_REPLY_WAIT, NULL));
  v = raw("j-str");
  CHECK_VALUE_STR(&v, "hello");
  CHECK_UINT(v.flags, 16);
  pmc_value_free(&v);
  CHECK_OK(pmc_set_json(c, BYTES("j-int"), "-12", 0, PMC_REPLY_WAIT, NULL));
  v = raw("j-int");
  CHECK_VALUE_STR(&v, "-12");
  CHECK_UINT(v.flags, 2);
  pmc_value_free(&v);
  CHECK_OK(pmc_set_json(c, BYTES("j-bytes"), "{\"$bytes\":\"00ff\"}", 0, PMC_REPLY_WAIT, NULL));
  v = raw("j-bytes");
  CHECK_VALUE(&v, "\x00\xff", 2);
  CHECK_UINT(v.flags, 0);
  pmc_value_free(&v);
  for (size_t i = 0; i < 3; i++) { /* dict, list (from the tuple), set */
    char key[32];
    snprintf(key, sizeof key, "j-%s", pickles[i].name);
    CHECK_OK(pmc_set_json(c, BYTES(key), pickles[i].json, 0, PMC_REPLY_WAIT, NULL));
    v = raw(key);
    CHECK_UINT(v.flags, 1);
    CHECK(v.len > 2 && v.data[0] == 0x80 && v.data[v.len - 1] == '.'); /* PROTO ... STOP */
    pmc_value_free(&v);
    expect_json(c, key, pickles[i].json);
  }

  /* Not JSON, not UTF-8, NULL. */
  CHECK_STATUS(pmc_set_json(c, BYTES("j-bad"), "{nope", 0, PMC_REPLY_WAIT, NULL), PMC_CORRUPT_VALUE);
  CHECK_STATUS(pmc_set_json(c, BYTES("j-bad"), "\"\xff\"", 0, PMC_REPLY_WAIT, NULL),
               PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_set_json(c, BYTES("j-bad"), NULL, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_json(c, BYTES("j-bad"), &json, NULL), PMC_MISS);
  CHECK_STATUS(pmc_get_json(c, BYTES("j-str"), NULL, NULL), PMC_NULL_ARGUMENT);
}

/* ---- compression ------------------------------------------------------------------ */

/* Adler-32, the checksum at the end of a zlib stream. */
static uint32_t adler32(const uint8_t *p, size_t len) {
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < len; i++) {
    a = (a + p[i]) % 65521;
    b = (b + a) % 65521;
  }
  return b << 16 | a;
}

/* `v` is a zlib stream (RFC 1950) of `orig`: header and checksum agree. */
static void check_zlib(const pmc_value *v, const uint8_t *orig, size_t len) {
  uint32_t sum;
  CHECK(v->len > 6);
  CHECK((v->data[0] & 0x0f) == 8);                      /* deflate */
  CHECK(((unsigned)v->data[0] << 8 | v->data[1]) % 31 == 0); /* header check */
  sum = (uint32_t)v->data[v->len - 4] << 24 | (uint32_t)v->data[v->len - 3] << 16 |
        (uint32_t)v->data[v->len - 2] << 8 | v->data[v->len - 1];
  CHECK_UINT(sum, adler32(orig, len));
}

static pmc_client *client_with(const char *server, const char *ns, bool compress,
                               size_t min_len, pmc_serde_fn ser, pmc_serde_fn de,
                               void *userdata) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%s.%ld.", ns, (long)getpid());
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_compression(o, compress, min_len, NULL));
  CHECK_OK(pmc_options_set_serde(o, ser, de, userdata, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

static void compression(const char *server) {
  pmc_client *z = client_with(server, "serde", true, 100, NULL, NULL, NULL);
  pmc_client *unzip_only = client_with(server, "serde", true, 0, NULL, NULL, NULL);
  uint8_t text[1000], noise[1000];
  pmc_value v = {0};
  pmc_results *r = NULL;
  const uint8_t *keys[2] = {(const uint8_t *)"z-text", (const uint8_t *)"z-small"};
  size_t lens[2] = {6, 7};
  uint32_t seed = 1;

  for (size_t i = 0; i < sizeof text; i++) {
    text[i] = (uint8_t)"the quick brown fox "[i % 20];
    seed = seed * 1103515245u + 12345u;
    noise[i] = (uint8_t)(seed >> 16);
  }

  /* Long and compressible: stored as zlib with flag 8 added. */
  CHECK_OK(pmc_set(z, BYTES("z-text"), text, sizeof text, 16, 0, PMC_REPLY_WAIT, NULL));
  v = raw("z-text");
  CHECK_UINT(v.flags, 16 | 8);
  CHECK(v.len < sizeof text);
  check_zlib(&v, text, sizeof text);
  pmc_value_free(&v);
  CHECK_OK(pmc_get(z, BYTES("z-text"), &v, NULL));
  CHECK_VALUE(&v, text, sizeof text);
  CHECK_UINT(v.flags, 16); /* flag 8 removed */
  pmc_value_free(&v);
  /* The typed readers decompress on their own, on any client. */
  CHECK_OK(pmc_get_text(plain, BYTES("z-text"), &v, NULL));
  CHECK_VALUE(&v, text, sizeof text);
  pmc_value_free(&v);

  /* Short (<= min_compress_len), or not compressible: stored as is. */
  CHECK_OK(pmc_set(z, BYTES("z-small"), text, 100, 0, 0, PMC_REPLY_WAIT, NULL));
  v = raw("z-small");
  CHECK_UINT(v.flags, 0);
  CHECK_VALUE(&v, text, 100);
  pmc_value_free(&v);
  CHECK_OK(pmc_set(z, BYTES("z-noise"), noise, sizeof noise, 0, 0, PMC_REPLY_WAIT, NULL));
  v = raw("z-noise");
  CHECK_UINT(v.flags, 0);
  CHECK_VALUE(&v, noise, sizeof noise);
  pmc_value_free(&v);

  /* Multi-key reads decompress too. */
  CHECK_OK(pmc_get_many(z, keys, lens, 2, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 2);
  {
    pmc_item it;
    CHECK_OK(pmc_results_at(r, 0, &it, NULL));
    CHECK_MEM(it.value, it.value_len, text, sizeof text);
    CHECK_UINT(it.flags, 16);
  }
  pmc_results_free(r);

  /* min_compress_len 0: reads compressed values, writes plain ones. */
  CHECK_OK(pmc_get(unzip_only, BYTES("z-text"), &v, NULL));
  CHECK_VALUE(&v, text, sizeof text);
  pmc_value_free(&v);
  CHECK_OK(pmc_set(unzip_only, BYTES("z-plain"), text, sizeof text, 0, 0, PMC_REPLY_WAIT, NULL));
  v = raw("z-plain");
  CHECK_UINT(v.flags, 0);
  pmc_value_free(&v);

  /* A small stream that expands beyond max_value_len (100 000 zero bytes
     from 120, made by Python's zlib.compress) is refused, not inflated. */
  {
    static const char bomb[] =
        "\x78\x9c\xed\xc1\x31\x01\x00\x00\x00\xc2\xa0\xf5\x4f\x6d\x0d\x0f\xa0\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x80\x57\x03\x86\xaf\x00\x01";
    pmc_options *o = pmc_options_new();
    pmc_client *small = NULL;
    char prefix[64];
    pmc_status st;
    snprintf(prefix, sizeof prefix, "serde.%ld.", (long)getpid());
    CHECK_OK(pmc_options_add_server(o, server, NULL));
    CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
    CHECK_OK(pmc_options_set_compression(o, true, 400, NULL));
    CHECK_OK(pmc_options_set_max_value_len(o, 1000, NULL));
    CHECK_OK(pmc_client_new(o, &small, NULL));
    pmc_options_free(o);
    put_raw("z-bomb", bomb, sizeof bomb - 1, 8);
    st = pmc_get(small, BYTES("z-bomb"), &v, NULL);
    if (st != PMC_CORRUPT_VALUE && st != PMC_TOO_LARGE)
      FAIL("a zlib stream expanding past max_value_len gave %s", pmc_status_str(st));
    CHECK(v.data == NULL);
    /* Within the limit it is an ordinary value. */
    CHECK_OK(pmc_get(z, BYTES("z-bomb"), &v, NULL));
    CHECK_UINT(v.len, 100000);
    CHECK(v.data[0] == 0 && v.data[99999] == 0);
    pmc_value_free(&v);
    pmc_client_free(small);
  }

  /* A flag-8 value that is not zlib is corrupt, not a crash. */
  put_raw("z-bad", "not zlib at all", 15, 8);
  CHECK_STATUS(pmc_get(z, BYTES("z-bad"), &v, NULL), PMC_CORRUPT_VALUE);
  CHECK_LAST_ERROR(PMC_CORRUPT_VALUE, NULL);
  CHECK_STATUS(pmc_get_text(plain, BYTES("z-bad"), &v, NULL), PMC_CORRUPT_VALUE);
  CHECK(v.data == NULL);

  CHECK_STATUS(pmc_options_set_compression(NULL, true, 1, NULL), PMC_NULL_ARGUMENT);
  pmc_client_free(unzip_only);
  pmc_client_free(z);
}

/* ---- your own serializer ----------------------------------------------------------- */

typedef struct calls {
  pthread_mutex_t lock;
  int serialized, deserialized;
  char last_key[64];
} calls;

/* Store values reversed, with flag 0x100 added. Keys arrive as the caller
   gave them (no prefix). Values whose key starts with "refuse" fail;
   values whose key starts with "keep" are left alone. */
static pmc_status reverse_out(void *userdata, const uint8_t *key, size_t key_len,
                              const uint8_t *value, size_t len, uint32_t flags,
                              pmc_buffer *out) {
  calls *n = userdata;
  uint8_t buf[256];
  pthread_mutex_lock(&n->lock);
  n->serialized++;
  snprintf(n->last_key, sizeof n->last_key, "%.*s", (int)key_len, (const char *)key);
  pthread_mutex_unlock(&n->lock);
  if (key_len >= 6 && memcmp(key, "refuse", 6) == 0)
    return PMC_INVALID_ARGUMENT; /* any status but PMC_OK fails the command */
  if (key_len >= 4 && memcmp(key, "keep", 4) == 0)
    return PMC_OK;
  if (len > sizeof buf)
    return PMC_TOO_LARGE;
  for (size_t i = 0; i < len; i++)
    buf[i] = value[len - 1 - i];
  return pmc_buffer_set(out, buf, len, flags | 0x100, NULL);
}

static pmc_status reverse_in(void *userdata, const uint8_t *key, size_t key_len,
                             const uint8_t *value, size_t len, uint32_t flags,
                             pmc_buffer *out) {
  calls *n = userdata;
  uint8_t buf[256];
  (void)key;
  (void)key_len;
  pthread_mutex_lock(&n->lock);
  n->deserialized++;
  pthread_mutex_unlock(&n->lock);
  if ((flags & 0x100) == 0)
    return PMC_OK; /* not ours: leave it */
  if (len > sizeof buf)
    return PMC_TOO_LARGE;
  for (size_t i = 0; i < len; i++)
    buf[i] = value[len - 1 - i];
  /* The buffer functions check their arguments like everything else. */
  if (pmc_buffer_set(NULL, buf, len, 0, NULL) != PMC_NULL_ARGUMENT ||
      pmc_buffer_set(out, NULL, 1, 0, NULL) != PMC_NULL_ARGUMENT)
    return PMC_PANIC;
  return pmc_buffer_set(out, buf, len, flags & ~0x100u, NULL);
}

static void callbacks(const char *server) {
  calls n;
  pmc_client *c;
  pmc_value v = {0};
  const uint8_t *keys[2] = {(const uint8_t *)"cb-1", (const uint8_t *)"cb-2"};
  const uint8_t *vals[2] = {(const uint8_t *)"first", (const uint8_t *)"second"};
  size_t kl[2] = {4, 4}, vl[2] = {5, 6};
  pmc_results *r = NULL;

  memset(&n, 0, sizeof n);
  pthread_mutex_init(&n.lock, NULL);
  c = client_with(server, "serde", false, 0, reverse_out, reverse_in, &n);

  CHECK_OK(pmc_set(c, BYTES("cb"), BYTES("hello"), 3, 0, PMC_REPLY_WAIT, NULL));
  CHECK_UINT(n.serialized, 1);
  CHECK_STR(n.last_key, "cb"); /* without the key prefix */
  v = raw("cb");
  CHECK_VALUE_STR(&v, "olleh");
  CHECK_UINT(v.flags, 3 | 0x100);
  pmc_value_free(&v);
  CHECK_OK(pmc_get(c, BYTES("cb"), &v, NULL));
  CHECK_VALUE_STR(&v, "hello");
  CHECK_UINT(v.flags, 3);
  pmc_value_free(&v);
  CHECK_UINT(n.deserialized, 1);

  /* Every command that carries values: batches too. */
  CHECK_OK(pmc_set_many(c, keys, kl, vals, vl, 2, 0, 0, PMC_REPLY_WAIT, NULL, NULL, NULL));
  CHECK_UINT(n.serialized, 3);
  CHECK_OK(pmc_get_many(c, keys, kl, 2, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 2);
  for (size_t i = 0; i < 2; i++) {
    pmc_item it;
    CHECK_OK(pmc_results_at(r, i, &it, NULL));
    CHECK_MEM(it.value, it.value_len, vals[i], vl[i]);
  }
  pmc_results_free(r);
  CHECK_UINT(n.deserialized, 3);

  /* Not calling pmc_buffer_set leaves the value as it was. */
  CHECK_OK(pmc_set(c, BYTES("keep-me"), BYTES("as is"), 0, 0, PMC_REPLY_WAIT, NULL));
  v = raw("keep-me");
  CHECK_VALUE_STR(&v, "as is");
  CHECK_UINT(v.flags, 0);
  pmc_value_free(&v);

  /* A failing callback fails the command, and nothing is stored. */
  CHECK_STATUS(pmc_set(c, BYTES("refuse-me"), BYTES("x"), 0, 0, PMC_REPLY_WAIT, NULL),
               PMC_SERDE_CALLBACK);
  CHECK_LAST_ERROR(PMC_SERDE_CALLBACK, "serialize");
  CHECK_STATUS(pmc_get(plain, BYTES("refuse-me"), &v, NULL), PMC_MISS);
  put_raw("big", "x", 1, 0x100); /* ours, and fine */
  CHECK_OK(pmc_get(c, BYTES("big"), &v, NULL));
  pmc_value_free(&v);
  {
    uint8_t long_value[300];
    memset(long_value, 'l', sizeof long_value);
    put_raw("too-long", long_value, sizeof long_value, 0x100);
    CHECK_STATUS(pmc_get(c, BYTES("too-long"), &v, NULL), PMC_SERDE_CALLBACK);
    CHECK_LAST_ERROR(PMC_SERDE_CALLBACK, "deserialize");
  }

  /* Removing the callbacks (both NULL) gives a plain client again. */
  pmc_client_free(c);
  c = client_with(server, "serde", false, 0, NULL, NULL, NULL);
  CHECK_OK(pmc_get(c, BYTES("cb"), &v, NULL));
  CHECK_VALUE_STR(&v, "olleh");
  pmc_value_free(&v);
  pmc_client_free(c);
  CHECK_STATUS(pmc_options_set_serde(NULL, reverse_out, reverse_in, &n, NULL), PMC_NULL_ARGUMENT);
  pthread_mutex_destroy(&n.lock);
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c;
  test_env_load(&env, argc, argv);
  plain = test_client(env.server, "serde");
  c = test_client(env.server, "serde");

  text_values(c);
  integer_values(c);
  json_values(c);
  compression(env.server);
  callbacks(env.server);

  pmc_client_free(c);
  pmc_client_free(plain);
  puts("serde: ok");
  return 0;
}
