// hello.cpp: a C++ program built against an installed libpymemcache only,
// through find_package(pymemcache CONFIG) (cmake/CMakeLists.txt beside this
// file), linked once to pymemcache::pymemcache and once to
// pymemcache::pymemcache_static. It uses the installed C++ wrapper,
// pymemcache.hpp: it stores a value on the server named by argv[1], reads
// it back and prints it.
#include <pymemcache.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  using namespace std::chrono_literals;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
    return 2;
  }
  try {
    pymemcache::Client client(pymemcache::Options().add_server(argv[1]).timeout(2000ms));
    const std::string key = std::string("install-consumer.cxx.") + PMC_VERSION_STRING;
    const std::string val = "hello from an installed libpymemcache";
    client.set(key, val, 0, pymemcache::Reply::Wait);
    std::optional<pymemcache::Value> v = client.get(key);
    if (!v) {
      std::fprintf(stderr, "%s: a miss right after the set\n", key.c_str());
      return 1;
    }
    std::printf("C++, library %s: %s\n", pymemcache::library_version(), v->data.c_str());
    return 0;
  } catch (const pymemcache::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
