// header_cxx.cpp: the header from C++.
//
// Compiled as C++11 with -Wall -Wextra -Wpedantic -Werror and linked
// against the library: without the header's extern "C" guards the calls
// below would refer to C++-mangled names and fail to link. It then checks
// a few calls that need no server.
#include "pymemcache.h"

#include <cstdio>
#include <cstring>

static int failures = 0;

static void expect(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "header_cxx: %s\n", what);
    failures++;
  }
}

int main() {
  expect(std::strcmp(pmc_library_version(), PMC_VERSION_STRING) == 0,
         "pmc_library_version() != PMC_VERSION_STRING");
  expect(std::strcmp(pmc_status_str(PMC_MISS), "PMC_MISS") == 0,
         "pmc_status_str(PMC_MISS)");

  pmc_options *o = pmc_options_new();
  expect(o != nullptr, "pmc_options_new");
  expect(pmc_options_add_server(o, "127.0.0.1:11211", NULL) == PMC_OK,
         "pmc_options_add_server");
  pmc_client *c = nullptr;
  expect(pmc_client_new(o, &c, NULL) == PMC_OK && c != nullptr, "pmc_client_new");
  pmc_options_free(o);

  pmc_value v = pmc_value();  // zeroed, as the header asks
  expect(pmc_get(c, reinterpret_cast<const uint8_t *>("bad key"), 7, &v, NULL) ==
             PMC_ILLEGAL_INPUT,
         "pmc_get with an illegal key");
  expect(std::strncmp(pmc_last_error_message(), "PMC_ILLEGAL_INPUT", 17) == 0,
         "pmc_last_error_message");
  pmc_value_free(&v);
  pmc_client_free(c);

  if (failures == 0)
    std::puts("header_cxx: ok");
  return failures == 0 ? 0 : 1;
}
