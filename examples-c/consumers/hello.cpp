// hello.cpp: a C++ program built against an installed libpymemcache only,
// through find_package(pymemcache CONFIG) (cmake/CMakeLists.txt beside this
// file), linked once to pymemcache::pymemcache and once to
// pymemcache::pymemcache_static. It stores a value on the server named by
// argv[1], reads it back and prints it.
//
// It includes the C header for now. The C++ header, include/pymemcache.hpp,
// is installed beside it as soon as it exists (install-consumers-test.sh
// checks every header of include/ is installed); switching this program to
// it is the include line below.
#include <pymemcache.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

// Frees the client however main returns.
struct Client {
  pmc_client *c = nullptr;
  Client() = default;
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;
  ~Client() { pmc_client_free(c); }
};

const uint8_t *bytes(const std::string &s) {
  return reinterpret_cast<const uint8_t *>(s.data());
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
    return 2;
  }
  pmc_options *o = pmc_options_new();
  pmc_options_add_server(o, argv[1]);
  pmc_options_set_timeout_ms(o, 2000);
  Client client;
  pmc_status st = pmc_client_new(o, &client.c);
  pmc_options_free(o);
  if (st != PMC_OK) {
    std::fprintf(stderr, "%s\n", pmc_last_error_message());
    return 1;
  }

  const std::string key = std::string("install-consumer.cxx.") + PMC_VERSION_STRING;
  const std::string val = "hello from an installed libpymemcache";
  st = pmc_set(client.c, bytes(key), key.size(), bytes(val), val.size(), 0, 0, PMC_REPLY_WAIT);
  pmc_value v = pmc_value();
  if (st == PMC_OK) st = pmc_get(client.c, bytes(key), key.size(), &v);
  if (st == PMC_OK)
    std::printf("C++, library %s: %.*s\n", pmc_library_version(), static_cast<int>(v.len),
                reinterpret_cast<const char *>(v.data));
  else
    std::fprintf(stderr, "%s: %s\n", pmc_status_str(st), pmc_last_error_message());
  pmc_value_free(&v);
  return st == PMC_OK ? 0 : 1;
}
