#!/usr/bin/env bash
# status-names.sh HEADER LIBRARY RPATH CC WORKDIR [WRAPPER...]
#
# pmc_status_str names every status code the header defines - including
# codes added after errors.c was written. The status codes are the header's
# PMC_* integer macros other than the PMC_VERSION_*, PMC_REPLY_*, PMC_FLAG_*, PMC_LEASE_*,
# PMC_DEFAULT_*, PMC_KEY_FORM_*, PMC_NODE_* (node states and causes), PMC_METRIC_* (metric selectors) and PMC_WANT_* (async watch bits) families. This script writes a C program that checks each one (and that no two codes
# share a value), compiles it against the header and the library with CC,
# and runs it (under WRAPPER, e.g. valgrind, when given). RPATH is where
# the program finds the library's soname at run time (a :-separated list).
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: $0 HEADER LIBRARY RPATH CC WORKDIR [WRAPPER...]" >&2; exit 2; }
header=$1 lib=$2 rpath=$3 cc=$4 work=$5
shift 5

codes=$(grep -E '^#define PMC_[A-Z0-9_]+ -?[0-9]+[[:space:]]*$' "$header" |
  awk '{print $2}' | grep -vE '^PMC_(VERSION|REPLY|FLAG|DEFAULT|KEY_FORM|LEASE|NODE|METRIC|WANT)_')
n=$(wc -w <<<"$codes")
if [ "$n" -lt 15 ]; then
  echo "only $n status codes found in $header: extraction is broken" >&2
  exit 1
fi

mkdir -p "$work"
src="$work/status_names.c"
{
  echo '#include <stdio.h>'
  echo '#include <string.h>'
  echo '#include "pymemcache.h"'
  echo 'static const struct { pmc_status code; const char *name; } all[] = {'
  for c in $codes; do echo "  {$c, \"$c\"},"; done
  echo '};'
  cat <<'EOF'
int main(void) {
  size_t n = sizeof all / sizeof all[0];
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const char *got = pmc_status_str(all[i].code);
    if (got == NULL || strcmp(got, all[i].name) != 0) {
      fprintf(stderr, "pmc_status_str(%d) is \"%s\", expected \"%s\"\n",
              (int)all[i].code, got ? got : "(NULL)", all[i].name);
      bad++;
    }
    for (size_t j = 0; j < i; j++)
      if (all[j].code == all[i].code) {
        fprintf(stderr, "%s and %s share the value %d\n", all[j].name,
                all[i].name, (int)all[i].code);
        bad++;
      }
  }
  if (bad == 0)
    printf("pmc_status_str names all %zu status codes\n", n);
  return bad == 0 ? 0 : 1;
}
EOF
} >"$src"

# PMC_EXTRA_CFLAGS: e.g. -fsanitize=address when the library is built with it.
# shellcheck disable=SC2086 # a list of flags
"$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror ${PMC_EXTRA_CFLAGS:-} -I"$(dirname "$header")" \
  "$src" -o "$work/status_names" "$lib" -Wl,-rpath,"$rpath"
"$@" "$work/status_names"
