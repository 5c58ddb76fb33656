#include <stdio.h>
#include <string.h>
#include "pymemcache.h"

int main(int argc, char **argv) {
    pmc_options *o = pmc_options_new();
    pmc_options_add_server(o, argc > 1 ? argv[1] : "127.0.0.1:11211", NULL);
    pmc_options_set_timeout_ms(o, 500, NULL);
    pmc_client *c = NULL;
    pmc_status st = pmc_client_new(o, &c, NULL);
    pmc_options_free(o);                        /* the client copied what it needs */
    if (st != PMC_OK) { fprintf(stderr, "%s\n", pmc_last_error_message()); return 1; }

    const char *key = "greeting", *val = "hello from C";
    pmc_error *err = NULL;                      /* the failing call's status and message */
    st = pmc_set(c, (const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val),
                 0 /* flags */, 0 /* expire */, PMC_REPLY_WAIT, &err);
    pmc_value v = {0};
    if (st == PMC_OK) st = pmc_get(c, (const uint8_t *)key, strlen(key), &v, &err);
    if (st == PMC_OK) printf("%s = %.*s (flags %u)\n", key, (int)v.len, (const char *)v.data, v.flags);
    else fprintf(stderr, "%s\n", err ? pmc_error_message(err) : pmc_status_str(st));
    pmc_error_free(err);                        /* NULL after a call that did not fail */
    pmc_value_free(&v);
    pmc_client_free(c);
    return st == PMC_OK ? 0 : 1;
}
