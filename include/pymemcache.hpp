/*
 * pymemcache.hpp: a header-only C++17 interface over pymemcache.h, the C
 * interface of pymemcache-rs. Written by hand (pymemcache.h is generated);
 * it adds no symbols to the library and needs nothing but the C header
 * beside it and libpymemcache to link.
 *
 *   #include "pymemcache.hpp"
 *
 *   pymemcache::Client c(pymemcache::Options().add_server("127.0.0.1:11211"));
 *   c.set("greeting", "hello", 0, pymemcache::Reply::Wait);
 *   if (std::optional<pymemcache::Value> v = c.get("greeting"))
 *     std::cout << v->data << '\n';
 *
 * Conventions:
 *  - Handles are RAII types: Options, Client, Results and Stats own their C
 *    handle and release it in their destructor. They are move-only; a
 *    moved-from object holds nothing and may be destroyed or assigned to.
 *  - Keys and values are bytes_view: pass a std::string_view, std::string,
 *    string literal, std::vector / std::array / std::basic_string of char,
 *    unsigned char, signed char or std::byte, or bytes_view(pointer, length).
 *    They are binary-safe (NUL bytes included) and only borrowed for the call.
 *  - Values come back owned: Value holds the bytes in a std::string (which
 *    may contain NUL bytes), the flags and the CAS unique.
 *  - Outcomes pymemcache reports as None/False are return values: a miss is
 *    std::nullopt, NOT_STORED / NOT_FOUND are `false` (or std::nullopt for
 *    incr/decr), cas gives a CasResult.
 *  - Errors (every status 10 and above) are exceptions derived from
 *    pymemcache::Error, carrying the status and the library's message.
 *  - A Client may be used from several threads at once (its methods are
 *    const), exactly as the pmc_client it wraps.
 */

#ifndef PYMEMCACHE_HPP
#define PYMEMCACHE_HPP

#include "pymemcache.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

/// The C++ interface of pymemcache-rs.
namespace pymemcache {

// ---- versions, flags, reply modes ------------------------------------------

/// The version of the library actually loaded, e.g. "0.1.0" (compare with
/// PMC_VERSION_STRING, the version this header belongs to).
inline const char *library_version() noexcept { return pmc_library_version(); }

/// The name of a status code, e.g. "PMC_MISS"; "PMC_UNKNOWN_STATUS" for a
/// value that is not a status.
inline const char *status_name(pmc_status status) noexcept { return pmc_status_str(status); }

/// pymemcache's flags, as stored with each item.
namespace flags {
/// bytes (flag 0).
inline constexpr std::uint32_t bytes = PMC_FLAG_BYTES;
/// A pickle (flag 1).
inline constexpr std::uint32_t pickle = PMC_FLAG_PICKLE;
/// An int, as decimal text (flag 2).
inline constexpr std::uint32_t integer = PMC_FLAG_INTEGER;
/// A Python 2 long, as decimal text (flag 4).
inline constexpr std::uint32_t long_integer = PMC_FLAG_LONG;
/// zlib-compressed, added to the others (flag 8).
inline constexpr std::uint32_t compressed = PMC_FLAG_COMPRESSED;
/// UTF-8 text (flag 16).
inline constexpr std::uint32_t text = PMC_FLAG_TEXT;
}  // namespace flags

/// Per-call reply mode (pymemcache's `noreply` argument).
enum class Reply : pmc_reply {
  /// pymemcache's noreply=None: the client's default_noreply for storage
  /// commands, delete, touch and flush_all; wait for cas, incr and decr.
  Default = PMC_REPLY_DEFAULT,
  /// Wait for the server's reply and report the outcome.
  Wait = PMC_REPLY_WAIT,
  /// Send with `noreply`: the outcome is not known (reported as success).
  NoReply = PMC_REPLY_NONE,
};

/// How the Python services of a fleet pass keys to pymemcache's HashClient,
/// which decides where a key is placed (Options::hash_key_form).
enum class KeyForm : pmc_key_form {
  /// Keys are `str`: the key's text is hashed (the default).
  Text = PMC_KEY_FORM_TEXT,
  /// Keys are `bytes`: pymemcache hashes their repr (`b'key1'`).
  PythonBytes = PMC_KEY_FORM_PYTHON_BYTES,
};

/// The outcome of Client::cas (pymemcache: True, False, None).
enum class CasResult {
  /// Stored (or sent with Reply::NoReply, outcome unknown).
  Stored,
  /// The item changed since it was read (PMC_EXISTS).
  Exists,
  /// No such item (PMC_NOT_FOUND).
  NotFound,
};

// ---- errors -----------------------------------------------------------------

/// Every failure the library reports: a status code of 10 or above and the
/// message of the failing call's error object (pmc_error_message: the
/// status name, what failed, the server's own text and address).
class Error : public std::runtime_error {
 public:
  /// An error with `status` and `message`.
  Error(pmc_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}
  /// The pmc_status code, e.g. PMC_IO_ERROR.
  pmc_status status() const noexcept { return status_; }
  /// The name of the status code, e.g. "PMC_IO_ERROR".
  const char *status_name() const noexcept { return pmc_status_str(status_); }

 private:
  pmc_status status_;
};

/// A caller error (10-19): a null or out-of-range argument, an illegal key
/// (PMC_ILLEGAL_INPUT, pymemcache's MemcacheIllegalInputError), unusable
/// options (PMC_CONFIG_ERROR) or a value too large (PMC_TOO_LARGE).
class CallerError : public Error {
 public:
  using Error::Error;
};

/// A network error (20-29): refused or reset connections, unknown hosts
/// (PMC_IO_ERROR), the server closing mid-reply, an exhausted pool, a hash
/// client without live servers.
class NetworkError : public Error {
 public:
  using Error::Error;
};

/// A connect, read or write that timed out (PMC_TIMEOUT).
class TimeoutError : public NetworkError {
 public:
  using NetworkError::NetworkError;
};

/// The server refused the command (30-39): ERROR, CLIENT_ERROR, SERVER_ERROR,
/// or a reply that could not be parsed.
class ServerError : public Error {
 public:
  using Error::Error;
};

/// A stored value that cannot be read as asked (40-49): not text, not an
/// integer, an unsupported or corrupt value, or a failing Serde. When a
/// Serde threw, this exception carries the Serde's exception as its nested
/// exception (std::rethrow_if_nested gives it back).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// A bug inside the library caught at its boundary (PMC_PANIC), or a status
/// this header does not know.
class InternalError : public Error {
 public:
  using Error::Error;
};

namespace detail {

/// Where a Serde's exception waits (on the thread that ran the command)
/// until the command's PMC_SERDE_CALLBACK turns into a ValueError.
inline std::exception_ptr &serde_exception() noexcept {
  static thread_local std::exception_ptr pending;
  return pending;
}

/// Throw the exception class of `status`'s group with `message`.
[[noreturn]] inline void throw_status(pmc_status status, const std::string &message) {
  if (status == PMC_TIMEOUT) throw TimeoutError(status, message);
  if (status >= 10 && status < 20) throw CallerError(status, message);
  if (status >= 20 && status < 30) throw NetworkError(status, message);
  if (status >= 30 && status < 40) throw ServerError(status, message);
  if (status >= 40 && status < 50) {
    std::exception_ptr cause = std::exchange(serde_exception(), nullptr);
    if (status != PMC_SERDE_CALLBACK || !cause) throw ValueError(status, message);
    try {
      std::rethrow_exception(cause);
    } catch (const std::exception &e) {
      std::throw_with_nested(ValueError(status, message + ": " + e.what()));
    } catch (...) {
      std::throw_with_nested(ValueError(status, message));
    }
  }
  throw InternalError(status, message);
}

/// The error object of the last call this thread made through the wrapper:
/// every call passes `err()` as its `pmc_error **err`, which releases the
/// previous object first. (A wrapper call runs on one thread from start to
/// end, so the slot is per thread.)
struct error_slot {
  pmc_error *e = nullptr;
  error_slot() noexcept = default;
  error_slot(const error_slot &) = delete;
  error_slot &operator=(const error_slot &) = delete;
  ~error_slot() { pmc_error_free(e); }
};

inline error_slot &last_error() noexcept {
  static thread_local error_slot slot;
  return slot;
}

/// The `pmc_error **err` argument of every call the wrapper makes.
inline pmc_error **err() noexcept {
  error_slot &slot = last_error();
  pmc_error_free(std::exchange(slot.e, nullptr));
  return &slot.e;
}

/// Throw for an error status returned by the call just made on this thread,
/// with the message of that call's error object.
[[noreturn]] inline void throw_last_error(pmc_status status) {
  pmc_error *e = last_error().e;
  const char *message = e != nullptr && pmc_error_status(e) == status ? pmc_error_message(e) : "";
  throw_status(status, *message != '\0' ? std::string(message)
                                        : std::string(pmc_status_str(status)));
}

/// Throw for an error the wrapper finds itself, before calling the library.
[[noreturn]] inline void throw_invalid(const std::string &what) {
  throw_status(PMC_INVALID_ARGUMENT, std::string("PMC_INVALID_ARGUMENT: ") + what);
}

/// `status` if it is PMC_OK or a soft outcome (below 10); throws otherwise.
inline pmc_status check(pmc_status status) {
  if (status >= 10 || status < 0) throw_last_error(status);
  return status;
}

/// Throws unless `status` is PMC_OK or one of the soft outcomes allowed.
inline void expect(pmc_status status, std::initializer_list<pmc_status> allowed = {}) {
  check(status);
  if (status == PMC_OK) return;
  for (pmc_status s : allowed)
    if (s == status) return;
  throw_status(PMC_PANIC, std::string("unexpected status ") + pmc_status_str(status));
}

/// Whether T is a byte-sized character or byte type.
template <class T>
struct is_byte
    : std::bool_constant<std::is_same_v<T, char> || std::is_same_v<T, unsigned char> ||
                         std::is_same_v<T, signed char> || std::is_same_v<T, std::byte>
#if defined(__cpp_char8_t)
                         || std::is_same_v<T, char8_t>
#endif
                         > {
};

/// Whether C has data() pointing to bytes and size(): a contiguous byte
/// container (std::string, std::vector<std::uint8_t>, std::array, ...).
template <class C, class = void>
struct is_byte_container : std::false_type {};
template <class C>
struct is_byte_container<C, std::void_t<decltype(std::declval<const C &>().data()),
                                        decltype(std::declval<const C &>().size())>>
    : is_byte<std::remove_cv_t<
          std::remove_pointer_t<decltype(std::declval<const C &>().data())>>> {};

/// A std::uint32_t milliseconds count for the C options, or an exception.
inline std::uint32_t to_ms(std::chrono::milliseconds d, const char *what) {
  if (d.count() < 0 || d.count() > static_cast<std::chrono::milliseconds::rep>(
                                        std::numeric_limits<std::uint32_t>::max()))
    throw_invalid(std::string(what) + " is out of range (0 to 2^32-1 ms)");
  return static_cast<std::uint32_t>(d.count());
}

/// `s` as a NUL-terminated string for the C functions that take one;
/// refuses a NUL inside (the C side would read only up to it).
inline std::string c_string(std::string_view s, const char *what) {
  if (s.find('\0') != std::string_view::npos)
    throw_invalid(std::string(what) + " contains a NUL byte");
  return std::string(s);
}

/// Releases a library string.
struct string_free {
  void operator()(char *s) const noexcept { pmc_string_free(s); }
};
/// A string the library returned, freed on every path.
using owned_c_string = std::unique_ptr<char, string_free>;

/// A pmc_value released on every path.
struct value_guard {
  pmc_value v{};
  value_guard() = default;
  value_guard(const value_guard &) = delete;  // one owner, one pmc_value_free
  value_guard &operator=(const value_guard &) = delete;
  ~value_guard() { pmc_value_free(&v); }
  std::string bytes() const {
    return v.len == 0 ? std::string() : std::string(reinterpret_cast<const char *>(v.data), v.len);
  }
};

}  // namespace detail

// ---- bytes ------------------------------------------------------------------

/// A borrowed run of bytes (C++17's stand-in for std::span<const std::byte>):
/// how keys and values are passed. Converts implicitly from std::string_view,
/// std::string, string literals and C strings (without the terminating NUL),
/// and any contiguous container of byte-sized elements with data() and size()
/// (std::vector<std::uint8_t>, std::array<char, N>, std::basic_string<unsigned
/// char>, ...); bytes_view(pointer, length) takes raw memory. Like
/// std::string_view it does not own the bytes: they must outlive the call.
class bytes_view {
 public:
  /// No bytes.
  constexpr bytes_view() noexcept = default;
  /// `size` bytes at `data` (which may be null when size is 0).
  bytes_view(const void *data, std::size_t size) noexcept
      : data_(static_cast<const std::uint8_t *>(data)), size_(size) {}
  /// The bytes of `s`, NUL bytes included.
  bytes_view(std::string_view s) noexcept
      : data_(reinterpret_cast<const std::uint8_t *>(s.data())), size_(s.size()) {}
  /// A NUL-terminated string, without the NUL (null: no bytes).
  bytes_view(const char *s) noexcept : bytes_view(s ? std::string_view(s) : std::string_view()) {}
  /// The elements of a contiguous container of byte-sized elements.
  template <class C, class = std::enable_if_t<detail::is_byte_container<C>::value>>
  bytes_view(const C &c) noexcept
      : data_(reinterpret_cast<const std::uint8_t *>(c.data())), size_(c.size()) {}

