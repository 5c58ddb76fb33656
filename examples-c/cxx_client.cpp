// cxx_client.cpp: include/pymemcache.hpp, the C++17 interface, against the
// fixture's memcached servers (and private ones, fake ones, refusing and
// silent sockets from test_util).
//
// Every command of the wrapper is called and its result checked: round
// trips, misses as std::nullopt, each soft outcome, binary values with NUL
// bytes, exceptions with the right class, status and message, move
// semantics, multi-key commands, the serde helpers and Serde objects, the
// client kinds (pooled, hash, mock, fallback, retrying). Run plain and
// under valgrind, which must find no leak on any of these paths, including
// the ones that throw.
//
// Usage: cxx_client STATE_DIR
#include "pymemcache.hpp"

#include "test_util.h"

#include <poll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using pymemcache::bytes_view;
using pymemcache::CasResult;
using pymemcache::Client;
using pymemcache::Options;
using pymemcache::Reply;
using pymemcache::Value;

// ---- checks -------------------------------------------------------------------

static unsigned long checks = 0;
// The line of the last check that passed, for an unexpected exception's
// report (the call that threw comes after it).
static int last_line = 0;

[[noreturn]] static void fail(const char *file, int line, const std::string &what) {
  std::fprintf(stderr, "%s:%d: %s\n", file, line, what.c_str());
  std::fflush(stderr);
  std::exit(1);
}

static void check(bool ok, const char *what, const char *file, int line) {
  checks++;
  last_line = line;
  if (!ok) fail(file, line, std::string("check failed: ") + what);
}

