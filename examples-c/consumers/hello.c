/* hello.c: a C program built against an installed libpymemcache only (the
 * install_consumers test compiles it with pkg-config, once against the
 * shared and once against the static library). It stores a value on the
 * server named by argv[1], reads it back and prints it. */
#include <pymemcache.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
    return 2;
  }
  pmc_options *o = pmc_options_new();
  pmc_options_add_server(o, argv[1], NULL);
  pmc_options_set_timeout_ms(o, 2000, NULL);
  pmc_client *c = NULL;
  pmc_status st = pmc_client_new(o, &c, NULL);
  pmc_options_free(o);
  if (st != PMC_OK) {
    fprintf(stderr, "%s\n", pmc_last_error_message());
    return 1;
  }

  char key[64];
  snprintf(key, sizeof key, "install-consumer.c.%s", PMC_VERSION_STRING);
  const char *val = "hello from an installed libpymemcache";
  st = pmc_set(c, (const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val), 0, 0,
               PMC_REPLY_WAIT, NULL);
  pmc_value v = {0};
  if (st == PMC_OK) st = pmc_get(c, (const uint8_t *)key, strlen(key), &v, NULL);
  if (st == PMC_OK)
    printf("C, library %s: %.*s\n", pmc_library_version(), (int)v.len, (const char *)v.data);
  else
    fprintf(stderr, "%s: %s\n", pmc_status_str(st), pmc_last_error_message());
  pmc_value_free(&v);
  pmc_client_free(c);
  return st == PMC_OK ? 0 : 1;
}