  /// The first byte (may be null when empty).
  const std::uint8_t *data() const noexcept { return data_; }
  /// The number of bytes.
  std::size_t size() const noexcept { return size_; }
  /// Whether there are no bytes.
  bool empty() const noexcept { return size_ == 0; }
  /// The same bytes as characters.
  std::string_view as_string_view() const noexcept {
    return size_ == 0 ? std::string_view()
                      : std::string_view(reinterpret_cast<const char *>(data_), size_);
  }

 private:
  const std::uint8_t *data_ = nullptr;
  std::size_t size_ = 0;
};

namespace detail {
/// A non-null pointer to the bytes: the C functions refuse a null key
/// pointer (PMC_NULL_ARGUMENT) even when the key is empty, and an empty key
/// must read as the illegal key it is (PMC_ILLEGAL_INPUT).
inline const std::uint8_t *ptr(bytes_view b) noexcept {
  static const std::uint8_t none = 0;
  return b.data() != nullptr ? b.data() : &none;
}

/// Keys (or values) as the pointer and length arrays of the many-key calls.
struct byte_arrays {
  std::vector<const std::uint8_t *> ptrs;
  std::vector<std::size_t> lens;
  void reserve(std::size_t n) {
    ptrs.reserve(n);
    lens.reserve(n);
  }
  void push(bytes_view b) {
    ptrs.push_back(ptr(b));
    lens.push_back(b.size());
  }
  std::size_t size() const noexcept { return ptrs.size(); }
};

/// Every element of `keys` (each converting to bytes_view) as arrays.
template <class Keys>
byte_arrays key_arrays(const Keys &keys) {
  byte_arrays a;
  a.reserve(static_cast<std::size_t>(std::distance(std::begin(keys), std::end(keys))));
  for (const auto &k : keys) a.push(bytes_view(k));
  return a;
}
}  // namespace detail

// ---- values and results -----------------------------------------------------

/// A value read from the cache, owned: its bytes (which may contain NUL
/// bytes; std::string is used as a byte string), its flags and, for gets,
/// gats and gets_many, its CAS unique (0 otherwise).
struct Value {
  /// The bytes of the value.
  std::string data;
  /// The item's flags.
  std::uint32_t flags = 0;
  /// The CAS unique (gets, gats, gets_many), else 0.
  std::uint64_t cas = 0;

  /// The bytes as a view.
  std::string_view view() const noexcept { return data; }
};

/// One hit of a multi-key get, borrowed from its Results: the views stay
/// valid until the Results is destroyed (or moved from).
struct Item {
  /// Position of this key in the request's keys.
  std::size_t index = 0;
  /// The key as given (without the key prefix).
  std::string_view key;
  /// The value's bytes.
  std::string_view value;
  /// The item's flags.
  std::uint32_t flags = 0;
  /// The CAS unique (gets_many), else 0.
  std::uint64_t cas = 0;

  /// An owned copy of the value, flags and CAS unique.
  Value to_value() const { return Value{std::string(value), flags, cas}; }
};

/// The hits of Client::get_many or gets_many, in request order; misses are
/// left out (as pymemcache's dict). Owns a pmc_results; move-only. May be
/// read from several threads at once.
class Results {
 public:
  /// An iterator over the hits; it yields Item views by value.
  class const_iterator {
   public:
    /// Iterator traits: a read-only sequence of Item views.
    using iterator_category = std::input_iterator_tag;
    /// The element type.
    using value_type = Item;
    /// Distance between iterators.
    using difference_type = std::ptrdiff_t;
    /// Elements are views made on the fly, so no pointer to them.
    using pointer = void;
    /// Dereferencing yields an Item by value.
    using reference = Item;

    /// An iterator at `p`.
    explicit const_iterator(const pmc_item *p = nullptr) noexcept : p_(p) {}
    /// The hit at this position.
    Item operator*() const noexcept { return Results::item(*p_); }
    /// Step to the next hit.
    const_iterator &operator++() noexcept {
      ++p_;
      return *this;
    }
    /// Step to the next hit, returning the position before.
    const_iterator operator++(int) noexcept {
      const_iterator before = *this;
      ++p_;
      return before;
    }
    /// Whether both are at the same position.
    bool operator==(const const_iterator &o) const noexcept { return p_ == o.p_; }
    /// Whether they are at different positions.
    bool operator!=(const const_iterator &o) const noexcept { return p_ != o.p_; }

   private:
    const pmc_item *p_;
  };

