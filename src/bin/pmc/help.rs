//! The long help texts (`pmc --help`, `pmc COMMAND --help`, `pmc man`).

pub const LONG_ABOUT: &str = "\
pmc is a memcached client for the command line, built on the pymemcache-rs
library. It talks to one server or to a cluster: with several servers every
key goes to the server pymemcache's HashClient (and this library's) would
place it on, so pmc reads and writes the same items as Python services and
C services using pymemcache-rs. Values are bytes: stdin and files are stored
byte for byte, and `get --raw` writes them back the same way.";

pub const AFTER_LONG_HELP: &str = "\
SERVERS
    -s/--servers takes libmemcached's list syntax: entries separated by
    commas, each HOST, HOST:PORT, [IPV6]:PORT or the path of a UNIX socket
    (starting with / or .); the port defaults to 11211. A HOST:PORT:WEIGHT
    entry is accepted, its weight ignored with a warning. Repeat --servers to
    add more. Without --servers, $MEMCACHED_SERVERS is read (as
    libmemcached-tools do); with neither, pmc exits 2. A server listed twice
    is an error.

    One server: keyed commands go to it. Several: each key goes to its
    server by pymemcache's placement (rendezvous hashing over murmur3; see
    `pmc locate`), which is NOT libmemcached's. Server commands (stats,
    version, flush-all, ping, keys) go to every server, and one server's
    failure is reported without hiding the others' answers.

OUTPUT
    get of one key writes the value and a newline; `get --raw KEY` writes
    the value's bytes exactly. With several keys (and for gets, gats, and
    get --headers) each hit is a header line \"VALUE KEY FLAGS BYTES [CAS]\",
    then exactly BYTES bytes, then a newline. Misses print nothing on stdout.
    Messages go to stderr as \"pmc: COMMAND KEY: ...\", naming the server
    when one is involved.

EXIT STATUS
    0  success
    1  a miss, not stored, not found, or a CAS conflict (the server said no)
    2  usage: bad arguments or server list, an illegal key (nothing is sent)
    3  network: connection refused or reset, timeout, unknown host, closed,
       a failed TLS handshake or login
    4  the server answered with an error (ERROR, CLIENT_ERROR, SERVER_ERROR,
       e.g. incr of a non-number or a value over the item size limit)
    5  local I/O: a --file or stdin, a TLS certificate, key or CA file, or a
       --password-file could not be read, stdout not written
    When a command meets several outcomes (several keys or servers), it
    exits with the highest.

ENVIRONMENT
    MEMCACHED_SERVERS   the server list when no --servers is given
    MEMCACHED_PASSWORD  the password for --username (unless --password-file)

EXAMPLES
    pmc -s cache1:11211,cache2:11211 get user:42 user:43
    head -c 4096 /dev/urandom > blob; pmc set k - < blob && pmc get --raw k | cmp - blob
    pmc set config --file ./config.json --expire 3600 --flags 16
    pmc gets k   # then: pmc cas k CAS newvalue
    MEMCACHED_SERVERS=/run/memcached.sock pmc stats items
    pmc -s cache.internal:11211 --tls-ca-file /etc/memcached/ca.pem get k
    pmc stats --flat | awk '$2 == \"curr_items\"'
    pmc man > /usr/local/share/man/man1/pmc.1";

pub const GET: &str = "\
Print the values of one or more keys.

One key: the value and a newline (--raw: the bytes exactly, nothing added;
--headers: the header format below). Several keys: for each hit, a line
\"VALUE KEY FLAGS BYTES\", exactly BYTES bytes of value, and a newline, in
the order the keys were given; misses print nothing on stdout and a line on
stderr. Exit status 1 if any key missed. The keys of one server are fetched
with one request.";

pub const GETS: &str = "\
Print values with their CAS uniques, always with headers:
\"VALUE KEY FLAGS BYTES CAS\", the value, a newline. Give CAS to `pmc cas`.";

pub const SET: &str = "\
Store a value under KEY. The value is the VALUE argument, all of stdin when
VALUE is \"-\", or the contents of --file PATH, byte for byte. Exit status 0
when stored. add, replace, append and prepend exit 1 when the server does not
store (the key exists, or does not). To store a value that is the single
character \"-\", pipe it: printf - | pmc set KEY -.";

pub const CAS: &str = "\
Store a value only if the item still has the CAS unique `pmc gets` printed:
exit 0 when stored, 1 when the item changed since (\"exists\") or is gone
(\"not found\").";

pub const LOCATE: &str = "\
Print \"KEY SERVER\" for each key: the server pmc (and pymemcache's
HashClient, and this library) places the key on. Nothing is sent.";

pub const STATS: &str = "\
Print every server's stats, each server under a \"Server: ADDRESS\" line with
its stats as tab-indented \"NAME: VALUE\" lines, like memcstat. ARG asks for
one group (items, slabs, settings, sizes, conns...). --flat prints
\"SERVER NAME VALUE\" lines instead. A server that fails is reported on
stderr; the others are still printed.";

pub const KEYS: &str = "\
List the keys every server holds, one per line, with memcached's
`lru_crawler metadump all` (memcached 1.4.31 and later; libmemcached's
memcdump uses `stats cachedump`, which stops at 2 MB per slab class). With
--key-prefix, only the keys under the prefix, with the prefix removed. A
server's listing is read whole, up to 256 MiB.";

pub const STORE_USAGE: &str = "pmc <set|add|replace> [OPTIONS] KEY <VALUE | - | --file PATH>";
pub const CONCAT_USAGE: &str = "pmc <append|prepend> [OPTIONS] KEY <VALUE | - | --file PATH>";
pub const CAS_USAGE: &str = "pmc cas [OPTIONS] KEY CAS <VALUE | - | --file PATH>";

/// `pmc meta`.
pub const META: &str = "\
Send one meta command (mg, ms, md or ma; memcached 1.6.10 or later) with the
given flags as protocol tokens, and print the reply: a line with the return
code and the return flags as the server sent them (\"VA f5 t-1 c42\",
\"HD\", \"EN\", \"NF\", \"NS\", \"EX\"), then the value, if any, on the next line.
Exit status 0 for HD and VA, 1 for EN, NF, NS and EX, 4 for server errors.

  pmc meta mg KEY v f t c         value with flags, TTL left and CAS
  pmc meta mg KEY v N30           vivify on miss (W: you won the recompute)
  pmc meta md KEY I T30           mark stale (readers see X; one wins W)
  pmc meta ms KEY T60 MA --value x  append (modes: MS ME MR MA MP)
  pmc meta ma KEY N0 J10 D5 v     counter with auto-create

The O (opaque) and q (quiet) flags are set by the library itself.";