// Printable form of a value for a failure message (bytes escaped).
static std::string show(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char ch = static_cast<unsigned char>(c);
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
      out += static_cast<char>(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    }
  }
  return out + "\"";
}
static std::string show(const std::string &s) { return show(std::string_view(s)); }
static std::string show(const char *s) { return show(std::string_view(s)); }
template <class T>
static std::string show(const T &v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
template <class T>
static std::string show(const std::optional<T> &v) {
  return v ? show(*v) : std::string("std::nullopt");
}
static std::string show(CasResult r) {
  switch (r) {
    case CasResult::Stored: return "Stored";
    case CasResult::Exists: return "Exists";
    case CasResult::NotFound: return "NotFound";
  }
  return "?";
}

template <class A, class B>
static void check_eq(const A &got, const B &want, const char *what, const char *file, int line) {
  checks++;
  last_line = line;
  if (!(got == want))
    fail(file, line, std::string(what) + " is " + show(got) + ", expected " + show(want));
}

#define EXPECT(cond) check(static_cast<bool>(cond), #cond, __FILE__, __LINE__)
#define EXPECT_EQ(got, want) check_eq((got), (want), #got, __FILE__, __LINE__)

// The error has the expected status, its message starts with the status
// name (as the library's messages do) and contains `needle` (if not null),
// and it is the message pmc_last_error_message() gave for the failing call.
static void check_error(const pymemcache::Error &e, pmc_status status, const char *needle,
                        const char *expr, const char *file, int line) {
  checks++;
  last_line = line;
  std::string msg = e.what();
  if (e.status() != status)
    fail(file, line, std::string(expr) + " threw " + e.status_name() + " (" + msg +
                         "), expected " + pymemcache::status_name(status));
  if (std::strcmp(e.status_name(), pymemcache::status_name(status)) != 0)
    fail(file, line, std::string(expr) + ": status_name() is " + e.status_name());
  if (msg.rfind(pymemcache::status_name(status), 0) != 0)
    fail(file, line, std::string(expr) + ": message " + show(msg) + " does not start with " +
                         pymemcache::status_name(status));
  if (needle != nullptr && msg.find(needle) == std::string::npos)
    fail(file, line, std::string(expr) + ": message " + show(msg) + " does not contain " +
                         show(needle));
}

// `expr` throws `Type` (or a subclass) with `status` and a message holding
// `needle`; anything else (no exception, another class) fails the test.
#define EXPECT_THROWS(expr, Type, status, needle)                                          \
  do {                                                                                    \
    bool thrown_ = false;                                                                 \
    try {                                                                                 \
      (void)(expr);                                                                       \
    } catch (const Type &e_) {                                                            \
      thrown_ = true;                                                                     \
      check_error(e_, (status), (needle), #expr, __FILE__, __LINE__);                     \
    } catch (const std::exception &e_) {                                                  \
      fail(__FILE__, __LINE__,                                                            \
           std::string(#expr " threw another exception than " #Type ": ") + e_.what());   \
    }                                                                                     \
    if (!thrown_) fail(__FILE__, __LINE__, #expr " did not throw " #Type);                \
  } while (0)

// ---- helpers --------------------------------------------------------------------

static std::string prefix() { return "cxx." + std::to_string(getpid()) + "."; }

// A client for `server` with this process's key prefix, waiting for every
// reply unless told otherwise.
static Client client_for(const std::string &server, bool default_noreply = false) {
  return Client(Options()
                    .add_server(server)
                    .key_prefix(prefix())
                    .default_noreply(default_noreply)
                    .timeout(5s)
                    .connect_timeout(5s)
                    .no_delay()
                    .keepalive());
}

// ---- commands -------------------------------------------------------------------

static void versions() {
  EXPECT_EQ(std::string(pymemcache::library_version()), PMC_VERSION_STRING);
  EXPECT_EQ(std::string(pymemcache::status_name(PMC_MISS)), "PMC_MISS");
  EXPECT_EQ(pymemcache::flags::text, 16u);
  EXPECT_EQ(pymemcache::flags::compressed, 8u);
}

static void round_trips(const test_env &env) {
  Client c = client_for(env.server);

  EXPECT(c);
  EXPECT(c.set("k1", "v1"));
  std::optional<Value> v = c.get("k1");
  EXPECT(v.has_value());
  EXPECT_EQ(v->data, "v1");
  EXPECT_EQ(v->view(), std::string_view("v1"));
  EXPECT_EQ(v->flags, 0u);
  EXPECT_EQ(v->cas, 0u);

  // Flags are stored with the item.
  EXPECT(c.set("flagged", "x", 0, Reply::Wait, 42));
  EXPECT_EQ(c.get("flagged")->flags, 42u);

  // Misses.
  EXPECT(!c.get("absent").has_value());
  EXPECT(!c.gets("absent").has_value());
  EXPECT(!c.gat("absent", 100).has_value());
  EXPECT(!c.gats("absent", 100).has_value());

  // add: only if absent.
  EXPECT(!c.add("k1", "other"));
  EXPECT(c.add("added", "a"));
  EXPECT_EQ(c.get("added")->data, "a");
  EXPECT_EQ(c.get("k1")->data, "v1");

  // replace: only if present.
  EXPECT(!c.replace("absent", "r"));
  EXPECT(!c.get("absent"));
  EXPECT(c.replace("k1", "v2"));
  EXPECT_EQ(c.get("k1")->data, "v2");

  // append/prepend: only if present.
  EXPECT(!c.append("absent", "x"));
  EXPECT(!c.prepend("absent", "x"));
  EXPECT(c.append("k1", "-post"));
  EXPECT(c.prepend("k1", "pre-"));
  EXPECT_EQ(c.get("k1")->data, "pre-v2-post");

  // gets / cas: stored, then the same CAS unique is stale, then no item.
  std::optional<Value> g = c.gets("k1");
  EXPECT(g && g->cas != 0);
  EXPECT_EQ(c.cas("k1", "swapped", g->cas), CasResult::Stored);
  EXPECT_EQ(c.get("k1")->data, "swapped");
  EXPECT_EQ(c.cas("k1", "stale", g->cas), CasResult::Exists);
  EXPECT_EQ(c.get("k1")->data, "swapped");
  EXPECT_EQ(c.cas("absent", "x", 1), CasResult::NotFound);
  EXPECT(!c.get("absent"));

  // gat / gats: the value, with the CAS unique for gats.
  std::optional<Value> after = c.gets("k1");
  EXPECT_EQ(c.gat("k1", 300)->data, "swapped");
  std::optional<Value> gs = c.gats("k1", 300);
  EXPECT(gs.has_value());
  EXPECT_EQ(gs->data, "swapped");
  EXPECT_EQ(gs->cas, after->cas);

  // touch: true for an item, false for none.
  EXPECT(c.touch("k1", 300));
  EXPECT(!c.touch("absent", 300));

  // delete: true, then false.
  EXPECT(c.delete_("added"));
  EXPECT(!c.get("added"));
  EXPECT(!c.delete_("added"));

  // incr / decr.
  EXPECT(c.set("n", "10"));
  EXPECT_EQ(c.incr("n", 5), std::optional<std::uint64_t>(15));
  EXPECT_EQ(c.decr("n", 20), std::optional<std::uint64_t>(0));  // floors at 0
  EXPECT(!c.incr("absent", 1).has_value());
  EXPECT(!c.decr("absent", 1).has_value());
  EXPECT(!c.incr("n", 7, Reply::NoReply).has_value());  // as pymemcache: None
  EXPECT_EQ(c.incr("n", 0), std::optional<std::uint64_t>(7));  // it was applied
  // Wraps at 2^64. (The stored counter stays below 2^63: memcached reads a
  // counter of 2^63 or more with strchr, which runs past the value into the
  // slab and may call it non-numeric.)
  EXPECT(c.set("max", "9223372036854775807"));
  EXPECT_EQ(c.incr("max", 9223372036854775809ull), std::optional<std::uint64_t>(0));
  EXPECT(c.set("word", "abc"));
  EXPECT_THROWS(c.incr("word", 1), pymemcache::ServerError, PMC_CLIENT_ERROR, "non-numeric");
  EXPECT_THROWS(c.decr("word", 1), pymemcache::ServerError, PMC_CLIENT_ERROR, env.server);
  EXPECT_EQ(c.get("word")->data, "abc");  // the client goes on

  // Expiry: a negative expire time expires the item at once.
  EXPECT(c.set("gone", "x", -1));
  EXPECT(!c.get("gone"));

  // version.
  if (env.version[0] != '\0') EXPECT_EQ(c.version(), env.version);
  EXPECT(!c.version().empty());
}

// Reply modes under default_noreply on (pymemcache's default): storage
// commands and delete do not wait unless asked to, so their soft outcomes
// read as success.
static void reply_modes(const test_env &env) {
  Client c = client_for(env.server, true);
  EXPECT(c.set("rm", "1"));  // noreply
  EXPECT_EQ(c.get("rm")->data, "1");
  EXPECT(c.add("rm", "2"));  // not stored, but not known
  EXPECT(!c.add("rm", "2", 0, Reply::Wait));
  EXPECT(c.replace("rm-absent", "x"));
  EXPECT(!c.replace("rm-absent", "x", 0, Reply::Wait));
  EXPECT(c.delete_("rm-absent"));
  EXPECT(!c.delete_("rm-absent", Reply::Wait));
  // touch follows default_noreply too (pymemcache's touch(noreply=None)).
  EXPECT(c.touch("rm-absent"));
  EXPECT(!c.touch("rm-absent", 0, Reply::Wait));
  // cas, incr and decr wait by default.
  EXPECT_EQ(c.cas("rm-absent", "x", 1), CasResult::NotFound);
  EXPECT(!c.incr("rm-absent", 1));
  EXPECT_EQ(c.cas("rm-absent", "x", 1, 0, Reply::NoReply), CasResult::Stored);
  EXPECT(c.touch("rm-absent", 0, Reply::NoReply));
  EXPECT_EQ(c.get("rm")->data, "1");
}

static void binary_values(const test_env &env) {
  Client c = client_for(env.server);

  // NUL bytes and the protocol's own delimiters inside a value.
  const std::string tricky("a\0b\r\nEND\r\n\0", 12);
  EXPECT(c.set("nul", tricky));
  std::optional<Value> v = c.get("nul");
  EXPECT(v.has_value());
  EXPECT_EQ(v->data.size(), 12u);
  EXPECT_EQ(v->data, tricky);

  // Every byte value, from a std::vector<std::uint8_t>.
  std::vector<std::uint8_t> all(256);
  for (std::size_t i = 0; i < all.size(); i++) all[i] = static_cast<std::uint8_t>(i);
  EXPECT(c.set("all-bytes", all));
  v = c.get("all-bytes");
  EXPECT(v && v->data.size() == 256);
  EXPECT(std::memcmp(v->data.data(), all.data(), 256) == 0);

  // std::array of std::byte, std::vector<char>, and raw memory.
  std::array<std::byte, 3> bytes{std::byte{0}, std::byte{0xff}, std::byte{0}};
  EXPECT(c.set("std-byte", bytes));
  EXPECT_EQ(c.get("std-byte")->data, std::string("\0\xff\0", 3));
  std::vector<char> chars{'x', '\0', 'y'};
  EXPECT(c.set("chars", chars));
  EXPECT_EQ(c.get("chars")->data, std::string("x\0y", 3));
  const double pi = 3.14159;
  EXPECT(c.set("raw", bytes_view(&pi, sizeof pi)));
  v = c.get("raw");
  double back = 0;
  EXPECT(v && v->data.size() == sizeof back);
  std::memcpy(&back, v->data.data(), sizeof back);
  EXPECT_EQ(back, pi);

  // Keys that are not NUL-terminated: a view into a longer buffer.
  const char buffer[] = "keyABCDEF";
  EXPECT(c.set(std::string_view(buffer, 3), "three"));
  EXPECT_EQ(c.get("key")->data, "three");
  EXPECT(c.set(bytes_view(buffer, 4), "four"));
  EXPECT_EQ(c.get("keyA")->data, "four");

  // An empty value is a hit with no bytes, not a miss.
  EXPECT(c.set("empty", ""));
  v = c.get("empty");
  EXPECT(v.has_value());
  EXPECT(v->data.empty());
  EXPECT(c.set("empty-view", bytes_view()));
  EXPECT(c.get("empty-view").has_value());

  // A large value (900 KiB, under the fixture's 1 MiB item size).
  std::string big(900 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>(i * 7 % 251);
  EXPECT(c.set("big", big));
  EXPECT(c.get("big")->data == big);
}

// ---- errors ---------------------------------------------------------------------

static void errors(const test_env &env) {
  Client c = client_for(env.server);

  // Illegal keys: refused before anything is sent, by every keyed command.
  EXPECT_THROWS(c.get("bad key"), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  EXPECT_THROWS(c.set("bad key", "v"), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  EXPECT_THROWS(c.set("bad\nkey", "v", 0, Reply::NoReply), pymemcache::CallerError,
               PMC_ILLEGAL_INPUT, nullptr);
  EXPECT_THROWS(c.get_many({"fine", "bad key"}), pymemcache::CallerError, PMC_ILLEGAL_INPUT,
               nullptr);
  EXPECT_THROWS(c.delete_("bad key"), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  EXPECT_THROWS(c.incr("bad key", 1), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  // The empty key is illegal without a prefix; with one it is the prefix.
  EXPECT(!c.get(""));
  EXPECT_THROWS(Client(env.server).get(""), pymemcache::CallerError, PMC_ILLEGAL_INPUT,
               "empty");
  EXPECT_THROWS(c.get(std::string(251, 'k')), pymemcache::CallerError, PMC_ILLEGAL_INPUT,
               "too long");
  EXPECT_THROWS(c.get("tab\tkey"), pymemcache::CallerError, PMC_ILLEGAL_INPUT, "whitespace");

  // The exception carries the message of its own call, read right after
  // it: the same text pmc_last_error_message() still holds.
  try {
    (void)c.get("bad key");
    fail(__FILE__, __LINE__, "no exception");
  } catch (const pymemcache::Error &e) {
    EXPECT_EQ(std::string(e.what()), std::string(pmc_last_error_message()));
    EXPECT(dynamic_cast<const pymemcache::CallerError *>(&e) != nullptr);
    EXPECT(dynamic_cast<const pymemcache::NetworkError *>(&e) == nullptr);
    // A later failure does not change the message of this exception.
    std::string before = e.what();
    EXPECT_THROWS(c.incr("word-missing bad", 1), pymemcache::CallerError, PMC_ILLEGAL_INPUT,
                 nullptr);
    EXPECT_EQ(std::string(e.what()), before);
  }

  // Keys are bytes, as pymemcache's bytes keys: UTF-8 and control bytes are
  // stored with or without allow_unicode_keys (it applies to text keys).
  Client u(Options().add_server(env.server).key_prefix(prefix()).allow_unicode_keys());
  EXPECT(c.set("clé", "unicode", 0, Reply::Wait));
  EXPECT_EQ(u.get("clé")->data, "unicode");
  EXPECT(u.set("ctl\x01key", "control", 0, Reply::Wait));
  EXPECT_EQ(c.get("ctl\x01key")->data, "control");

  // Options that do not make a client.
  EXPECT_THROWS(Client(Options()), pymemcache::CallerError, PMC_CONFIG_ERROR, "no server");
  EXPECT_THROWS(Options().add_server("not an address"), pymemcache::CallerError,
               PMC_CONFIG_ERROR, nullptr);
  EXPECT_THROWS(Options().add_server(std::string_view("127.0.0.1:1\0x", 13)),
               pymemcache::CallerError, PMC_INVALID_ARGUMENT, "NUL");
  EXPECT_THROWS(Options().timeout(-1ms), pymemcache::CallerError, PMC_INVALID_ARGUMENT,
               "timeout");
  EXPECT_THROWS(Options().tls_min_version("1.1"), pymemcache::CallerError,
                PMC_INVALID_ARGUMENT, "1.3");
  EXPECT_THROWS(Options().tls_server_name("not a name"), pymemcache::CallerError,
                PMC_CONFIG_ERROR, "server name");
  EXPECT_THROWS(Options().auth("a user", "pw"), pymemcache::CallerError, PMC_CONFIG_ERROR,
                "username");
  EXPECT_THROWS(Client(Options().add_server(env.server).tls_ca_file("/nonexistent/ca.pem")),
                pymemcache::NetworkError, PMC_TLS_ERROR, "nonexistent");
  {
    // Every TLS setter, then TLS off again: a plaintext client that works.
    Client plain(Options()
                     .add_server(env.server)
                     .tls_ca_dir("/nonexistent")
                     .tls_system_roots()
                     .tls_client_cert("/nonexistent/c.pem", "/nonexistent/c.key")
                     .tls_server_name("localhost")
                     .tls_insecure_no_verify_testing_only()
                     .auth("user", "pw")
                     .tls(false));
    (void)plain.version();
  }
  EXPECT_THROWS(Options().key_prefix("bad prefix"), pymemcache::CallerError, PMC_CONFIG_ERROR,
               nullptr);
  EXPECT_THROWS(Client(Options().add_server(env.server).add_server(env.server)),
               pymemcache::CallerError, PMC_CONFIG_ERROR, env.server);

  // max_value_len: refused before sending.
  Client small(Options().add_server(env.server).key_prefix(prefix()).max_value_len(100));
  EXPECT(small.set("small", std::string(100, 's'), 0, Reply::Wait));
  EXPECT_THROWS(small.set("small", std::string(101, 's'), 0, Reply::Wait),
               pymemcache::CallerError, PMC_TOO_LARGE, "101");

  // Server errors: an item over the server's 1 MiB, an unknown command.
  EXPECT_THROWS(c.set("huge", std::string(2 * 1024 * 1024, 'h')), pymemcache::ServerError,
               PMC_SERVER_ERROR, "too large");
  EXPECT_THROWS(c.raw_command("no_such_command"), pymemcache::ServerError, PMC_UNKNOWN_COMMAND,
               nullptr);
  EXPECT_THROWS(c.raw_command("get a\rb"), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  EXPECT(c.set("after-errors", "fine"));  // still fine after all that
  EXPECT_EQ(c.get("after-errors")->data, "fine");

  // Serde helpers: values of the wrong type.
  EXPECT(c.set("not-int", "12a"));
  EXPECT_THROWS(c.get_int64("not-int"), pymemcache::ValueError, PMC_NOT_INTEGER, nullptr);
  EXPECT_THROWS(c.set_json("j", "{not json"), pymemcache::ValueError, PMC_CORRUPT_VALUE,
               nullptr);
  EXPECT_THROWS(c.set_text("t", "\xff\xfe"), pymemcache::CallerError, PMC_INVALID_ARGUMENT,
               nullptr);
  EXPECT_THROWS(c.set_json("j", std::string_view("1\0", 2)), pymemcache::CallerError,
               PMC_INVALID_ARGUMENT, "NUL");
}

static void network_errors() {
  char addr[64];

  // A refused connection: NetworkError (not a timeout), naming the server.
  int fd = test_socket_refusing(addr, sizeof addr);
  Client c(Options().add_server(addr));
  EXPECT_THROWS(c.get("k"), pymemcache::NetworkError, PMC_IO_ERROR, addr);
  EXPECT_THROWS(c.set("k", "v", 0, Reply::NoReply), pymemcache::NetworkError, PMC_IO_ERROR,
               addr);
  EXPECT_THROWS(c.version(), pymemcache::Error, PMC_IO_ERROR, addr);
  try {
    (void)c.get("k");
  } catch (const pymemcache::TimeoutError &) {
    fail(__FILE__, __LINE__, "a refused connection is not a timeout");
  } catch (const pymemcache::NetworkError &e) {
    EXPECT_EQ(e.status(), PMC_IO_ERROR);
  }

  // Reconnect backoff: inside the window the same error comes back at once,
  // saying so; with the backoff off, every call tries to connect.
  Client paused(Options().add_server(addr).reconnect_backoff(60000ms, 60000ms));
  EXPECT_THROWS(paused.get("k"), pymemcache::NetworkError, PMC_IO_ERROR, addr);
  EXPECT_THROWS(paused.get("k"), pymemcache::NetworkError, PMC_IO_ERROR, "reconnect backoff");
  Client eager(Options().add_server(addr).reconnect_backoff(0ms, 0ms));
  EXPECT_THROWS(eager.get("k"), pymemcache::NetworkError, PMC_IO_ERROR, addr);
  try {
    (void)eager.get("k");
  } catch (const pymemcache::NetworkError &e) {
    EXPECT(std::string(e.what()).find("backoff") == std::string::npos);
  }
  EXPECT_THROWS(Options().reconnect_backoff(100ms, 10ms), pymemcache::CallerError,
               PMC_INVALID_ARGUMENT, "below");

  // ignore_exc: retrievals read as misses; other commands still throw.
  Client quiet(Options().add_server(addr).ignore_exc());
  EXPECT(!quiet.get("k").has_value());
  EXPECT(quiet.get_many({"a", "b"}).empty());
  EXPECT_THROWS(quiet.set("k", "v", 0, Reply::Wait), pymemcache::NetworkError, PMC_IO_ERROR,
               addr);
  EXPECT_THROWS(quiet.get("bad key"), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  close(fd);

  // A server that never answers: TimeoutError, also a NetworkError.
  fd = test_socket_silent(addr, sizeof addr, 8);
  Client slow(Options().add_server(addr).timeout(100ms));
  long long t0 = test_now_ms();
  EXPECT_THROWS(slow.get("k"), pymemcache::TimeoutError, PMC_TIMEOUT, addr);
  EXPECT(test_now_ms() - t0 >= 90);
  EXPECT_THROWS(slow.get("k"), pymemcache::NetworkError, PMC_TIMEOUT, nullptr);
  // The deadline ends the whole call, well before a long socket timeout.
  Client bounded(Options().add_server(addr).timeout(5000ms).deadline(150ms));
  t0 = test_now_ms();
  EXPECT_THROWS(bounded.get("k"), pymemcache::TimeoutError, PMC_TIMEOUT, "deadline");
  long long took = test_now_ms() - t0;
  EXPECT(took >= 140 && took < 2000);
  close(fd);
}

// ---- handles --------------------------------------------------------------------

static void moves(const test_env &env) {
  Client a = client_for(env.server);
  EXPECT(a.set("moved", "yes"));

  // Move construction: the new one works, the old one is empty, throws
  // CallerError for commands, and is destroyed safely.
  Client b(std::move(a));
  EXPECT(!a);  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT(b);
  EXPECT(a.native_handle() == nullptr);
  EXPECT_EQ(b.get("moved")->data, "yes");
  EXPECT_THROWS(a.get("moved"), pymemcache::CallerError, PMC_NULL_ARGUMENT, nullptr);
  EXPECT_THROWS(a.set("moved", "no"), pymemcache::CallerError, PMC_NULL_ARGUMENT, nullptr);

  // Move assignment releases the target's client; assigning to a moved-from
  // client revives it.
  Client c = client_for(env.socket);
  c = std::move(b);
  EXPECT(!b);
  EXPECT_EQ(c.get("moved")->data, "yes");
  a = std::move(c);
  EXPECT(a);
  EXPECT_EQ(a.get("moved")->data, "yes");
  Client &alias = a;
  a = std::move(alias);  // self-move keeps the client
  EXPECT(a);
  EXPECT_EQ(a.get("moved")->data, "yes");

  // Clients in a vector survive its reallocations.
  std::vector<Client> many;
  for (int i = 0; i < 5; i++) many.push_back(client_for(i % 2 ? env.server : env.socket));
  for (Client &m : many) EXPECT(m.set("in-vector", "v"));

  // A chain of setters on a temporary moves into a variable.
  Options chained = Options().add_server(env.server).key_prefix(prefix()).default_noreply(false);
  EXPECT(chained.native_handle() != nullptr);
  Client from_chain(chained);
  EXPECT(from_chain.set("chained", "c"));
  EXPECT_EQ(a.get("chained")->data, "c");

  // Options, Results and Stats move the same way.
  Options o1;
  o1.add_server(env.server);
  Options o2(std::move(o1));
  EXPECT(o1.native_handle() == nullptr);
  EXPECT_THROWS(o1.add_server(env.server), pymemcache::CallerError, PMC_NULL_ARGUMENT, nullptr);
  Client from_moved_options(o2);
  EXPECT(from_moved_options.version().size() > 0);
  EXPECT_THROWS(Client(o1), pymemcache::CallerError, PMC_NULL_ARGUMENT, nullptr);

  pymemcache::Results r1 = a.get_many({"moved", "absent"});
  EXPECT_EQ(r1.size(), 1u);
  pymemcache::Results r2(std::move(r1));
  EXPECT_EQ(r1.size(), 0u);
  EXPECT(r1.begin() == r1.end());
  EXPECT_EQ(r2[0].value, std::string_view("yes"));
  r1 = std::move(r2);
  EXPECT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1.at(0).key, std::string_view("moved"));

  pymemcache::Stats s1 = a.stats();
  std::size_t n = s1.size();
  EXPECT(n > 0);
  pymemcache::Stats s2(std::move(s1));
  EXPECT_EQ(s1.size(), 0u);
  EXPECT_EQ(s2.size(), n);

  // An exception thrown while Results and values are alive releases them
  // (valgrind checks that nothing leaks on this path).
  try {
    pymemcache::Results live = a.get_many({"moved"});
    std::optional<Value> v = a.get("moved");
    EXPECT(v && live.size() == 1);
    (void)a.get("bad key");
    fail(__FILE__, __LINE__, "no exception");
  } catch (const pymemcache::CallerError &e) {
    EXPECT_EQ(e.status(), PMC_ILLEGAL_INPUT);
  }
}

// ---- many keys ------------------------------------------------------------------

static void multi(const test_env &env) {
  Client c = client_for(env.server);

  EXPECT(c.set_many({{"m1", "one"}, {"m2", "two"}, {"m3", std::string_view("t\0ree", 5)}}, 0,
                   Reply::Wait)
            .empty());
  std::map<std::string, std::string> more{{"m4", "four"}, {"m5", "five"}};
  EXPECT(c.set_many(more, 0, Reply::Wait, 3).empty());
  EXPECT_EQ(c.get("m4")->flags, 3u);
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> bin{{"m6", {0, 1, 2}}};
  EXPECT(c.set_many(bin).empty());  // default_noreply off: waits

  // Hits in request order, misses left out, with their request index.
  pymemcache::Results r = c.get_many({"m1", "missing", "m3", "m2"});
  EXPECT_EQ(r.size(), 3u);
  EXPECT(!r.empty());
  EXPECT_EQ(r[0].index, 0u);
  EXPECT_EQ(r[0].key, std::string_view("m1"));
  EXPECT_EQ(r[0].value, std::string_view("one"));
  EXPECT_EQ(r[1].index, 2u);
  EXPECT_EQ(r[1].key, std::string_view("m3"));
  EXPECT_EQ(r[1].value, std::string_view("t\0ree", 5));
  EXPECT_EQ(r[2].index, 3u);
  EXPECT_EQ(r[2].to_value().data, "two");
  EXPECT_EQ(r[2].cas, 0u);
  EXPECT(!r.find("missing").has_value());
  EXPECT_EQ(r.find("m2")->value, std::string_view("two"));
  std::size_t seen = 0;
  for (pymemcache::Item it : r) {
    EXPECT(it.index >= seen);
    seen++;
  }
  EXPECT_EQ(seen, 3u);
  bool out_of_range = false;
  try {
    (void)r.at(3);
  } catch (const std::out_of_range &) {
    out_of_range = true;
  }
  EXPECT(out_of_range);
  auto m = r.to_map();
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.at("m3").data, std::string("t\0ree", 5));

  // Any range of keys: std::vector<std::string>, std::array of views.
  std::vector<std::string> keys{"m4", "m5", "m6", "nope"};
  pymemcache::Results r2 = c.gets_many(keys);
  EXPECT_EQ(r2.size(), 3u);
  for (pymemcache::Item it : r2) {
    EXPECT(it.cas != 0);
    EXPECT_EQ(it.cas, c.gets(it.key)->cas);
  }
  EXPECT_EQ(r2[0].flags, 3u);
  EXPECT_EQ(r2[2].value, std::string_view("\0\1\2", 3));
  std::array<std::string_view, 2> views{"m1", "m2"};
  EXPECT_EQ(c.get_many(views).size(), 2u);
  EXPECT(c.get_many(std::vector<std::string>{}).empty());

  // delete_many: how many existed.
  EXPECT_EQ(c.delete_many({"m1", "m2", "nope"}, Reply::Wait), 2u);
  EXPECT_EQ(c.delete_many(keys, Reply::Wait), 3u);
  EXPECT(c.get_many({"m1", "m2", "m4"}).empty());

  // set_many's failed keys come from a fake server that refuses keys
  // containing "fail".
  fake_server fake;
  fake_server_start(&fake, FAKE_STORE);
  {
    Client f(Options().add_server(fake.addr));
    std::vector<std::string> failed = f.set_many(
        {{"ok1", "v"}, {"fail1", "v"}, {"ok2", "v"}, {"fail2", "v"}}, 0, Reply::Wait);
    EXPECT_EQ(failed.size(), 2u);
    EXPECT_EQ(failed.at(0), "fail1");
    EXPECT_EQ(failed.at(1), "fail2");
    EXPECT(!f.set("fail3", "v", 0, Reply::Wait));  // NOT_STORED to a plain set
    EXPECT(f.set("ok3", "v", 0, Reply::Wait));
  }
  fake_server_stop(&fake);
}

// ---- values shared with Python ----------------------------------------------------

// Reverses values on the way out (adding flag 0x100) and back on the way in;
// keys starting with "refuse" make it throw.
class Reverse : public pymemcache::Serde {
 public:
  mutable std::atomic<int> calls{0};

  void serialize(std::string_view key, std::string_view value, std::uint32_t flags,
                 pymemcache::SerdeOutput &out) const override {
    calls++;
    if (key.rfind("refuse", 0) == 0) throw std::runtime_error("refusing " + std::string(key));
    out.set(std::string(value.rbegin(), value.rend()), flags | 0x100);
  }
  void deserialize(std::string_view, std::string_view value, std::uint32_t flags,
                   pymemcache::SerdeOutput &out) const override {
    calls++;
    if ((flags & 0x100) == 0) return;  // not ours: as it is
    out.set(std::string(value.rbegin(), value.rend()), flags & ~0x100u);
  }
};

static void serde(const test_env &env) {
  Client c = client_for(env.server);

  // Text (flag 16), integers (flag 2), JSON.
  EXPECT(c.set_text("text", "Zoë"));
  EXPECT_EQ(c.get_text("text"), std::optional<std::string>("Zoë"));
  EXPECT_EQ(c.get("text")->flags, pymemcache::flags::text);
  EXPECT(!c.get_text("absent").has_value());
  EXPECT(c.set_int64("int", -42));
  EXPECT_EQ(c.get_int64("int"), std::optional<std::int64_t>(-42));
  EXPECT_EQ(c.get("int")->flags, pymemcache::flags::integer);
  EXPECT(!c.get_int64("absent").has_value());
  EXPECT_THROWS(c.get_text("int"), pymemcache::ValueError, PMC_NOT_TEXT, nullptr);
  EXPECT(c.set("counter", "5"));
  EXPECT_EQ(c.incr("counter", 2), std::optional<std::uint64_t>(7));
  EXPECT_EQ(c.get_int64("counter"), std::optional<std::int64_t>(7));
  EXPECT(c.set_json("json", "[1,2,3]"));
  EXPECT_EQ(c.get("json")->flags, pymemcache::flags::pickle);
  EXPECT_EQ(c.get_json("json"), std::optional<std::string>("[1,2,3]"));
  EXPECT(c.set_json("json-str", "\"hi\""));
  EXPECT_EQ(c.get_text("json-str"), std::optional<std::string>("hi"));
  EXPECT_EQ(c.get_json("text"), std::optional<std::string>("\"Zoë\""));
  EXPECT_EQ(c.get_json("int"), std::optional<std::string>("-42"));
  EXPECT(!c.get_json("absent").has_value());

  // Compression: long values are stored compressed with flag 8 and read
  // back as they were.
  Client z(Options().add_server(env.server).key_prefix(prefix()).compression(true, 100));
  const std::string long_value(1000, 'z');
  EXPECT(z.set("zipped", long_value, 0, Reply::Wait));
  std::optional<Value> stored = c.get("zipped");
  EXPECT(stored && (stored->flags & pymemcache::flags::compressed) != 0);
  EXPECT(stored->data.size() < long_value.size());
  std::optional<Value> unzipped = z.get("zipped");
  EXPECT(unzipped && unzipped->data == long_value && unzipped->flags == 0);

  // A Serde object: the client keeps it alive after the options are gone.
  auto reverse = std::make_shared<Reverse>();
  std::weak_ptr<Reverse> watch = reverse;
  {
    std::optional<Client> s;
    {
      Options o;
      o.add_server(env.server).key_prefix(prefix()).default_noreply(false).serde(reverse);
      s.emplace(o);
    }
    reverse.reset();
    EXPECT(!watch.expired());
    EXPECT(s->set("cb", "hello", 0, Reply::Wait, 3));
    std::optional<Value> raw = c.get("cb");
    EXPECT_EQ(raw->data, "olleh");
    EXPECT_EQ(raw->flags, 3u | 0x100u);
    std::optional<Value> back = s->get("cb");
    EXPECT_EQ(back->data, "hello");
    EXPECT_EQ(back->flags, 3u);
    EXPECT(s->set_many({{"cb1", "ab"}, {"cb2", "cd"}}).empty());
    pymemcache::Results r = s->get_many({"cb1", "cb2"});
    EXPECT_EQ(r.size(), 2u);
    EXPECT_EQ(r[1].value, std::string_view("cd"));
    EXPECT_EQ(c.get("cb2")->data, "dc");

    // A Serde that throws fails the command with a ValueError whose nested
    // exception is the one it threw; nothing is stored.
    bool caught = false;
    try {
      s->set("refuse-me", "x");
      fail(__FILE__, __LINE__, "no exception");
    } catch (const pymemcache::ValueError &e) {
      check_error(e, PMC_SERDE_CALLBACK, "refusing refuse-me", "set(refuse-me)", __FILE__,
                  __LINE__);
      try {
        std::rethrow_if_nested(e);
      } catch (const std::runtime_error &inner) {
        caught = std::string(inner.what()) == "refusing refuse-me";
      }
    }
    EXPECT(caught);
    EXPECT(!c.get("refuse-me").has_value());
    EXPECT_EQ(s->get("cb")->data, "hello");  // and the client goes on

    // A retrying client made from it keeps the Serde too.
    Client wrapped = Client::retrying(std::move(*s));
    s.reset();
    EXPECT(!watch.expired());
    EXPECT_EQ(wrapped.get("cb")->data, "hello");
    EXPECT(watch.lock()->calls > 0);
  }
  EXPECT(watch.expired());

  // Removing the Serde again.
  Options o;
  o.serde(std::make_shared<Reverse>()).serde(nullptr).add_server(env.server).key_prefix(prefix());
  EXPECT(o.serde_object() == nullptr);
  Client plain(o);
  EXPECT_EQ(plain.get("cb")->data, "olleh");
}

// ---- server commands ------------------------------------------------------------

static void server_commands(const test_env &env) {
  Client c = client_for(env.server);

  pymemcache::Stats s = c.stats();
  EXPECT(!s.empty());
  std::optional<std::string_view> pid = s.find("pid");
  EXPECT(pid.has_value() && !pid->empty());
  EXPECT(!s.find("no_such_stat").has_value());
  std::size_t entries = 0;
  for (pymemcache::Stat st : s) {
    EXPECT_EQ(st.server, std::string_view(env.server));
    EXPECT(!st.name.empty());
    entries++;
  }
  EXPECT_EQ(entries, s.size());
  EXPECT_EQ(s[0].name, std::string_view("pid"));
  bool out_of_range = false;
  try {
    (void)s[s.size()];
  } catch (const std::out_of_range &) {
    out_of_range = true;
  }
  EXPECT(out_of_range);
  pymemcache::Stats settings = c.stats({"settings"});
  EXPECT(settings.find("maxbytes").has_value());
  EXPECT_THROWS(c.stats({"two words"}), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);

  EXPECT_EQ(c.raw_command("version").rfind("VERSION ", 0), 0u);
  std::string raw = c.raw_command("stats", "END\r\n");
  EXPECT(raw.find("STAT pid ") != std::string::npos);

  // What disturbs a whole server runs on a private one.
  static const char *const enable_shutdown[] = {"-A", nullptr};
  test_memcached m;
  test_memcached_start(&m, enable_shutdown);
  Client p(Options().add_server(m.addr).default_noreply(false));
  EXPECT(p.set("a", "1"));
  p.flush_all(0, Reply::Wait);
  EXPECT(!p.get("a").has_value());
  EXPECT(p.set("a", "2"));
  p.flush_all();
  EXPECT(!p.get("a"));
  p.cache_memlimit(100);
  EXPECT_EQ(p.stats({"settings"}).find("maxbytes"), std::optional<std::string_view>("104857600"));
  EXPECT(p.set("b", "3"));
  p.quit();  // the next command reconnects
  EXPECT_EQ(p.get("b")->data, "3");
  p.close();
  EXPECT_EQ(p.get("b")->data, "3");
  p.shutdown();
  EXPECT(test_memcached_wait_exit(&m, 5000));
  test_memcached_stop(&m);

  // Without -A, shutdown is an unknown command.
  test_memcached_start(&m, nullptr);
  Client q(Options().add_server(m.addr));
  EXPECT_THROWS(q.shutdown(true), pymemcache::ServerError, PMC_UNKNOWN_COMMAND, nullptr);
  test_memcached_stop(&m);
}

// ---- client kinds ---------------------------------------------------------------

static void kinds(const test_env &env) {
  // Pooled: connection counts, clearing, errors for clients without a pool.
  {
    Client c(Options()
                 .add_server(env.server)
                 .key_prefix(prefix())
                 .use_pooling()
                 .max_pool_size(4)
                 .pool_timeout(100ms)
                 .pool_idle_timeout(60s));
    EXPECT(c.set("pooled", "p", 0, Reply::Wait));
    EXPECT_EQ(c.get("pooled")->data, "p");
    pymemcache::PoolStats ps = c.pool_stats();
    EXPECT_EQ(ps.in_use, 0u);
    EXPECT(ps.free >= 1);
    EXPECT(ps.created >= 1);
    c.pool_clear();
    EXPECT_EQ(c.pool_stats().free, 0u);
    EXPECT(c.pool_stats().destroyed >= 1);

    // Metrics: the set and the get above, one hit, nothing in use.
    std::vector<pymemcache::ServerMetrics> ms = c.metrics();
    EXPECT_EQ(ms.size(), 1u);
    EXPECT_EQ(ms[0].requests, 2u);
    EXPECT_EQ(ms[0].hits, 1u);
    EXPECT_EQ(ms[0].in_use, 0u);
    EXPECT(ms[0].bytes_sent > 0 && ms[0].max_us >= ms[0].p50_us);
    EXPECT(c.metrics_prometheus().find("pymemcache_hits_total{server=") != std::string::npos);
    c.metrics_reset();
    EXPECT_EQ(c.metrics()[0].requests, 0u);
    pymemcache::Client off(pymemcache::Options().add_server(env.server).metrics(false));
    EXPECT(off.metrics().empty());

    // Threads share one client; every thread reads its own writes.
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; t++)
      threads.emplace_back([&c, &bad, t] {
        for (int i = 0; i < 50; i++) {
          std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
          c.set(key, key, 0, Reply::Wait);
          std::optional<Value> v = c.get(key);
          if (!v || v->data != key) bad++;
          try {
            (void)c.get("bad key " + key);
            bad++;
          } catch (const pymemcache::CallerError &e) {
            if (e.status() != PMC_ILLEGAL_INPUT) bad++;
          }
        }
      });
    for (std::thread &th : threads) th.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT(c.pool_stats().free <= 4);  // max_pool_size

    Client single(env.server);
    EXPECT_THROWS(single.pool_stats(), pymemcache::CallerError, PMC_INVALID_ARGUMENT, "pool");
  }

  // Hash client: servers added and removed at run time.
  {
    Client h(Options()
                 .use_hash_client()
                 .key_prefix(prefix())
                 .default_noreply(false)
                 .retry_attempts(1)
                 .retry_timeout(100ms)
                 .dead_timeout(1s));
    EXPECT_THROWS(h.get("k"), pymemcache::NetworkError, PMC_NO_SERVERS, nullptr);
    h.add_server(env.server);
    EXPECT_EQ(h.server_for_key("k"), env.server);
    EXPECT(h.set("hashed", "h"));
    EXPECT_EQ(h.get("hashed")->data, "h");
    EXPECT_THROWS(h.add_server(env.server), pymemcache::CallerError, PMC_CONFIG_ERROR,
                 "already");
    h.add_server(env.socket);
    h.remove_server(env.server);
    EXPECT_EQ(h.server_for_key("k"), env.socket);
    EXPECT_THROWS(h.remove_server(env.server), pymemcache::CallerError, PMC_CONFIG_ERROR,
                 "not in the client");
    EXPECT_THROWS(h.server_for_key("bad key"), pymemcache::CallerError, PMC_ILLEGAL_INPUT,
                 nullptr);
    Client single(env.server);
    EXPECT_THROWS(single.add_server(env.socket), pymemcache::CallerError, PMC_INVALID_ARGUMENT,
                 "not a hash client");

    // Bytes key form: placement as pymemcache's for a fleet passing bytes
    // keys (answers from pymemcache 4.0.0's HashClient).
    Options nodes;
    nodes.add_server("127.0.0.1:11211").add_server("127.0.0.1:11212").add_server("127.0.0.1:11213");
    Client text(std::move(nodes));
    Client as_bytes(Options()
                        .add_server("127.0.0.1:11211")
                        .add_server("127.0.0.1:11212")
                        .add_server("127.0.0.1:11213")
                        .hash_key_form(pymemcache::KeyForm::PythonBytes));
    EXPECT_EQ(text.server_for_key("key1"), std::string("127.0.0.1:11212"));
    EXPECT_EQ(as_bytes.server_for_key("key1"), std::string("127.0.0.1:11213"));
    EXPECT_EQ(as_bytes.server_for_key("a"), std::string("127.0.0.1:11211"));

    // Two servers in the options make a hash client: keys spread over both.
    Client two(Options().add_server(env.server).add_server(env.socket).key_prefix(prefix()));
    std::vector<std::pair<std::string, std::string>> items;
    std::vector<std::string> keys;
    bool on_tcp = false, on_socket = false;
    for (int i = 0; i < 20; i++) {
      std::string k = "spread-" + std::to_string(i);
      items.emplace_back(k, "v" + std::to_string(i));
      keys.push_back(k);
      std::string where = two.server_for_key(k);
      on_tcp = on_tcp || where == env.server;
      on_socket = on_socket || where == env.socket;
    }
    EXPECT(on_tcp && on_socket);
    EXPECT(two.set_many(items, 0, Reply::Wait).empty());
    pymemcache::Results r = two.get_many(keys);
    EXPECT_EQ(r.size(), 20u);
    EXPECT_EQ(r[19].value, std::string_view("v19"));
  }

  // Mock client: no server at all.
  {
    Client mock(Options().mock());
    EXPECT(mock.set("m", "1"));
    EXPECT(!mock.add("m", "2", 0, Reply::Wait));
    EXPECT_EQ(mock.incr("m", 41), std::optional<std::uint64_t>(42));
    std::optional<Value> v = mock.gets("m");
    EXPECT(v && v->data == "42");
    EXPECT_EQ(mock.cas("m", "43", v->cas), CasResult::Stored);
    EXPECT_EQ(mock.cas("m", "44", v->cas), CasResult::Exists);
    EXPECT(!mock.get("nope"));
  }
}

static void fallback_and_retry(const test_env &env) {
  // "old" is the TCP server, "new" the UNIX-socket one; views look behind
  // the fallback's back.
  Client old_view = client_for(env.server), new_view = client_for(env.socket);
  EXPECT(old_view.set("fb-old", "old-1"));
  EXPECT(new_view.set("fb-new", "new-2"));
  EXPECT(old_view.set("fb-both", "old-3"));
  EXPECT(new_view.set("fb-both", "new-3"));

  // Refusals leave the clients with the caller.
  std::vector<Client> none;
  EXPECT_THROWS(Client::fallback(std::move(none)), pymemcache::CallerError,
               PMC_INVALID_ARGUMENT, nullptr);
  Client empty = client_for(env.server);
  Client taken(std::move(empty));
  std::vector<Client> with_empty;
  with_empty.push_back(client_for(env.socket));
  with_empty.push_back(std::move(empty));
  EXPECT_THROWS(Client::fallback(std::move(with_empty)), pymemcache::CallerError,
               PMC_NULL_ARGUMENT, nullptr);
  EXPECT_EQ(with_empty.size(), 2u);
  EXPECT(with_empty[0]);
  EXPECT_EQ(with_empty[0].get("fb-new")->data, "new-2");  // still ours, still working

  // New first, old second; the fallback owns both from here on.
  Client new_c = client_for(env.socket), old_c = client_for(env.server);
  Client fb = Client::fallback(std::move(new_c), std::move(old_c));
  EXPECT(!new_c && !old_c);
  EXPECT_EQ(fb.get("fb-old")->data, "old-1");
  EXPECT_EQ(fb.get("fb-new")->data, "new-2");
  EXPECT_EQ(fb.get("fb-both")->data, "new-3");
  EXPECT(!fb.get("fb-neither"));
  pymemcache::Results r = fb.get_many({"fb-old", "fb-new", "fb-both", "fb-neither"});
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].value, std::string_view("old-1"));
  EXPECT_EQ(r[2].value, std::string_view("new-3"));
  EXPECT(fb.set("fb-written", "w"));  // writes go to the first client only
  EXPECT_EQ(new_view.get("fb-written")->data, "w");
  EXPECT(!old_view.get("fb-written"));

  // The vector form empties the vector on success.
  std::vector<Client> list;
  list.push_back(client_for(env.socket));
  list.push_back(client_for(env.server));
  Client fb2 = Client::fallback(std::move(list));
  EXPECT(list.empty());
  EXPECT_EQ(fb2.get("fb-old")->data, "old-1");

  // Retrying: the delay between attempts (3 attempts, 2 pauses of 100 ms).
  char refused[64];
  int fd = test_socket_refusing(refused, sizeof refused);
  pymemcache::RetryOptions ro;
  ro.attempts = 3;
  ro.retry_delay = 100ms;
  ro.retry_for = {PMC_IO_ERROR};
  Client r3 = Client::retrying(Client(refused), ro);
  long long t0 = test_now_ms();
  EXPECT_THROWS(r3.get("k"), pymemcache::NetworkError, PMC_IO_ERROR, refused);
  EXPECT(test_now_ms() - t0 >= 190);
  // ...and none for a status not retried.
  ro.retry_for = {PMC_TIMEOUT};
  Client r1 = Client::retrying(Client(refused), ro);
  t0 = test_now_ms();
  EXPECT_THROWS(r1.get("k"), pymemcache::NetworkError, PMC_IO_ERROR, refused);
  EXPECT(test_now_ms() - t0 < 100);
  close(fd);

  // Refusals leave the inner client with the caller.
  Client inner = client_for(env.server);
  pymemcache::RetryOptions zero;
  zero.attempts = 0;
  EXPECT_THROWS(Client::retrying(std::move(inner), zero), pymemcache::CallerError,
               PMC_CONFIG_ERROR, nullptr);
  pymemcache::RetryOptions both;
  both.retry_for = {PMC_IO_ERROR};
  both.do_not_retry_for = {PMC_IO_ERROR};
  EXPECT_THROWS(Client::retrying(std::move(inner), both), pymemcache::CallerError,
               PMC_CONFIG_ERROR, nullptr);
  pymemcache::RetryOptions not_error;
  not_error.retry_for = {PMC_MISS};
  EXPECT_THROWS(Client::retrying(std::move(inner), not_error), pymemcache::CallerError,
               PMC_INVALID_ARGUMENT, nullptr);
  EXPECT(inner);
  EXPECT_EQ(inner.get("fb-old")->data, "old-1");

  // A retrying client over a working server is just a client.
  Client ok = Client::retrying(std::move(inner));
  EXPECT(!inner);
  EXPECT(ok.set("retry-ok", "fine"));
  EXPECT_EQ(ok.get("retry-ok")->data, "fine");
}

// Batches and stampede control through the wrapper.
static void batches(const test_env &env) {
  Client c = client_for(env.server);
  EXPECT(c.set("bx-a", "alpha"));
  pymemcache::Batch b;
  std::size_t g = b.get("bx-a"), miss = b.get("bx-none"), gs = b.gets("bx-a");
  std::size_t st = b.set("bx-b", "beta", 0, 3), ad = b.add("bx-a", "x");
  std::size_t rp = b.replace("bx-none", "x"), ap = b.append("bx-b", "!"), pp = b.prepend("bx-b", "<");
  std::size_t cs = b.cas("bx-a", "y", 1), in = b.incr("bx-none", 1), de = b.decr("bx-none", 1);
  std::size_t tc = b.touch("bx-b", 100), gt = b.gat("bx-b", 100), dl = b.delete_("bx-none");
  std::size_t bad = b.get("bad key"), mt = b.meta("mg", "bx-a", "v f s");
  std::size_t lk = b.get_or_lock("bx-lock", 30), iv = b.invalidate("bx-a", 30);
  EXPECT_EQ(b.size(), std::size_t(18));
  b.execute(c);
  EXPECT_EQ(pymemcache::Batch::value(b.result(g)), "alpha");
  EXPECT_EQ(b.result(miss).status, PMC_MISS);
  EXPECT(b.result(gs).cas != 0);
  EXPECT_EQ(b.result(st).status, PMC_OK);
  EXPECT_EQ(b.result(ad).status, PMC_NOT_STORED);
  EXPECT_EQ(b.result(rp).status, PMC_NOT_STORED);
  EXPECT_EQ(b.result(ap).status, PMC_OK);
  EXPECT_EQ(b.result(pp).status, PMC_OK);
  EXPECT_EQ(b.result(cs).status, PMC_EXISTS);
  EXPECT_EQ(b.result(in).status, PMC_NOT_FOUND);
  EXPECT_EQ(b.result(de).status, PMC_NOT_FOUND);
  EXPECT_EQ(b.result(tc).status, PMC_OK);
  EXPECT_EQ(pymemcache::Batch::value(b.result(gt)), "<beta!");
  EXPECT_EQ(b.result(dl).status, PMC_NOT_FOUND);
  EXPECT_EQ(b.result(bad).status, PMC_ILLEGAL_INPUT);
  EXPECT_EQ(std::string(b.result(mt).code), "VA");
  EXPECT_EQ(b.result(lk).lease, PMC_LEASE_MISS_WON);
  EXPECT_EQ(b.result(iv).status, PMC_OK);
  EXPECT_EQ(b.results().size(), std::size_t(18));
  EXPECT_THROWS(b.result(18), pymemcache::CallerError, PMC_INVALID_ARGUMENT, nullptr);
  b.clear();
  EXPECT_EQ(b.size(), std::size_t(0));
  EXPECT(b.results().empty());

  // Stampede control on the client.
  Client::Lease l = c.get_or_lock("bx-a", 30);
  EXPECT_EQ(l.state, PMC_LEASE_STALE_WON);
  EXPECT_EQ(l.value->data, "alpha");
  EXPECT_EQ(c.get_or_lock("bx-a", 30).state, PMC_LEASE_STALE);
  EXPECT_EQ(c.get_or_lock("bx-lock", 30).state, PMC_LEASE_MISS_BUSY);
  EXPECT(!c.get_or_lock("bx-lock", 30).value);
  EXPECT(c.set("bx-lock", "done"));
  EXPECT_EQ(c.get_or_lock("bx-lock", 30).value->data, "done");
  EXPECT(!c.invalidate("bx-none", 30));
  EXPECT_THROWS(c.get_or_lock("bad key", 30), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  pymemcache::Batch moved(std::move(b));
  EXPECT(moved.native_handle() != nullptr && b.native_handle() == nullptr);
}

// The non-blocking client through the wrapper, driven by poll(2).
static void async_client(const test_env &env) {
  pymemcache::Options o;
  o.timeout(std::chrono::milliseconds(5000));
  pymemcache::Async a({env.server}, &o);
  EXPECT_EQ(a.pending(), 0u);
  EXPECT_EQ(a.timeout_ms(), -1);
  a.set("cxx-async", "value", 1, 0, 9);
  a.get("cxx-async", 2);
  a.get("cxx-async-none", 3);
  a.delete_("cxx-async-none", 4);
  a.get("cxx-async", 5);
  EXPECT_EQ(a.cancel(5), 1u);
  pymemcache::Batch b;
  b.get("cxx-async");
  a.batch(b, 6);
  std::map<std::uint64_t, pymemcache::Async::Completion> done;
  while (a.pending() > 0) {
    std::vector<pmc_watch> w = a.watches();
    std::vector<pollfd> p;
    for (const pmc_watch &x : w)
      p.push_back({x.fd, static_cast<short>(((x.events & PMC_WANT_READ) ? POLLIN : 0) |
                                            ((x.events & PMC_WANT_WRITE) ? POLLOUT : 0)),
                   0});
    EXPECT(poll(p.data(), p.size(), a.timeout_ms()) >= 0);
    a.step();
    while (auto c = a.next()) done[c->token] = *c;
  }
  EXPECT_EQ(done.size(), 5u);
  EXPECT_EQ(done[1].status, PMC_OK);
  EXPECT_EQ(done[2].value, "value");
  EXPECT_EQ(done[2].flags, 9u);
  EXPECT_EQ(done[3].status, PMC_MISS);
  EXPECT_EQ(done[4].status, PMC_NOT_FOUND);
  EXPECT_EQ(done[6].status, PMC_OK);
  EXPECT_EQ(pymemcache::Batch::value(b.result(0)), "value");
  // Metrics: set, get, get, delete and the batch's get (the cancelled get
  // is not counted); two hits, one miss.
  std::vector<pymemcache::ServerMetrics> ms = a.metrics();
  EXPECT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].requests, 5u);
  EXPECT_EQ(ms[0].hits, 2u);
  EXPECT_EQ(ms[0].misses, 1u);
  EXPECT(a.metrics_prometheus().find("pymemcache_requests_total") != std::string::npos);
  a.metrics_reset();
  EXPECT_EQ(a.metrics()[0].requests, 0u);
  EXPECT_THROWS(a.get("bad key", 7), pymemcache::CallerError, PMC_ILLEGAL_INPUT, nullptr);
  EXPECT_THROWS(pymemcache::Async(std::vector<std::string>{}), pymemcache::CallerError, PMC_CONFIG_ERROR, nullptr);
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  try {
    versions();
    round_trips(env);
    reply_modes(env);
    binary_values(env);
    errors(env);
    network_errors();
    moves(env);
    multi(env);
    serde(env);
    server_commands(env);
    kinds(env);
    fallback_and_retry(env);
    batches(env);
    async_client(env);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cxx_client: unexpected exception after the check at line %d: %s\n",
                 last_line, e.what());
    return 1;
  }
  std::printf("cxx_client: ok (%lu checks)\n", checks);
  return 0;
}