  /// No hits.
  Results() noexcept = default;
  /// Take ownership of `results` (from pmc_get_many / pmc_gets_many).
  explicit Results(pmc_results *results) noexcept : r_(results) {
    items_ = pmc_results_items(r_, &n_);
  }
  /// Take the other's hits; it is left empty.
  Results(Results &&o) noexcept
      : r_(std::exchange(o.r_, nullptr)),
        items_(std::exchange(o.items_, nullptr)),
        n_(std::exchange(o.n_, 0)) {}
  /// Release ours, take the other's; it is left empty.
  Results &operator=(Results &&o) noexcept {
    if (this != &o) {
      pmc_results_free(r_);
      r_ = std::exchange(o.r_, nullptr);
      items_ = std::exchange(o.items_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  /// Not copyable: it owns its C handle (move it instead).
  Results(const Results &) = delete;
  /// Not copy-assignable: it owns its C handle (move it instead).
  Results &operator=(const Results &) = delete;
  /// Release the hits (every Item view of them becomes invalid).
  ~Results() { pmc_results_free(r_); }

  /// The number of hits.
  std::size_t size() const noexcept { return pmc_results_len(r_); }
  /// Whether every key missed.
  bool empty() const noexcept { return n_ == 0; }
  /// Hit `i` (0-based, below size()), unchecked.
  Item operator[](std::size_t i) const noexcept { return item(items_[i]); }
  /// Hit `i`; std::out_of_range when `i` is not below size().
  Item at(std::size_t i) const {
    pmc_item it{};
    if (pmc_results_at(r_, i, &it, detail::err()) != PMC_OK)
      throw std::out_of_range(std::string("pymemcache::Results::at: ") +
                              pmc_error_message(detail::last_error().e));
    return item(it);
  }
  /// The first hit.
  const_iterator begin() const noexcept { return const_iterator(items_); }
  /// Past the last hit.
  const_iterator end() const noexcept { return const_iterator(items_ + n_); }
  /// The first hit for `key`, or std::nullopt if it missed (a linear search).
  std::optional<Item> find(bytes_view key) const noexcept {
    for (Item it : *this)
      if (it.key == key.as_string_view()) return it;
    return std::nullopt;
  }
  /// The hits as an owned map from key to value (pymemcache's dict); for a
  /// key asked for twice, the first hit.
  std::unordered_map<std::string, Value> to_map() const {
    std::unordered_map<std::string, Value> m;
    m.reserve(n_);
    for (Item it : *this) m.emplace(std::string(it.key), it.to_value());
    return m;
  }
  /// The C handle, still owned by this object.
  pmc_results *native_handle() const noexcept { return r_; }

 private:
  static Item item(const pmc_item &it) noexcept {
    return Item{it.index, view(it.key, it.key_len), view(it.value, it.value_len), it.flags,
                it.cas};
  }
  static std::string_view view(const std::uint8_t *p, std::size_t n) noexcept {
    return n == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char *>(p), n);
  }

  pmc_results *r_ = nullptr;
  const pmc_item *items_ = nullptr;
  std::size_t n_ = 0;
};

/// One entry of Stats, borrowed from it: valid until the Stats is destroyed.
struct Stat {
  /// The server it came from ("host:port" or a socket path).
  std::string_view server;
  /// The stat's name, e.g. "curr_items".
  std::string_view name;
  /// Its value as the server sent it.
  std::string_view value;
};

/// The result of Client::stats: (server, name, value) entries in the order
/// the servers sent them. Owns a pmc_stats_list; move-only.
class Stats {
 public:
  /// An iterator over the entries; it yields Stat views by value.
  class const_iterator {
   public:
    /// Iterator traits: a read-only sequence of Stat views.
    using iterator_category = std::input_iterator_tag;
    /// The element type.
    using value_type = Stat;
    /// Distance between iterators.
    using difference_type = std::ptrdiff_t;
    /// Elements are views made on the fly, so no pointer to them.
    using pointer = void;
    /// Dereferencing yields a Stat by value.
    using reference = Stat;

    /// An iterator at entry `i` of `s`.
    const_iterator(const Stats *s, std::size_t i) noexcept : s_(s), i_(i) {}
    /// The entry at this position.
    Stat operator*() const { return (*s_)[i_]; }
    /// Step to the next entry.
    const_iterator &operator++() noexcept {
      ++i_;
      return *this;
    }
    /// Step to the next entry, returning the position before.
    const_iterator operator++(int) noexcept {
      const_iterator before = *this;
      ++i_;
      return before;
    }
    /// Whether both are at the same position.
    bool operator==(const const_iterator &o) const noexcept { return s_ == o.s_ && i_ == o.i_; }
    /// Whether they are at different positions.
    bool operator!=(const const_iterator &o) const noexcept { return !(*this == o); }

   private:
    const Stats *s_;
    std::size_t i_;
  };

  /// No entries.
  Stats() noexcept = default;
  /// Take ownership of `stats` (from pmc_stats).
  explicit Stats(pmc_stats_list *stats) noexcept : s_(stats) {}
  /// Take the other's entries; it is left empty.
  Stats(Stats &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  /// Release ours, take the other's; it is left empty.
  Stats &operator=(Stats &&o) noexcept {
    if (this != &o) {
      pmc_stats_free(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  /// Not copyable: it owns its C handle (move it instead).
  Stats(const Stats &) = delete;
  /// Not copy-assignable: it owns its C handle (move it instead).
  Stats &operator=(const Stats &) = delete;
  /// Release the entries (every Stat view of them becomes invalid).
  ~Stats() { pmc_stats_free(s_); }

  /// The number of entries.
  std::size_t size() const noexcept { return pmc_stats_len(s_); }
  /// Whether there are none.
  bool empty() const noexcept { return size() == 0; }
  /// Entry `i`; std::out_of_range when `i` is not below size().
  Stat operator[](std::size_t i) const {
    const char *server = nullptr, *name = nullptr, *value = nullptr;
    if (pmc_stats_at(s_, i, &server, &name, &value, detail::err()) != PMC_OK)
      throw std::out_of_range(std::string("pymemcache::Stats: ") +
                              pmc_error_message(detail::last_error().e));
    return Stat{server, name, value};
  }
  /// The first entry.
  const_iterator begin() const noexcept { return const_iterator(this, 0); }
  /// Past the last entry.
  const_iterator end() const noexcept { return const_iterator(this, size()); }
  /// The value of the first stat named `name` (from any server), or
  /// std::nullopt if there is none.
  std::optional<std::string_view> find(std::string_view name) const {
    if (name.find('\0') != std::string_view::npos) return std::nullopt;
    const char *v = pmc_stats_find(s_, std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string_view(v);
  }
  /// The C handle, still owned by this object.
  pmc_stats_list *native_handle() const noexcept { return s_; }

 private:
  pmc_stats_list *s_ = nullptr;
};

/// A pooled client's connection counts (Client::pool_stats).
struct PoolStats {
  /// Connections checked out by commands running now.
  std::size_t in_use = 0;
  /// Connections waiting in the pool.
  std::size_t free = 0;
  /// Connections made since the client was created.
  std::uint64_t created = 0;
  /// Connections destroyed (after an error, idle, or cleared).
  std::uint64_t destroyed = 0;
};

/// One server's metrics at one moment (Client::metrics).
struct ServerMetrics {
  /// The server, "host:port" or a socket path.
  std::string server;
  /// Requests (calls, batch commands, calls failed before a connection was
  /// lent); keys found and not found by retrievals.
  std::uint64_t requests = 0, hits = 0, misses = 0;
  /// Errors by class: timeouts, connection, server replies, unparsable.
  std::uint64_t timeouts = 0, connection_errors = 0, server_errors = 0, protocol_errors = 0;
  /// Bytes written to and read from the server.
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  /// Connections opened; in use now; most in use at once.
  std::uint64_t connections_opened = 0, in_use = 0, peak_in_use = 0;
  /// State changes and the state (0 up, 1 failing, 2 dead, 3 soft-down).
  std::uint64_t state_changes = 0, state = 0;
  /// Latency in microseconds: p50, p90, p99 (from power-of-two buckets) and max.
  std::uint64_t p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

namespace detail {
/// Read every server of snapshot `m` (a pmc_metrics_snapshot or
/// pmc_async_metrics_snapshot result), then free it.
inline std::vector<ServerMetrics> read_metrics(pmc_metrics *m) {
  std::unique_ptr<pmc_metrics, void (*)(pmc_metrics *)> owned(m, pmc_metrics_free);
  std::vector<ServerMetrics> out;
  for (std::size_t i = 0; i < pmc_metrics_server_count(m); i++) {
    ServerMetrics s;
    s.server = pmc_metrics_server_name(m, i);
    auto get = [&](pmc_metric which) {
      std::uint64_t v = 0;
      detail::expect(pmc_metrics_get(m, i, which, &v, detail::err()));
      return v;
    };
    auto quantile = [&](double q) {
      std::uint64_t v = 0;
      detail::expect(pmc_metrics_latency_us(m, i, q, &v, detail::err()));
      return v;
    };
    s.requests = get(PMC_METRIC_REQUESTS);
    s.hits = get(PMC_METRIC_HITS);
    s.misses = get(PMC_METRIC_MISSES);
    s.timeouts = get(PMC_METRIC_TIMEOUTS);
    s.connection_errors = get(PMC_METRIC_CONNECTION_ERRORS);
    s.server_errors = get(PMC_METRIC_SERVER_ERRORS);
    s.protocol_errors = get(PMC_METRIC_PROTOCOL_ERRORS);
    s.bytes_sent = get(PMC_METRIC_BYTES_SENT);
    s.bytes_received = get(PMC_METRIC_BYTES_RECEIVED);
    s.connections_opened = get(PMC_METRIC_CONNECTIONS_OPENED);
    s.in_use = get(PMC_METRIC_IN_USE);
    s.peak_in_use = get(PMC_METRIC_PEAK_IN_USE);
    s.state_changes = get(PMC_METRIC_STATE_CHANGES);
    s.state = get(PMC_METRIC_STATE);
    s.p50_us = quantile(0.5);
    s.p90_us = quantile(0.9);
    s.p99_us = quantile(0.99);
    s.max_us = quantile(1.0);
    out.push_back(std::move(s));
  }
  return out;
}

/// Snapshot `m` in Prometheus text exposition format, then free it.
inline std::string metrics_text(pmc_metrics *m) {
  std::unique_ptr<pmc_metrics, void (*)(pmc_metrics *)> owned(m, pmc_metrics_free);
  char *text = nullptr;
  std::size_t len = 0;
  expect(pmc_metrics_prometheus(m, &text, &len, err()));
  owned_c_string t(text);
  return std::string(text, len);
}
}  // namespace detail

// ---- serde --------------------------------------------------------------------

/// Where a Serde puts its result: valid only during the call it is given to.
class SerdeOutput {
 public:
  /// Wrap the C buffer of one callback.
  explicit SerdeOutput(pmc_buffer *out) noexcept : out_(out) {}
  /// The result is `data` (copied) with `flags`. Not calling it leaves the
  /// value as it was.
  void set(bytes_view data, std::uint32_t flags) {
    // Runs inside a command, whose own error object goes to the thread's
    // slot when it returns: this call has an object of its own.
    pmc_error *e = nullptr;
    pmc_status st = pmc_buffer_set(out_, detail::ptr(data), data.size(), flags, &e);
    std::unique_ptr<pmc_error, void (*)(pmc_error *)> owned(e, pmc_error_free);
    if (st != PMC_OK) detail::throw_status(st, pmc_error_message(e));
  }

 private:
  pmc_buffer *out_;
};

/// Your own serializer (pymemcache's serde), installed with Options::serde:
/// every value the client stores goes through serialize, every value it
/// reads through deserialize (before compression on the way out, after it
/// on the way in), in every command that carries values. Both may run on
/// any thread that uses the client, several at once. Throwing fails the
/// command with a ValueError (status PMC_SERDE_CALLBACK) whose nested
/// exception is the one thrown. The default of each leaves values as they
/// are.
class Serde {
 public:
  /// Destroyed through a pointer to Serde.
  virtual ~Serde() = default;
  /// Turn `value` (with `flags`) stored under `key` (as the caller gave it,
  /// without the key prefix) into bytes and flags: call out.set(...), or
  /// nothing to store the value unchanged.
  virtual void serialize(std::string_view /*key*/, std::string_view /*value*/,
                         std::uint32_t /*flags*/, SerdeOutput & /*out*/) const {}
  /// Turn the stored bytes and flags back into the value: out.set(...), or
  /// nothing to return them unchanged.
  virtual void deserialize(std::string_view /*key*/, std::string_view /*value*/,
                           std::uint32_t /*flags*/, SerdeOutput & /*out*/) const {}
};

namespace detail {
/// The C callbacks that call a Serde; exceptions stop here and wait in
/// serde_exception() for the command to report PMC_SERDE_CALLBACK.
template <bool Serialize>
pmc_status serde_call(void *userdata, const std::uint8_t *key, std::size_t key_len,
                      const std::uint8_t *value, std::size_t value_len, std::uint32_t flags,
                      pmc_buffer *out) noexcept {
  try {
    const Serde *s = static_cast<const Serde *>(userdata);
    SerdeOutput o(out);
    std::string_view k(reinterpret_cast<const char *>(key), key != nullptr ? key_len : 0);
    std::string_view v(reinterpret_cast<const char *>(value), value != nullptr ? value_len : 0);
    if (Serialize)
      s->serialize(k, v, flags, o);
    else
      s->deserialize(k, v, flags, o);
    return PMC_OK;
  } catch (...) {
    serde_exception() = std::current_exception();
    return PMC_SERDE_CALLBACK;
  }
}
}  // namespace detail

// ---- options ------------------------------------------------------------------

/// Options for a Client: servers and behaviour, with pymemcache's defaults
/// (no timeouts, no_delay and keepalive off, ignore_exc off, no key prefix,
/// default_noreply on, unicode keys off, max_value_len 64 MiB). Every setter
/// returns *this (an rvalue when called on a temporary), so they chain:
///
///   auto opts = Options().add_server("10.0.0.1:11211").timeout(500ms);
///   Client c(Options().add_server("/run/memcached.sock").no_delay());
///
/// A Client copies what it needs, so the options may be destroyed or reused
/// right after. Owns a pmc_options; move-only; not for use from several
/// threads at once.
class Options {
 public:
  /// Options with pymemcache's defaults and no servers.
  Options() : o_(pmc_options_new()) {
    if (o_ == nullptr) throw std::bad_alloc();
  }
  /// Take the other's options; it is left empty (and unusable).
  Options(Options &&o) noexcept
      : o_(std::exchange(o.o_, nullptr)), serde_(std::move(o.serde_)) {}
  /// Release ours, take the other's; it is left empty.
  Options &operator=(Options &&o) noexcept {
    if (this != &o) {
      pmc_options_free(o_);
      o_ = std::exchange(o.o_, nullptr);
      serde_ = std::move(o.serde_);
    }
    return *this;
  }
  /// Not copyable: it owns its C handle (move it instead).
  Options(const Options &) = delete;
  /// Not copy-assignable: it owns its C handle (move it instead).
  Options &operator=(const Options &) = delete;
  /// Release the options.
  ~Options() { pmc_options_free(o_); }

  /// Add a server: "host:port", "[ipv6]:port" or a UNIX socket path. One
  /// server makes a single-server client; two or more a hash client, which
  /// places keys as pymemcache's HashClient. Throws CallerError
  /// (PMC_CONFIG_ERROR) for something that is not an address.
  Options &add_server(std::string_view server) & {
    detail::check(pmc_options_add_server(o_, detail::c_string(server, "server").c_str(), detail::err()));
    return *this;
  }
  /// add_server() on a temporary Options, which it returns as an rvalue.
  Options &&add_server(std::string_view server) && { return std::move(add_server(server)); }
  /// Limit on establishing a connection; 0 = no limit (the default).
  Options &connect_timeout(std::chrono::milliseconds t) & {
    detail::check(pmc_options_set_connect_timeout_ms(o_, detail::to_ms(t, "connect_timeout"), detail::err()));
    return *this;
  }
  /// connect_timeout() on a temporary Options, which it returns as an rvalue.
  Options &&connect_timeout(std::chrono::milliseconds t) && {
    return std::move(connect_timeout(t));
  }
  /// Limit on each socket read and write; 0 = no limit (the default).
  Options &timeout(std::chrono::milliseconds t) & {
    detail::check(pmc_options_set_timeout_ms(o_, detail::to_ms(t, "timeout"), detail::err()));
    return *this;
  }
  /// timeout() on a temporary Options, which it returns as an rvalue.
  Options &&timeout(std::chrono::milliseconds t) && { return std::move(timeout(t)); }
  /// Limit on a whole call (waiting for the connection, connecting,
  /// writing and reading together); 0 = none (the default, as pymemcache).
  /// A call past it throws TimeoutError.
  Options &deadline(std::chrono::milliseconds t) & {
    detail::check(pmc_options_set_deadline_ms(o_, detail::to_ms(t, "deadline"), detail::err()));
    return *this;
  }
  /// deadline() on a temporary Options, which it returns as an rvalue.
  Options &&deadline(std::chrono::milliseconds t) && { return std::move(deadline(t)); }
  /// Reconnect backoff: after a failed connect, connects to that server
  /// within a window (`initial` doubling to `max`) fail at once with the
  /// same error. Default on, 10 ms to 1 s; `initial` 0 turns it off.
  Options &reconnect_backoff(std::chrono::milliseconds initial,
                             std::chrono::milliseconds max) & {
    detail::check(pmc_options_set_reconnect_backoff_ms(
        o_, detail::to_ms(initial, "reconnect_backoff initial"),
        detail::to_ms(max, "reconnect_backoff max"), detail::err()));
    return *this;
  }
  /// reconnect_backoff() on a temporary Options, which it returns as an rvalue.
  Options &&reconnect_backoff(std::chrono::milliseconds initial,
                              std::chrono::milliseconds max) && {
    return std::move(reconnect_backoff(initial, max));
  }
  /// TLS on TCP connections (memcached -Z; default off). With no CA file
  /// or directory, the system's store is trusted. Every tls_* setter turns
  /// TLS on; tls(false) turns it off and forgets them. Handshake failures
  /// throw NetworkError with PMC_TLS_ERROR and what failed.
  Options &tls(bool on = true) & {
    detail::check(pmc_options_set_tls(o_, on, detail::err()));
    return *this;
  }
  /// tls() on a temporary Options, which it returns as an rvalue.
  Options &&tls(bool on = true) && { return std::move(tls(on)); }
  /// Trust the CA certificates of a PEM file (Python's `cafile=`).
  Options &tls_ca_file(std::string_view path) & {
    detail::check(pmc_options_set_tls_ca_file(o_, detail::c_string(path, "path").c_str(), detail::err()));
    return *this;
  }
  /// tls_ca_file() on a temporary Options, which it returns as an rvalue.
  Options &&tls_ca_file(std::string_view path) && { return std::move(tls_ca_file(path)); }
  /// Trust the CA certificates of every PEM file in a directory (`capath=`).
  Options &tls_ca_dir(std::string_view path) & {
    detail::check(pmc_options_set_tls_ca_dir(o_, detail::c_string(path, "path").c_str(), detail::err()));
    return *this;
  }
  /// tls_ca_dir() on a temporary Options, which it returns as an rvalue.
  Options &&tls_ca_dir(std::string_view path) && { return std::move(tls_ca_dir(path)); }
  /// Trust the system's certificate store too (`load_default_certs()`).
  Options &tls_system_roots(bool on = true) & {
    detail::check(pmc_options_set_tls_system_roots(o_, on, detail::err()));
    return *this;
  }
  /// tls_system_roots() on a temporary Options, which it returns as an rvalue.
  Options &&tls_system_roots(bool on = true) && { return std::move(tls_system_roots(on)); }
  /// Present a client certificate (PEM chain and key) for mutual TLS.
  Options &tls_client_cert(std::string_view cert, std::string_view key) & {
    detail::check(pmc_options_set_tls_client_cert(o_, detail::c_string(cert, "cert").c_str(), detail::c_string(key, "key").c_str(), detail::err()));
    return *this;
  }
  /// tls_client_cert() on a temporary Options, which it returns as an rvalue.
  Options &&tls_client_cert(std::string_view cert, std::string_view key) && { return std::move(tls_client_cert(cert, key)); }
  /// The name for SNI and certificate checks (default: the address's host).
  Options &tls_server_name(std::string_view name) & {
    detail::check(pmc_options_set_tls_server_name(o_, detail::c_string(name, "name").c_str(), detail::err()));
    return *this;
  }
  /// tls_server_name() on a temporary Options, which it returns as an rvalue.
  Options &&tls_server_name(std::string_view name) && { return std::move(tls_server_name(name)); }
  /// The oldest TLS version accepted: "1.2" (default) or "1.3".
  Options &tls_min_version(std::string_view version) & {
    detail::check(pmc_options_set_tls_min_version(o_, detail::c_string(version, "version").c_str(), detail::err()));
    return *this;
  }
  /// tls_min_version() on a temporary Options, which it returns as an rvalue.
  Options &&tls_min_version(std::string_view version) && { return std::move(tls_min_version(version)); }
  /// FOR TESTS ONLY: accept any server certificate, unchecked. Never ship.
  Options &tls_insecure_no_verify_testing_only(bool on = true) & {
    detail::check(pmc_options_set_tls_insecure_no_verify_testing_only(o_, on, detail::err()));
    return *this;
  }
  /// tls_insecure_no_verify_testing_only() on a temporary Options, which it returns as an rvalue.
  Options &&tls_insecure_no_verify_testing_only(bool on = true) && { return std::move(tls_insecure_no_verify_testing_only(on)); }
  /// memcached's ASCII authentication (-Y) on every new connection; a
  /// wrong password throws NetworkError with PMC_AUTH_ERROR.
  Options &auth(std::string_view username, std::string_view password) & {
    detail::check(pmc_options_set_auth(o_, detail::c_string(username, "username").c_str(), detail::c_string(password, "password").c_str(), detail::err()));
    return *this;
  }
  /// auth() on a temporary Options, which it returns as an rvalue.
  Options &&auth(std::string_view username, std::string_view password) && { return std::move(auth(username, password)); }
  /// TCP_NODELAY (default off, as pymemcache; on is recommended: without it
  /// a noreply command followed by a request can wait ~40 ms).
  Options &no_delay(bool on = true) & {
    detail::check(pmc_options_set_no_delay(o_, on, detail::err()));
    return *this;
  }
  /// no_delay() on a temporary Options, which it returns as an rvalue.
  Options &&no_delay(bool on = true) && { return std::move(no_delay(on)); }
  /// SO_KEEPALIVE on TCP connections (default off).
  Options &keepalive(bool on = true) & {
    detail::check(pmc_options_set_keepalive(o_, on, detail::err()));
    return *this;
  }
  /// keepalive() on a temporary Options, which it returns as an rvalue.
  Options &&keepalive(bool on = true) && { return std::move(keepalive(on)); }
  /// Report connection and server errors of get, gets, gat, gats and their
  /// many-key forms as misses (default off). Illegal keys still throw.
  Options &ignore_exc(bool on = true) & {
    detail::check(pmc_options_set_ignore_exc(o_, on, detail::err()));
    return *this;
  }
  /// ignore_exc() on a temporary Options, which it returns as an rvalue.
  Options &&ignore_exc(bool on = true) && { return std::move(ignore_exc(on)); }
  /// Keep per-server metrics (default on); off counts nothing.
  Options &metrics(bool on = true) & {
    detail::check(pmc_options_set_metrics(o_, on, detail::err()));
    return *this;
  }
  /// metrics() on a temporary Options, which it returns as an rvalue.
  Options &&metrics(bool on = true) && { return std::move(metrics(on)); }
  /// Whether storage commands, delete, touch and flush_all called with
  /// Reply::Default skip the server's reply (default on, as pymemcache).
  Options &default_noreply(bool on = true) & {
    detail::check(pmc_options_set_default_noreply(o_, on, detail::err()));
    return *this;
  }
  /// default_noreply() on a temporary Options, which it returns as an rvalue.
  Options &&default_noreply(bool on = true) && { return std::move(default_noreply(on)); }
  /// pymemcache's allow_unicode_keys, which applies to text (`str`) keys
  /// only. Keys here are bytes, checked as pymemcache checks `bytes` keys
  /// (any byte but ASCII whitespace and NUL), so this does not change them.
  Options &allow_unicode_keys(bool on = true) & {
    detail::check(pmc_options_set_allow_unicode_keys(o_, on, detail::err()));
    return *this;
  }
  /// allow_unicode_keys() on a temporary Options, which it returns as an rvalue.
  Options &&allow_unicode_keys(bool on = true) && { return std::move(allow_unicode_keys(on)); }
  /// The longest value sent or accepted, in bytes (default 64 MiB); longer
  /// ones throw CallerError (PMC_TOO_LARGE).
  Options &max_value_len(std::size_t bytes) & {
    detail::check(pmc_options_set_max_value_len(o_, bytes, detail::err()));
    return *this;
  }
  /// max_value_len() on a temporary Options, which it returns as an rvalue.
  Options &&max_value_len(std::size_t bytes) && { return std::move(max_value_len(bytes)); }
  /// A pool of connections (pymemcache's PooledClient; for a hash client one
  /// pool per server), so one client serves many threads at once.
  Options &use_pooling(bool on = true) & {
    detail::check(pmc_options_set_use_pooling(o_, on, detail::err()));
    return *this;
  }
  /// use_pooling() on a temporary Options, which it returns as an rvalue.
  Options &&use_pooling(bool on = true) && { return std::move(use_pooling(on)); }
  /// The most connections a pooled client keeps open; 0 = unbounded (the
  /// default).
  Options &max_pool_size(std::size_t n) & {
    detail::check(pmc_options_set_max_pool_size(o_, n, detail::err()));
    return *this;
  }
  /// max_pool_size() on a temporary Options, which it returns as an rvalue.
  Options &&max_pool_size(std::size_t n) && { return std::move(max_pool_size(n)); }
  /// How long a command waits for a connection of a full pool; 0 (the
  /// default) throws NetworkError (PMC_POOL_EXHAUSTED) at once.
  Options &pool_timeout(std::chrono::milliseconds t) & {
    detail::check(pmc_options_set_pool_timeout_ms(o_, detail::to_ms(t, "pool_timeout"), detail::err()));
    return *this;
  }
  /// pool_timeout() on a temporary Options, which it returns as an rvalue.
  Options &&pool_timeout(std::chrono::milliseconds t) && { return std::move(pool_timeout(t)); }
  /// Close pooled connections idle longer than this; 0 = never (the default).
  Options &pool_idle_timeout(std::chrono::milliseconds t) & {
    detail::check(
        pmc_options_set_pool_idle_timeout_ms(o_, detail::to_ms(t, "pool_idle_timeout"), detail::err()));
    return *this;
  }
  /// pool_idle_timeout() on a temporary Options, which it returns as an rvalue.
  Options &&pool_idle_timeout(std::chrono::milliseconds t) && {
    return std::move(pool_idle_timeout(t));
  }
  /// An in-memory mock client (pymemcache's MockMemcacheClient) with
  /// memcached 1.6's semantics, for unit tests; servers are ignored.
  Options &mock(bool on = true) & {
    detail::check(pmc_options_set_mock(o_, on, detail::err()));
    return *this;
  }
  /// mock() on a temporary Options, which it returns as an rvalue.
  Options &&mock(bool on = true) && { return std::move(mock(on)); }
  /// A hash client even with one server (or none yet), so that servers can
  /// be added later.
  Options &use_hash_client(bool on = true) & {
    detail::check(pmc_options_set_use_hash_client(o_, on, detail::err()));
    return *this;
  }
  /// use_hash_client() on a temporary Options, which it returns as an rvalue.
  Options &&use_hash_client(bool on = true) && { return std::move(use_hash_client(on)); }
  /// Hash client: failed retries of a server before it is declared dead
  /// (default 2; 0 = dead at the first failure).
  Options &retry_attempts(std::uint32_t n) & {
    detail::check(pmc_options_set_retry_attempts(o_, n, detail::err()));
    return *this;
  }
  /// retry_attempts() on a temporary Options, which it returns as an rvalue.
  Options &&retry_attempts(std::uint32_t n) && { return std::move(retry_attempts(n)); }
  /// Hash client: least time between tries of a failed server (default 1 s).
  Options &retry_timeout(std::chrono::milliseconds t) & {
    detail::check(pmc_options_set_retry_timeout_ms(o_, detail::to_ms(t, "retry_timeout"), detail::err()));
    return *this;
  }
  /// retry_timeout() on a temporary Options, which it returns as an rvalue.
  Options &&retry_timeout(std::chrono::milliseconds t) && { return std::move(retry_timeout(t)); }
  /// Hash client: how long a dead server stays out of the hash (default 60 s).
  Options &dead_timeout(std::chrono::milliseconds t) & {
    detail::check(pmc_options_set_dead_timeout_ms(o_, detail::to_ms(t, "dead_timeout"), detail::err()));
    return *this;
  }
  /// dead_timeout() on a temporary Options, which it returns as an rvalue.
  Options &&dead_timeout(std::chrono::milliseconds t) && { return std::move(dead_timeout(t)); }
  /// Hash client: mcrouter-style failure tracking instead of the retry /
  /// dead-server policy: soft-down after `threshold` consecutive connection
  /// failures (its keys fail fast, or with `fallback_to_next` go to their
  /// next server), probed after `initial` (doubling to `max`, ±20% jitter).
  /// Throws CallerError (PMC_CONFIG_ERROR) for threshold 0 or max < initial.
  Options &failure_tracking(std::uint32_t threshold, std::chrono::milliseconds initial,
                            std::chrono::milliseconds max, bool fallback_to_next = false) & {
    detail::check(pmc_options_set_hash_failure_tracking(
        o_, threshold, detail::to_ms(initial, "initial_backoff"), detail::to_ms(max, "max_backoff"),
        fallback_to_next, detail::err()));
    return *this;
  }
  /// failure_tracking() on a temporary Options, which it returns as an rvalue.
  Options &&failure_tracking(std::uint32_t threshold, std::chrono::milliseconds initial,
                             std::chrono::milliseconds max, bool fallback_to_next = false) && {
    return std::move(failure_tracking(threshold, initial, max, fallback_to_next));
  }
  /// Failure tracking: call `cb(user, server, from, to, cause)` on every
  /// server state change (PMC_NODE_*, PMC_NODE_CAUSE_*), on the thread whose
  /// command caused it; `cb` and `user` must outlive the client. nullptr
  /// removes it.
  Options &hash_state_callback(pmc_node_state_fn cb, void *user) & {
    detail::check(pmc_options_set_hash_state_callback(o_, cb, user, detail::err()));
    return *this;
  }
  /// hash_state_callback() on a temporary Options, which it returns as an rvalue.
  Options &&hash_state_callback(pmc_node_state_fn cb, void *user) && {
    return std::move(hash_state_callback(cb, user));
  }
  /// Hash client: place keys as pymemcache does when the fleet's Python
  /// services pass them as `str` (KeyForm::Text, the default) or as `bytes`
  /// (KeyForm::PythonBytes: pymemcache then hashes the repr, `b'key'`).
  Options &hash_key_form(KeyForm form) & {
    detail::check(pmc_options_set_hash_key_form(o_, static_cast<pmc_key_form>(form), detail::err()));
    return *this;
  }
  /// hash_key_form() on a temporary Options, which it returns as an rvalue.
  Options &&hash_key_form(KeyForm form) && { return std::move(hash_key_form(form)); }
  /// Prepend `prefix` to every key (it counts toward the 250-byte limit); an
  /// empty prefix removes it. Throws CallerError (PMC_CONFIG_ERROR) if the
  /// prefix itself is not a legal key.
  Options &key_prefix(bytes_view prefix) & {
    detail::check(pmc_options_set_key_prefix(o_, detail::ptr(prefix), prefix.size(), detail::err()));
    return *this;
  }
  /// key_prefix() on a temporary Options, which it returns as an rvalue.
  Options &&key_prefix(bytes_view prefix) && { return std::move(key_prefix(prefix)); }
  /// pymemcache's CompressedSerde: values longer than `min_compress_len`
  /// bytes are stored zlib-compressed (flag 8 added) when that makes them
  /// shorter, and values read with flag 8 are decompressed.
  /// `min_compress_len` 0 only decompresses.
  Options &compression(bool enabled = true,
                       std::size_t min_compress_len = PMC_DEFAULT_MIN_COMPRESS_LEN) & {
    detail::check(pmc_options_set_compression(o_, enabled, min_compress_len, detail::err()));
    return *this;
  }
  /// compression() on a temporary Options, which it returns as an rvalue.
  Options &&compression(bool enabled = true,
                        std::size_t min_compress_len = PMC_DEFAULT_MIN_COMPRESS_LEN) && {
    return std::move(compression(enabled, min_compress_len));
  }
  /// Run every value through `serde` (see Serde); null removes it. Clients
  /// made from these options share ownership of it, so it lives as long as
  /// the last of them.
  Options &serde(std::shared_ptr<const Serde> object) & {
    if (object)
      detail::check(pmc_options_set_serde(o_, &detail::serde_call<true>,
                                          &detail::serde_call<false>,
                                          const_cast<Serde *>(object.get()), detail::err()));
    else
      detail::check(pmc_options_set_serde(o_, nullptr, nullptr, nullptr, detail::err()));
    serde_ = std::move(object);
    return *this;
  }
  /// serde() on a temporary Options, which it returns as an rvalue.
  Options &&serde(std::shared_ptr<const Serde> object) && {
    return std::move(serde(std::move(object)));
  }

  /// The C handle, still owned by this object.
  pmc_options *native_handle() const noexcept { return o_; }
  /// The Serde set with serde(), if any.
  const std::shared_ptr<const Serde> &serde_object() const noexcept { return serde_; }

 private:
  pmc_options *o_;
  std::shared_ptr<const Serde> serde_;
};

/// How Client::retrying retries (pymemcache's RetryingClient arguments).
struct RetryOptions {
  /// Tries per command, at least 1 (pymemcache's default: 2).
  std::uint32_t attempts = 2;
  /// Pause between tries.
  std::chrono::milliseconds retry_delay{0};
  /// Error statuses that are retried; empty = every error.
  std::vector<pmc_status> retry_for;
  /// Error statuses never retried.
  std::vector<pmc_status> do_not_retry_for;
};

// ---- the client ---------------------------------------------------------------

/// A memcached client with pymemcache's commands and return values. Which
/// kind (single server, pooled, hash, mock) follows from the Options;
/// Client::fallback and Client::retrying make clients of clients. Owns a
/// pmc_client; move-only. May be used from several threads at once.
///
/// Expiry times (`expire`) are seconds, or a unix time; 0 = never. Every
/// command throws an Error subclass for errors; the outcomes pymemcache
/// returns as None/False are return values.
class Client {
 public:
  /// A client as `options` describe; no connection is made until the first
  /// command. Throws CallerError (PMC_CONFIG_ERROR) for options that do not
  /// make a client (no server, a server given twice, ...).
  explicit Client(const Options &options) {
    detail::check(pmc_client_new(options.native_handle(), &c_, detail::err()));
    if (options.serde_object()) serdes_.push_back(options.serde_object());
  }
  /// A single-server client for `server` with the default options.
  explicit Client(std::string_view server) : Client(Options().add_server(server)) {}
  /// Take the other's connection(s); the other is left empty (commands on
  /// it throw CallerError with PMC_NULL_ARGUMENT; it may be destroyed or
  /// assigned to).
  Client(Client &&o) noexcept
      : c_(std::exchange(o.c_, nullptr)), serdes_(std::move(o.serdes_)) {}
  /// Close ours, take the other's; the other is left empty.
  Client &operator=(Client &&o) noexcept {
    if (this != &o) {
      pmc_client_free(c_);
      c_ = std::exchange(o.c_, nullptr);
      serdes_ = std::move(o.serdes_);
    }
    return *this;
  }
  /// Not copyable: it owns its C handle (move it instead).
  Client(const Client &) = delete;
  /// Not copy-assignable: it owns its C handle (move it instead).
  Client &operator=(const Client &) = delete;
  /// Close the connections and release the client (no other thread may
  /// still be using it).
  ~Client() { pmc_client_free(c_); }

  /// A fallback client (pymemcache's FallbackClient) over `clients`: writes
  /// go to the first, reads take each key from the first client that has
  /// it. On success it owns the clients (the vector is emptied); on an
  /// exception (CallerError: no clients, or an empty one) they stay in the
  /// vector, untouched.
  static Client fallback(std::vector<Client> &&clients) {
    std::vector<Client *> list;
    list.reserve(clients.size());
    for (Client &c : clients) list.push_back(&c);
    Client f = fallback_of(list);
    clients.clear();
    return f;
  }
  /// fallback() of the clients given as arguments:
  /// Client::fallback(std::move(new_cluster), std::move(old_cluster)).
  /// On an exception they are left untouched.
  template <class... Rest,
            class = std::enable_if_t<(std::is_same_v<Rest, Client> && ...)>>
  static Client fallback(Client &&first, Rest &&...rest) {
    std::vector<Client *> list{&first, &rest...};
    return fallback_of(list);
  }
  /// A retrying client (pymemcache's RetryingClient) around `inner`: each
  /// command runs up to options.attempts times while its error status is
  /// retried. On success it owns `inner` (left empty); on an exception
  /// (CallerError: attempts 0, a status in both lists or not an error)
  /// `inner` is untouched.
  static Client retrying(Client &&inner, const RetryOptions &options = RetryOptions()) {
    Client r;
    detail::check(pmc_client_new_retrying(
        inner.c_, options.attempts, detail::to_ms(options.retry_delay, "retry_delay"),
        options.retry_for.data(), options.retry_for.size(), options.do_not_retry_for.data(),
        options.do_not_retry_for.size(), &r.c_, detail::err()));
    inner.c_ = nullptr;
    r.serdes_ = std::move(inner.serdes_);
    return r;
  }

  // -- retrieval --

  /// `get`: the value of `key`, or std::nullopt on a miss.
  [[nodiscard]] std::optional<Value> get(bytes_view key) const {
    return read(pmc_get, key);
  }
  /// `gets`: as get, with the CAS unique in Value::cas for cas().
  [[nodiscard]] std::optional<Value> gets(bytes_view key) const {
    return read(pmc_gets, key);
  }
  /// `gat`: get `key` and set its expiry to `expire`.
  [[nodiscard]] std::optional<Value> gat(bytes_view key, std::int64_t expire) const {
    detail::value_guard v;
    if (detail::check(pmc_gat(c_, detail::ptr(key), key.size(), expire, &v.v, detail::err())) == PMC_MISS)
      return std::nullopt;
    return Value{v.bytes(), v.v.flags, v.v.cas};
  }
  /// `gats`: gat with the CAS unique.
  [[nodiscard]] std::optional<Value> gats(bytes_view key, std::int64_t expire) const {
    detail::value_guard v;
    if (detail::check(pmc_gats(c_, detail::ptr(key), key.size(), expire, &v.v, detail::err())) == PMC_MISS)
      return std::nullopt;
    return Value{v.bytes(), v.v.flags, v.v.cas};
  }
  /// `get_many` of any range of keys (each converting to bytes_view), in one
  /// request: the hits, in request order. If any key is illegal nothing is
  /// sent (CallerError).
  template <class Keys, class = std::enable_if_t<!std::is_convertible_v<const Keys &, bytes_view>>>
  [[nodiscard]] Results get_many(const Keys &keys) const {
    return read_many(pmc_get_many, detail::key_arrays(keys));
  }
  /// get_many of a braced list: c.get_many({"a", "b"}).
  [[nodiscard]] Results get_many(std::initializer_list<bytes_view> keys) const {
    return read_many(pmc_get_many, detail::key_arrays(keys));
  }
  /// `gets_many`: get_many with CAS uniques.
  template <class Keys, class = std::enable_if_t<!std::is_convertible_v<const Keys &, bytes_view>>>
  [[nodiscard]] Results gets_many(const Keys &keys) const {
    return read_many(pmc_gets_many, detail::key_arrays(keys));
  }
  /// gets_many of a braced list.
  [[nodiscard]] Results gets_many(std::initializer_list<bytes_view> keys) const {
    return read_many(pmc_gets_many, detail::key_arrays(keys));
  }

  // -- storage --

  /// `set`: store the value. True (pymemcache returns True; false only if
  /// a server answers NOT_STORED).
  bool set(bytes_view key, bytes_view value, std::int64_t expire = 0,
           Reply reply = Reply::Default, std::uint32_t flags = 0) const {
    return store(pmc_set, key, value, expire, reply, flags);
  }
  /// `add`: store only if the key is absent; false if it exists (always
  /// true when not waiting for the reply).
  bool add(bytes_view key, bytes_view value, std::int64_t expire = 0,
           Reply reply = Reply::Default, std::uint32_t flags = 0) const {
    return store(pmc_add, key, value, expire, reply, flags);
  }
  /// `replace`: store only if the key exists; false if it does not.
  bool replace(bytes_view key, bytes_view value, std::int64_t expire = 0,
               Reply reply = Reply::Default, std::uint32_t flags = 0) const {
    return store(pmc_replace, key, value, expire, reply, flags);
  }
  /// `append`: add bytes after an existing value; false if there is none.
  bool append(bytes_view key, bytes_view value, std::int64_t expire = 0,
              Reply reply = Reply::Default, std::uint32_t flags = 0) const {
    return store(pmc_append, key, value, expire, reply, flags);
  }
  /// `prepend`: add bytes before an existing value; false if there is none.
  bool prepend(bytes_view key, bytes_view value, std::int64_t expire = 0,
               Reply reply = Reply::Default, std::uint32_t flags = 0) const {
    return store(pmc_prepend, key, value, expire, reply, flags);
  }
  /// `cas`: store only if the item's CAS unique is still `cas` (from gets).
  /// Waits for the reply by default.
  CasResult cas(bytes_view key, bytes_view value, std::uint64_t cas, std::int64_t expire = 0,
                Reply reply = Reply::Default, std::uint32_t flags = 0) const {
    pmc_status st = detail::check(pmc_cas(c_, detail::ptr(key), key.size(), detail::ptr(value),
                                          value.size(), cas, flags, expire,
                                          static_cast<pmc_reply>(reply), detail::err()));
    if (st == PMC_EXISTS) return CasResult::Exists;
    if (st == PMC_NOT_FOUND) return CasResult::NotFound;
    detail::expect(st);
    return CasResult::Stored;
  }
  /// `set_many` of any range of (key, value) pairs (std::map,
  /// std::vector<std::pair<...>>, ...; std::get<0> and <1> of each must
  /// convert to bytes_view), pipelined: the keys the server did not store
  /// (pymemcache's list of failed keys; empty when not waiting for
  /// replies). If any key is illegal nothing is sent.
  template <class Items>
  std::vector<std::string> set_many(const Items &items, std::int64_t expire = 0,
                                    Reply reply = Reply::Default,
                                    std::uint32_t flags = 0) const {
    detail::byte_arrays keys, values;
    std::size_t n = static_cast<std::size_t>(std::distance(std::begin(items), std::end(items)));
    keys.reserve(n);
    values.reserve(n);
    for (const auto &item : items) {
      keys.push(bytes_view(std::get<0>(item)));
      values.push(bytes_view(std::get<1>(item)));
    }
    return store_many(keys, values, expire, reply, flags);
  }
  /// set_many of a braced list: c.set_many({{"a", "1"}, {"b", "2"}}).
  std::vector<std::string> set_many(std::initializer_list<std::pair<bytes_view, bytes_view>> items,
                                    std::int64_t expire = 0, Reply reply = Reply::Default,
                                    std::uint32_t flags = 0) const {
    return set_many<std::initializer_list<std::pair<bytes_view, bytes_view>>>(items, expire, reply,
                                                                               flags);
  }

  // -- removal, counters, expiry --

  /// `delete` (a keyword in C++, hence the underscore): false if there was
  /// no such key (known only when waiting for the reply).
  bool delete_(bytes_view key, Reply reply = Reply::Default) const {
    pmc_status st = detail::check(
        pmc_delete(c_, detail::ptr(key), key.size(), static_cast<pmc_reply>(reply), detail::err()));
    if (st == PMC_NOT_FOUND) return false;
    detail::expect(st);
    return true;
  }
  /// `delete_many` of any range of keys, pipelined: how many existed (when
  /// not waiting for replies: how many were sent).
  template <class Keys, class = std::enable_if_t<!std::is_convertible_v<const Keys &, bytes_view>>>
  std::size_t delete_many(const Keys &keys, Reply reply = Reply::Default) const {
    return remove_many(detail::key_arrays(keys), reply);
  }
  /// delete_many of a braced list.
  std::size_t delete_many(std::initializer_list<bytes_view> keys,
                          Reply reply = Reply::Default) const {
    return remove_many(detail::key_arrays(keys), reply);
  }
  /// `incr`: add `delta` to a decimal counter (wrapping at 2^64): the new
  /// value, or std::nullopt if there is no such key (or with
  /// Reply::NoReply, as pymemcache). A value that is not a number throws
  /// ServerError (PMC_CLIENT_ERROR).
  std::optional<std::uint64_t> incr(bytes_view key, std::uint64_t delta,
                                    Reply reply = Reply::Default) const {
    return count(pmc_incr, key, delta, reply);
  }
  /// `decr`: subtract `delta` from a decimal counter (stopping at 0); as incr.
  std::optional<std::uint64_t> decr(bytes_view key, std::uint64_t delta,
                                    Reply reply = Reply::Default) const {
    return count(pmc_decr, key, delta, reply);
  }
  /// `touch`: set a new expiry; false if there is no such key. Reply::Default
  /// follows default_noreply (pymemcache's touch(noreply=None)): when it is
  /// on the reply is not waited for and the result is true.
  bool touch(bytes_view key, std::int64_t expire = 0, Reply reply = Reply::Default) const {
    pmc_status st = detail::check(
        pmc_touch(c_, detail::ptr(key), key.size(), expire, static_cast<pmc_reply>(reply), detail::err()));
    if (st == PMC_NOT_FOUND) return false;
    detail::expect(st);
    return true;
  }

  // -- server commands --

  /// `stats`, with optional arguments ("settings", "items", "slabs", ...):
  /// c.stats() or c.stats({"settings"}).
  [[nodiscard]] Stats stats(const std::vector<std::string> &args = {}) const {
    std::vector<std::string> owned;
    std::vector<const char *> argv;
    owned.reserve(args.size());
    argv.reserve(args.size());
    for (const std::string &a : args) {
      owned.push_back(detail::c_string(a, "stats argument"));
      argv.push_back(owned.back().c_str());
    }
    pmc_stats_list *s = nullptr;
    detail::expect(pmc_stats(c_, argv.empty() ? nullptr : argv.data(), argv.size(), &s, detail::err()));
    return Stats(s);
  }
  /// `version`: the server's version, e.g. "1.6.18".
  [[nodiscard]] std::string version() const {
    char *out = nullptr;
    detail::expect(pmc_version(c_, &out, detail::err()));
    detail::owned_c_string s(out);
    return s ? std::string(s.get()) : std::string();
  }
  /// `flush_all`: invalidate every item now, or after `delay` seconds.
  void flush_all(std::int64_t delay = 0, Reply reply = Reply::Default) const {
    detail::expect(pmc_flush_all(c_, delay, static_cast<pmc_reply>(reply), detail::err()));
  }
  /// `cache_memlimit`: set the server's memory limit in megabytes.
  void cache_memlimit(std::uint64_t megabytes) const {
    detail::expect(pmc_cache_memlimit(c_, megabytes, detail::err()));
  }
  /// Send one command line the client does not wrap (without "\r\n"; no
  /// "\r", "\n" or NUL in it) and read the reply up to `end_token`
  /// (excluded), e.g. raw_command("verbosity 1") or
  /// raw_command("stats detail dump", "END\r\n").
  std::string raw_command(std::string_view command, std::string_view end_token = "\r\n") const {
    detail::value_guard v;
    detail::expect(pmc_raw_command(c_, detail::ptr(command), command.size(),
                                   detail::ptr(end_token), end_token.size(), &v.v, detail::err()));
    return v.bytes();
  }
  /// `shutdown [graceful]`: ask the server to exit (it must run with -A;
  /// otherwise ServerError, PMC_UNKNOWN_COMMAND).
  void shutdown(bool graceful = false) const { detail::expect(pmc_shutdown(c_, graceful, detail::err())); }
  /// `quit`: say goodbye and close the connection; the next command
  /// reconnects.
  void quit() const { detail::expect(pmc_quit(c_, detail::err())); }
  /// Close the connections without a word to the server; the next command
  /// reconnects.
  void close() const { detail::expect(pmc_close(c_, detail::err())); }

  // -- client kinds --

  /// A pooled client's connection counts (CallerError, PMC_INVALID_ARGUMENT,
  /// for a client without a pool).
  PoolStats pool_stats() const {
    pmc_pool_stats s{};
    detail::expect(pmc_client_pool_stats(c_, &s, detail::err()));
    return PoolStats{s.in_use, s.free, s.created, s.destroyed};
  }
  /// Every server's metrics now (empty with Options::metrics(false)).
  std::vector<ServerMetrics> metrics() const {
    pmc_metrics *m = nullptr;
    detail::expect(pmc_metrics_snapshot(c_, &m, detail::err()));
    return detail::read_metrics(m);
  }
  /// Every server's metrics in Prometheus text exposition format.
  std::string metrics_prometheus() const {
    pmc_metrics *m = nullptr;
    detail::expect(pmc_metrics_snapshot(c_, &m, detail::err()));
    return detail::metrics_text(m);
  }
  /// Zero every server's counters.
  void metrics_reset() const { detail::expect(pmc_metrics_reset(c_, detail::err())); }
  /// Close every free connection of a pooled client (for other clients:
  /// close()).
  void pool_clear() const { detail::expect(pmc_client_pool_clear(c_, detail::err())); }
  /// Hash client: add a server while in use; the keys rendezvous hashing
  /// gives it move to it.
  void add_server(std::string_view server) const {
    detail::expect(pmc_client_add_server(c_, detail::c_string(server, "server").c_str(), detail::err()));
  }
  /// Hash client: remove a server while in use; its keys move to the others.
  void remove_server(std::string_view server) const {
    detail::expect(pmc_client_remove_server(c_, detail::c_string(server, "server").c_str(), detail::err()));
  }
  /// Failure tracking: `server`'s state (PMC_NODE_*) and counters
  /// (CallerError, PMC_INVALID_ARGUMENT, without failure tracking or for an
  /// unknown server).
  [[nodiscard]] pmc_node_health node_state(std::string_view server) const {
    pmc_node_health h{};
    detail::expect(pmc_client_node_state(c_, detail::c_string(server, "server").c_str(), &h, detail::err()));
    return h;
  }
  /// The server `key` is placed on ("host:port" or a socket path), the one
  /// pymemcache would pick.
  [[nodiscard]] std::string server_for_key(bytes_view key) const {
    char *out = nullptr;
    detail::expect(pmc_client_server_for_key(c_, detail::ptr(key), key.size(), &out, detail::err()));
    detail::owned_c_string s(out);
    return s ? std::string(s.get()) : std::string();
  }

  // -- values shared with Python services --

  /// Store UTF-8 text with flag 16, as pymemcache stores a str
  /// (CallerError, PMC_INVALID_ARGUMENT, if it is not UTF-8). Returns as set.
  bool set_text(bytes_view key, std::string_view text, std::int64_t expire = 0,
                Reply reply = Reply::Default) const {
    return stored(pmc_set_text(c_, detail::ptr(key), key.size(), text.empty() ? "" : text.data(),
                               text.size(), expire, static_cast<pmc_reply>(reply), detail::err()));
  }
  /// Read text (a pymemcache str, or flag-0 bytes that are UTF-8), or
  /// std::nullopt on a miss; ValueError (PMC_NOT_TEXT) for other values.
  [[nodiscard]] std::optional<std::string> get_text(bytes_view key) const {
    detail::value_guard v;
    if (detail::check(pmc_get_text(c_, detail::ptr(key), key.size(), &v.v, detail::err())) == PMC_MISS)
      return std::nullopt;
    return v.bytes();
  }
  /// Store an integer as decimal text with flag 2, as pymemcache stores an
  /// int. Returns as set.
  bool set_int64(bytes_view key, std::int64_t value, std::int64_t expire = 0,
                 Reply reply = Reply::Default) const {
    return stored(pmc_set_int64(c_, detail::ptr(key), key.size(), value, expire,
                                static_cast<pmc_reply>(reply), detail::err()));
  }
  /// Read an integer (flag 2 or 4, or flag-0 decimal text such as a
  /// counter), or std::nullopt on a miss; ValueError (PMC_NOT_INTEGER) for
  /// other values or beyond 64 bits.
  [[nodiscard]] std::optional<std::int64_t> get_int64(bytes_view key) const {
    std::int64_t out = 0;
    if (detail::check(pmc_get_int64(c_, detail::ptr(key), key.size(), &out, detail::err())) == PMC_MISS)
      return std::nullopt;
    return out;
  }
  /// Store JSON the way pymemcache's default serializer stores the Python
  /// object it stands for (string -> str, integer -> int,
  /// {"$bytes":"<hex>"} -> bytes, anything else -> a pickle); ValueError
  /// (PMC_CORRUPT_VALUE) if it is not JSON. Returns as set.
  bool set_json(bytes_view key, std::string_view json, std::int64_t expire = 0,
                Reply reply = Reply::Default) const {
    return stored(pmc_set_json(c_, detail::ptr(key), key.size(),
                               detail::c_string(json, "json").c_str(), expire,
                               static_cast<pmc_reply>(reply), detail::err()));
  }
  /// Read any value a pymemcache service stored as JSON (pickles of plain
  /// data included), or std::nullopt on a miss; ValueError for pickles of
  /// class instances (PMC_UNSUPPORTED_PICKLE) or corrupt values.
  [[nodiscard]] std::optional<std::string> get_json(bytes_view key) const {
    char *out = nullptr;
    if (detail::check(pmc_get_json(c_, detail::ptr(key), key.size(), &out, detail::err())) == PMC_MISS)
      return std::nullopt;
    detail::owned_c_string s(out);
    return s ? std::string(s.get()) : std::string();
  }

  // -- stampede control (memcached 1.6.10+: the meta protocol) --

  /// What get_or_lock found: the state (PMC_LEASE_HIT, _STALE, _MISS_WON,
  /// _STALE_WON, _MISS_BUSY) and the value, for HIT, STALE and STALE_WON.
  struct Lease {
    /// One of the PMC_LEASE_* values.
    pmc_lease state = PMC_LEASE_NONE;
    /// The value served (fresh or stale), if any.
    std::optional<Value> value;
  };
  /// Read `key` or win the right to recompute it (see pmc_get_or_lock):
  /// on a miss exactly one caller gets PMC_LEASE_MISS_WON and must set()
  /// the value; the others get PMC_LEASE_MISS_BUSY until then.
  [[nodiscard]] Lease get_or_lock(bytes_view key, std::int64_t lock_ttl,
                                  std::int64_t recache_below = 0) const {
    detail::value_guard v;
    Lease l;
    detail::expect(pmc_get_or_lock(c_, detail::ptr(key), key.size(), lock_ttl, recache_below,
                                   &l.state, &v.v, detail::err()));
    if (l.state == PMC_LEASE_HIT || l.state == PMC_LEASE_STALE || l.state == PMC_LEASE_STALE_WON)
      l.value = Value{v.bytes(), v.v.flags, v.v.cas};
    return l;
  }
  /// Mark `key` stale for `stale_ttl` seconds: the next get_or_lock wins
  /// the recompute, the others are served the old value. False if missing.
  bool invalidate(bytes_view key, std::int64_t stale_ttl) const {
    pmc_status st = detail::check(
        pmc_invalidate(c_, detail::ptr(key), key.size(), stale_ttl, detail::err()));
    if (st == PMC_NOT_FOUND) return false;
    detail::expect(st);
    return true;
  }

  // -- the handle --

  /// Whether this object holds a client (false once moved from).
  explicit operator bool() const noexcept { return c_ != nullptr; }
  /// The C handle, still owned by this object (for pmc_* calls the wrapper
  /// does not make).
  pmc_client *native_handle() const noexcept { return c_; }

 private:
  Client() noexcept = default;

  using read_fn = pmc_status (*)(const pmc_client *, const std::uint8_t *, std::size_t,
                                 pmc_value *, pmc_error **);
  using read_many_fn = pmc_status (*)(const pmc_client *, const std::uint8_t *const *,
                                      const std::size_t *, std::size_t, pmc_results **,
                                      pmc_error **);
  using store_fn = pmc_status (*)(const pmc_client *, const std::uint8_t *, std::size_t,
                                  const std::uint8_t *, std::size_t, std::uint32_t,
                                  std::int64_t, pmc_reply, pmc_error **);
  using count_fn = pmc_status (*)(const pmc_client *, const std::uint8_t *, std::size_t,
                                  std::uint64_t, pmc_reply, std::uint64_t *, pmc_error **);

  static Client fallback_of(const std::vector<Client *> &clients) {
    std::vector<pmc_client *> handles;
    handles.reserve(clients.size());
    for (Client *c : clients) handles.push_back(c->c_);
    Client f;
    detail::check(pmc_client_new_fallback(handles.data(), handles.size(), &f.c_, detail::err()));
    // The fallback client owns the C handles now.
    for (Client *c : clients) {
      c->c_ = nullptr;
      for (auto &s : c->serdes_) f.serdes_.push_back(std::move(s));
      c->serdes_.clear();
    }
    return f;
  }

  std::optional<Value> read(read_fn fn, bytes_view key) const {
    detail::value_guard v;
    if (detail::check(fn(c_, detail::ptr(key), key.size(), &v.v, detail::err())) == PMC_MISS)
      return std::nullopt;
    return Value{v.bytes(), v.v.flags, v.v.cas};
  }

  Results read_many(read_many_fn fn, const detail::byte_arrays &keys) const {
    pmc_results *r = nullptr;
    detail::expect(fn(c_, keys.ptrs.data(), keys.lens.data(), keys.size(), &r, detail::err()));
    return Results(r);
  }

  bool store(store_fn fn, bytes_view key, bytes_view value, std::int64_t expire, Reply reply,
             std::uint32_t flags) const {
    return stored(fn(c_, detail::ptr(key), key.size(), detail::ptr(value), value.size(), flags,
                     expire, static_cast<pmc_reply>(reply), detail::err()));
  }

  // True for PMC_OK, false for PMC_NOT_STORED; throws for errors.
  static bool stored(pmc_status st) {
    if (detail::check(st) == PMC_NOT_STORED) return false;
    detail::expect(st);
    return true;
  }

  std::vector<std::string> store_many(const detail::byte_arrays &keys,
                                      const detail::byte_arrays &values, std::int64_t expire,
                                      Reply reply, std::uint32_t flags) const {
    std::vector<std::size_t> failed(keys.size());
    std::size_t n_failed = 0;
    detail::expect(pmc_set_many(c_, keys.ptrs.data(), keys.lens.data(), values.ptrs.data(),
                                values.lens.data(), keys.size(), flags, expire,
                                static_cast<pmc_reply>(reply), failed.data(), &n_failed, detail::err()),
                   {PMC_NOT_STORED});
    std::vector<std::string> failed_keys;
    failed_keys.reserve(n_failed);
    for (std::size_t i = 0; i < n_failed; i++) {
      std::size_t k = failed[i];
      failed_keys.emplace_back(reinterpret_cast<const char *>(keys.ptrs[k]), keys.lens[k]);
    }
    return failed_keys;
  }

  std::size_t remove_many(const detail::byte_arrays &keys, Reply reply) const {
    std::size_t deleted = 0;
    detail::expect(pmc_delete_many(c_, keys.ptrs.data(), keys.lens.data(), keys.size(),
                                   static_cast<pmc_reply>(reply), &deleted, detail::err()));
    return deleted;
  }

  std::optional<std::uint64_t> count(count_fn fn, bytes_view key, std::uint64_t delta,
                                     Reply reply) const {
    std::uint64_t value = 0;
    pmc_status st = detail::check(
        fn(c_, detail::ptr(key), key.size(), delta, static_cast<pmc_reply>(reply), &value,
           detail::err()));
    if (st == PMC_NOT_FOUND) return std::nullopt;
    detail::expect(st);
    if (reply == Reply::NoReply) return std::nullopt;
    return value;
  }

  pmc_client *c_ = nullptr;
  // The Serde objects the C client calls into: alive as long as it is.
  std::vector<std::shared_ptr<const Serde>> serdes_;
};

/// Many commands run together (pmc_batch): queue them, execute() them on a
/// client with one write and one read pass per server (the meta protocol),
/// then read each command's own result in request order. Reuse it with
/// clear(): its buffers are kept. One thread at a time.
class Batch {
 public:
  /// The result of one command, borrowed from the batch until it is
  /// executed again, cleared or destroyed.
  using Result = pmc_op_result;

  /// An empty batch.
  Batch() { detail::check(pmc_batch_new(&b_, detail::err())); }
  /// Take the other's batch; the other is left empty.
  Batch(Batch &&o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  /// Release ours, take the other's.
  Batch &operator=(Batch &&o) noexcept {
    if (this != &o) {
      pmc_batch_free(b_);
      b_ = std::exchange(o.b_, nullptr);
    }
    return *this;
  }
  /// Not copyable.
  Batch(const Batch &) = delete;
  /// Not copy-assignable.
  Batch &operator=(const Batch &) = delete;
  /// Release the batch.
  ~Batch() { pmc_batch_free(b_); }

  /// Queue a get; every queue call returns the command's position.
  std::size_t get(bytes_view key) { return key_only(pmc_batch_get, key); }
  /// Queue a gets (the result carries the CAS unique).
  std::size_t gets(bytes_view key) { return key_only(pmc_batch_gets, key); }
  /// Queue a delete.
  std::size_t delete_(bytes_view key) { return key_only(pmc_batch_delete, key); }
  /// Queue a gat.
  std::size_t gat(bytes_view key, std::int64_t expire) {
    return at(pmc_batch_gat(b_, detail::ptr(key), key.size(), expire, detail::err()));
  }
  /// Queue a touch.
  std::size_t touch(bytes_view key, std::int64_t expire) {
    return at(pmc_batch_touch(b_, detail::ptr(key), key.size(), expire, detail::err()));
  }
  /// Queue a set.
  std::size_t set(bytes_view key, bytes_view value, std::int64_t expire = 0,
                  std::uint32_t flags = 0) {
    return store(pmc_batch_set, key, value, expire, flags);
  }
  /// Queue an add.
  std::size_t add(bytes_view key, bytes_view value, std::int64_t expire = 0,
                  std::uint32_t flags = 0) {
    return store(pmc_batch_add, key, value, expire, flags);
  }
  /// Queue a replace.
  std::size_t replace(bytes_view key, bytes_view value, std::int64_t expire = 0,
                      std::uint32_t flags = 0) {
    return store(pmc_batch_replace, key, value, expire, flags);
  }
  /// Queue an append.
  std::size_t append(bytes_view key, bytes_view value) {
    return at(pmc_batch_append(b_, detail::ptr(key), key.size(), detail::ptr(value),
                               value.size(), detail::err()));
  }
  /// Queue a prepend.
  std::size_t prepend(bytes_view key, bytes_view value) {
    return at(pmc_batch_prepend(b_, detail::ptr(key), key.size(), detail::ptr(value),
                                value.size(), detail::err()));
  }
  /// Queue a cas.
  std::size_t cas(bytes_view key, bytes_view value, std::uint64_t cas, std::int64_t expire = 0,
                  std::uint32_t flags = 0) {
    return at(pmc_batch_cas(b_, detail::ptr(key), key.size(), detail::ptr(value), value.size(),
                            cas, flags, expire, detail::err()));
  }
  /// Queue an incr.
  std::size_t incr(bytes_view key, std::uint64_t delta) {
    return at(pmc_batch_incr(b_, detail::ptr(key), key.size(), delta, detail::err()));
  }
  /// Queue a decr.
  std::size_t decr(bytes_view key, std::uint64_t delta) {
    return at(pmc_batch_decr(b_, detail::ptr(key), key.size(), delta, detail::err()));
  }
  /// Queue a stampede-controlled read (Client::get_or_lock).
  std::size_t get_or_lock(bytes_view key, std::int64_t lock_ttl, std::int64_t recache_below = 0) {
    return at(pmc_batch_get_or_lock(b_, detail::ptr(key), key.size(), lock_ttl, recache_below,
                                    detail::err()));
  }
  /// Queue an invalidation (Client::invalidate).
  std::size_t invalidate(bytes_view key, std::int64_t stale_ttl) {
    return at(pmc_batch_invalidate(b_, detail::ptr(key), key.size(), stale_ttl, detail::err()));
  }
  /// Queue a generic meta command ("mg", "ms", "md", "ma") with its flags
  /// as protocol tokens ("v f t N30"); `value` is the data block of "ms".
  std::size_t meta(const char *command, bytes_view key, const char *flags,
                   bytes_view value = {}) {
    return at(pmc_batch_meta(b_, command, detail::ptr(key), key.size(), flags, value.data(),
                             value.size(), detail::err()));
  }

  /// Run the queued commands on `client`; each gets its own result.
  void execute(const Client &client) {
    detail::check(pmc_batch_execute(client.native_handle(), b_, detail::err()));
  }
  /// The number of commands queued.
  std::size_t size() const noexcept { return pmc_batch_len(b_); }
  /// The result of command `i` after execute() (CallerError if none).
  Result result(std::size_t i) const {
    Result r{};
    detail::check(pmc_batch_result(b_, i, &r, detail::err()));
    return r;
  }
  /// Every result of the last execute(), in request order.
  std::vector<Result> results() const {
    std::size_t n = 0;
    const Result *r = pmc_batch_results(b_, &n);
    return std::vector<Result>(r, r + n);
  }
  /// The value of a result as a string_view (borrowed from the batch).
  static std::string_view value(const Result &r) noexcept {
    return std::string_view(reinterpret_cast<const char *>(r.value), r.value_len);
  }
  /// Forget the commands and results, keeping the memory.
  void clear() noexcept { pmc_batch_clear(b_); }
  /// The C handle, still owned by this object.
  pmc_batch *native_handle() const noexcept { return b_; }

 private:
  using key_fn = pmc_status (*)(pmc_batch *, const std::uint8_t *, std::size_t, pmc_error **);
  using store_fn = pmc_status (*)(pmc_batch *, const std::uint8_t *, std::size_t,
                                  const std::uint8_t *, std::size_t, std::uint32_t, std::int64_t,
                                  pmc_error **);
  std::size_t at(pmc_status st) {
    detail::check(st);
    return pmc_batch_len(b_) - 1;
  }
  std::size_t key_only(key_fn fn, bytes_view key) {
    return at(fn(b_, detail::ptr(key), key.size(), detail::err()));
  }
  std::size_t store(store_fn fn, bytes_view key, bytes_view value, std::int64_t expire,
                    std::uint32_t flags) {
    return at(fn(b_, detail::ptr(key), key.size(), detail::ptr(value), value.size(), flags,
                 expire, detail::err()));
  }

  pmc_batch *b_ = nullptr;
};

/// The non-blocking client (pmc_async_*) for an event loop: submit
/// operations with a token (never blocks), wait on watches() for at most
/// timeout_ms(), step() on what is ready, and take completions with next().
/// Starts no thread; use it from one thread. See README "Non-blocking".
class Async {
 public:
  /// A finished operation, copied out of the library's completion.
  struct Completion {
    /// The token it was submitted with.
    std::uint64_t token = 0;
    /// PMC_OK, PMC_MISS, PMC_NOT_STORED, PMC_NOT_FOUND or an error status.
    pmc_status status = PMC_OK;
    /// A get hit's value.
    std::string value;
    /// A get hit's client flags.
    std::uint32_t flags = 0;
    /// The error message for an error status (10 and above), else "".
    std::string error;
  };

  /// A client for `servers` (several: placed as a hash client places keys);
  /// `opts` may be null (defaults). Connects nothing yet. Throws
  /// CallerError for bad servers or options.
  explicit Async(const std::vector<std::string> &servers, const Options *opts = nullptr) {
    std::vector<std::string> owned;
    std::vector<const char *> ptrs;
    owned.reserve(servers.size());
    for (const std::string &s : servers) owned.push_back(detail::c_string(s, "server"));
    for (const std::string &s : owned) ptrs.push_back(s.c_str());
    detail::check(pmc_async_new(ptrs.data(), ptrs.size(),
                                opts != nullptr ? opts->native_handle() : nullptr, &a_,
                                detail::err()));
  }
  /// Take the other's client; the other is left empty.
  Async(Async &&o) noexcept : a_(std::exchange(o.a_, nullptr)) {}
  /// Release ours (dropping what is in flight), take the other's.
  Async &operator=(Async &&o) noexcept {
    if (this != &o) {
      pmc_async_free(a_);
      a_ = std::exchange(o.a_, nullptr);
    }
    return *this;
  }
  /// Not copyable.
  Async(const Async &) = delete;
  /// Not copy-assignable.
  Async &operator=(const Async &) = delete;
  /// Close the sockets and drop everything in flight.
  ~Async() { pmc_async_free(a_); }

  /// Submit a get (timeout 0: the client's default).
  void get(bytes_view key, std::uint64_t token, std::chrono::milliseconds timeout = {}) {
    detail::check(pmc_async_get(a_, detail::ptr(key), key.size(), token,
                                detail::to_ms(timeout, "timeout"), detail::err()));
  }
  /// Submit a set.
  void set(bytes_view key, bytes_view value, std::uint64_t token, std::int64_t expire = 0,
           std::uint32_t flags = 0, std::chrono::milliseconds timeout = {}) {
    detail::check(pmc_async_set(a_, detail::ptr(key), key.size(), value.data(), value.size(),
                                flags, expire, token, detail::to_ms(timeout, "timeout"),
                                detail::err()));
  }
  /// Submit a delete.
  void delete_(bytes_view key, std::uint64_t token, std::chrono::milliseconds timeout = {}) {
    detail::check(pmc_async_delete(a_, detail::ptr(key), key.size(), token,
                                   detail::to_ms(timeout, "timeout"), detail::err()));
  }
  /// Submit a whole batch; leave it alone until its completion is taken,
  /// then read its results as after Batch::execute.
  void batch(Batch &b, std::uint64_t token, std::chrono::milliseconds timeout = {}) {
    detail::check(pmc_async_batch(a_, b.native_handle(), token,
                                  detail::to_ms(timeout, "timeout"), detail::err()));
  }
  /// The descriptors to watch now (ask again after every submit and step).
  std::vector<pmc_watch> watches() const {
    std::vector<pmc_watch> w(pmc_async_watches(a_, nullptr, 0));
    w.resize(pmc_async_watches(a_, w.data(), w.size()));
    return w;
  }
  /// Milliseconds until the next deadline; -1: none pending.
  int timeout_ms() const noexcept { return pmc_async_timeout_ms(a_); }
  /// Make progress on `fd` (-1: every connection) for `events`.
  void step(int fd = -1, int events = PMC_WANT_READ | PMC_WANT_WRITE) {
    detail::check(pmc_async_step(a_, fd, events, detail::err()));
  }
  /// The oldest completion, if any.
  std::optional<Completion> next() {
    pmc_completion c{};
    if (pmc_async_next(a_, &c) == 0) return std::nullopt;
    Completion out;
    out.token = c.token;
    out.status = c.status;
    if (c.value != nullptr) out.value.assign(reinterpret_cast<const char *>(c.value), c.value_len);
    out.flags = c.flags;
    if (c.error != nullptr) out.error = pmc_error_message(c.error);
    pmc_completion_clear(&c);
    return out;
  }
  /// Cancel everything with `token`; returns how many.
  std::size_t cancel(std::uint64_t token) noexcept { return pmc_async_cancel(a_, token); }
  /// Operations submitted, not yet completed or cancelled.
  std::size_t pending() const noexcept { return pmc_async_pending(a_); }
  /// Every server's metrics now, in the order of the servers given (empty
  /// with Options::metrics(false)): a request per operation and per batch
  /// command, latency from submit to completion; cancelled operations are
  /// not counted.
  std::vector<ServerMetrics> metrics() const {
    pmc_metrics *m = nullptr;
    detail::expect(pmc_async_metrics_snapshot(a_, &m, detail::err()));
    return detail::read_metrics(m);
  }
  /// Every server's metrics in Prometheus text exposition format.
  std::string metrics_prometheus() const {
    pmc_metrics *m = nullptr;
    detail::expect(pmc_async_metrics_snapshot(a_, &m, detail::err()));
    return detail::metrics_text(m);
  }
  /// Zero every server's counters.
  void metrics_reset() const { detail::expect(pmc_async_metrics_reset(a_, detail::err())); }
  /// The C handle, still owned by this object.
  pmc_async *native_handle() const noexcept { return a_; }

 private:
  pmc_async *a_ = nullptr;
};

}  // namespace pymemcache

#endif /* PYMEMCACHE_HPP */
