#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets into fuzz/corpus/<target>/.

    python3 fuzz/make-seeds.py [MEMCACHED]

The replies of reply_socket are captured from a real memcached (started
here on a UNIX socket, if one is found) where they can be, and written by
hand where a server has to misbehave. The pickles come from Python's own
pickle module. The files are committed; run this again only to change them.
"""
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import OrderedDict
from datetime import date
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# reply_socket's command selectors (the first input byte) and option bits
# (the second): see fuzz_targets/reply_socket.rs.
CMD = {name: i for i, name in enumerate(
    "get gets gat gats get_many gets_many stats incr decr version set cas delete "
    "touch raw_command get_json get_text get_int64 set_json set_text set_int64 "
    "add_family delete_many set_many flush_all cache_memlimit".split())}
IGNORE_EXC, PREFIX, WAIT_DEFAULT, POOL, HASH, WAIT, ALT = 1, 2, 4, 8, 16, 0x20, 0x40
MAX = 0xFF  # max_value_len = 1 + 8 * 255 = 2041


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reply(name, cmd, bits, data, max_sel=MAX):
    write("reply_socket", name, bytes([CMD[cmd], bits, max_sel]) + data)


class Memcached:
    """A private memcached on a UNIX socket, for real replies."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="pmc-seeds-")
        self.path = os.path.join(self.dir, "mc.sock")
        args = [binary, "-s", self.path, "-m", "16"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        self.proc = subprocess.Popen(args)
        for _ in range(100):
            if os.path.exists(self.path):
                break
            time.sleep(0.05)

    def ask(self, request, wait=0.2):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.path)
        s.sendall(request)
        s.settimeout(wait)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        s.close()
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def pickles():
    plain = {"a": [1, 2.5, None, True], "b": b"\x00\xff", "c": {1, 2}, "n": 2**70, "t": ("x",)}
    shared = [1, 2]
    rec = []
    rec.append(rec)
    cases = {
        "none": None,
        "int": 42,
        "negative": -7,
        "bigint": -(2**100),
        "float": 1.5,
        "nan": float("nan"),
        "text": "h\u00e9llo",
        "bytes": b"\x00\x01\xff",
        "bytearray": bytearray(b"ab"),
        "list": [1, "two", 3.0],
        "tuple": (1, (2, (3,))),
        "dict": {"k": "v", 1: 2, (1, 2): None},
        "set": {1, 2, 3},
        "frozenset": frozenset(["a"]),
        "plain": plain,
        "shared_refs": [shared, shared, shared],
        "nested": [[[[[["deep"]]]]]],
        "recursive": rec,
        "class_date": date(2020, 1, 1),
        "class_fraction": Fraction(1, 3),
        "class_ordereddict": OrderedDict(a=1),
    }
    out = {}
    for name, value in cases.items():
        if name == "plain":
            protocols = range(0, 6)
        elif name in ("set", "bytes", "bigint", "dict", "shared_refs", "recursive", "class_date"):
            protocols = (0, 2, 5)
        else:
            protocols = (4,)
        for proto in protocols:
            out[f"{name}-p{proto}"] = pickle.dumps(value, proto)
    return out


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    binary = sys.argv[1] if len(sys.argv) > 1 else shutil.which("memcached")
    mc = Memcached(binary) if binary else None
    try:
        seeds(mc)
    finally:
        if mc:
            mc.stop()


def seeds(mc):
    real = mc.ask if mc else None
    if real:
        real(b"set k 0 0 1\r\nv\r\nset k2 5 0 3\r\nabc\r\nset p:k 0 0 1\r\nw\r\n")
        reply("get-hit", "get", 0, real(b"get k\r\n"))
        reply("get-miss", "get", 0, real(b"get nokey\r\n"))
        reply("get-prefix", "get", PREFIX, real(b"get p:k\r\n"))
        reply("gets-hit", "gets", 0, real(b"gets k\r\n"))
        reply("gat-hit", "gat", 0, real(b"gat 10 k\r\n"))
        reply("gats-hit", "gats", 0, real(b"gats 10 k\r\n"))
        reply("get_many", "get_many", 0, real(b"get k k2 k3\r\n"))
        reply("gets_many", "gets_many", 0, real(b"gets k k2 k3\r\n"))
        reply("stats", "stats", 0, real(b"stats\r\n"))
        reply("stats-items", "stats", ALT, real(b"stats items\r\n"))
        reply("stats-settings", "stats", 0, real(b"stats settings\r\n"))
        real(b"set n 0 0 2\r\n10\r\n")
        reply("incr", "incr", 0, real(b"incr n 1\r\n"))
        reply("decr-padded", "decr", 0, real(b"decr n 5\r\n"))
        reply("incr-not-found", "incr", 0, real(b"incr nokey 1\r\n"))
        reply("incr-non-numeric", "incr", 0, real(b"incr k 1\r\n"))
        reply("version", "version", 0, real(b"version\r\n"))
        reply("set-stored", "set", WAIT, real(b"set k 0 0 1\r\nv\r\n"))
        reply("add-not-stored", "add_family", WAIT, real(b"add k 0 0 1\r\nv\r\n"))
        reply("cas-exists", "cas", WAIT, real(b"cas k 0 0 1 1\r\nv\r\n"))
        reply("cas-not-found", "cas", WAIT, real(b"cas nokey 0 0 1 1\r\nv\r\n"))
        reply("delete", "delete", WAIT, real(b"delete k2\r\n"))
        reply("delete-not-found", "delete", WAIT, real(b"delete nokey\r\n"))
        reply("touch", "touch", WAIT, real(b"touch k 5\r\n"))
        reply("touch-not-found", "touch", WAIT, real(b"touch nokey 5\r\n"))
        reply("flush_all", "flush_all", WAIT, real(b"flush_all 0\r\n"))
        reply("cache_memlimit", "cache_memlimit", 0, real(b"cache_memlimit 64\r\n"))
        reply("error-unknown-command", "raw_command", 0, real(b"bogus\r\n"))
        reply("client-error", "set", WAIT, real(b"set k 0 0 -1\r\n"))
        reply("raw-get", "raw_command", ALT, real(b"get k\r\n"))

    def value(key, flags, data, cas=None):
        c = b"" if cas is None else b" %d" % cas
        return b"VALUE %s %d %d%s\r\n%s\r\n" % (key, flags, len(data), c, data)

    end = b"END\r\n"
    # Values of every pymemcache type, read through the serde helpers.
    reply("json-pickle", "get_json", 0, value(b"k", 1, pickle.dumps({"a": [1, 2.5]}, 5)) + end)
    reply("json-pickle-p2", "get_json", 0, value(b"k", 1, pickle.dumps({1, 2}, 2)) + end)
    reply("json-class", "get_json", 0, value(b"k", 1, pickle.dumps(date(2020, 1, 1), 2)) + end)
    reply("json-text", "get_json", 0, value(b"k", 16, "h\u00e9".encode()) + end)
    reply("json-int", "get_json", 0, value(b"k", 2, b"-12345678901234567890") + end)
    reply("json-bytes", "get_json", 0, value(b"k", 0, b"\x00\xff") + end)
    reply("json-unknown-flags", "get_json", 0, value(b"k", 64, b"x") + end)
    z = zlib.compress(pickle.dumps(list(range(100)), 4))
    reply("json-compressed-pickle", "get_json", 0, value(b"k", 9, z) + end)
    reply("text-compressed", "get_text", 0, value(b"k", 24, zlib.compress(b"a" * 500)) + end)
    reply("text-not-utf8", "get_text", 0, value(b"k", 16, b"\xff\xfe") + end)
    reply("int64", "get_int64", 0, value(b"k", 2, b"42") + end)
    reply("int64-padded-counter", "get_int64", 0, value(b"k", 0, b"9 ") + end)
    reply("int64-too-big", "get_int64", 0, value(b"k", 2, b"99999999999999999999") + end)
    reply("int64-long-flag", "get_int64", 0, value(b"k", 4, b"7") + end)
    # A zlib bomb: 1 MB of zeros in ~1 KB, far over max_value_len.
    reply("zlib-bomb", "get", 0, value(b"k", 8, zlib.compress(b"\0" * (1 << 20), 9)) + end)
    reply("zlib-corrupt", "get_text", 0, value(b"k", 24, b"x\x9cjunk") + end)
    reply("zlib-truncated", "get", 0, value(b"k", 8, z[: len(z) // 2]) + end)
    # Misbehaving servers.
    reply("partial-header", "get", 0, b"VALUE k 0 1")
    reply("partial-data", "get", 0, b"VALUE k 0 10\r\nabc")
    reply("no-end", "get", 0, value(b"k", 0, b"v"))
    reply("huge-length", "get", 0, b"VALUE k 0 18446744073709551615\r\nv\r\nEND\r\n")
    reply("length-over-max", "get", 0, value(b"k", 0, b"x" * 100) + end, max_sel=2)
    reply("length-over-max-many", "get_many", 0, value(b"k", 0, b"x" * 100) + end, max_sel=2)
    reply("negative-length", "get", 0, b"VALUE k 0 -1\r\nv\r\nEND\r\n")
    reply("flags-overflow", "get", 0, b"VALUE k 4294967296 1\r\nv\r\nEND\r\n")
    reply("cas-missing", "gets", 0, value(b"k", 0, b"v") + end)
    reply("cas-negative", "gets", 0, b"VALUE k 0 1 -5\r\nv\r\nEND\r\n")
    reply("block-no-crlf", "get", 0, b"VALUE k 0 1\r\nvXXEND\r\n")
    reply("lone-lf", "get_many", 0, b"VALUE k 0 1\nv\r\nVALUE k2 0 1\nw\r\nEND\n")
    reply("other-key", "get", 0, value(b"zzz", 0, b"v") + end)
    reply("duplicate-keys", "get_many", 0, value(b"k", 0, b"a") + value(b"k", 0, b"b") + end)
    reply("keys-out-of-order", "get_many", 0, value(b"k3", 0, b"c") + value(b"k", 0, b"a") + end)
    reply("trailing-garbage", "get", 0, value(b"k", 0, b"v") + end + b"VALUE k 0 1\r\n")
    reply("server-error", "get", 0, b"SERVER_ERROR out of memory storing object\r\n")
    reply("server-error-mid", "get_many", 0, value(b"k", 0, b"a") + b"SERVER_ERROR busy\r\n")
    reply("error", "get", IGNORE_EXC, b"ERROR\r\n")
    reply("client-error-get", "get", 0, b"CLIENT_ERROR bad command line format\r\n")
    reply("empty", "get", 0, b"")
    reply("long-line", "get", 0, b"VALUE " + b"k" * 70000 + b" 0 1\r\n")
    reply("incr-negative", "incr", 0, b"-1\r\n")
    reply("incr-overflow", "incr", 0, b"18446744073709551616\r\n")
    reply("incr-garbage", "decr", 0, b"12a\r\n")
    reply("version-empty", "version", 0, b"VERSION\r\n")
    reply("version-garbage", "version", 0, b"VERSION \xff\xfe\r\n")
    reply("stats-garbage", "stats", 0, b"STAT pid\r\nSTAT  x\r\nSTAT a b c\r\nITEM k [1 b; 0 s]\r\nEND\r\n")
    reply("stats-no-end", "stats", 0, b"STAT pid 1\r\n")
    reply("set-garbage", "set", WAIT, b"STORED EXTRA\r\n")
    reply("set-many-mixed", "set_many", WAIT, b"STORED\r\nNOT_STORED\r\nSERVER_ERROR x\r\n")
    reply("delete-many", "delete_many", WAIT, b"DELETED\r\nNOT_FOUND\r\nDELETED\r\n")
    reply("raw-no-token", "raw_command", ALT, b"VALUE k 0 1\r\nv\r\n")
    reply("pooled-get", "get", POOL, value(b"k", 0, b"v") + end)
    reply("hash-get", "get", HASH, value(b"k", 0, b"v") + end)
    reply("hash-error", "get_many", HASH | IGNORE_EXC, b"SERVER_ERROR x\r\n")
    reply("set-json", "set_json", WAIT, b"STORED\r\n")
    reply("set-text-long", "set_text", WAIT | ALT, b"STORED\r\n")
    reply("set-int64", "set_int64", WAIT, b"NOT_STORED\r\n")
    reply("prepend", "add_family", WAIT | ALT | 0x80, b"STORED\r\n")

    for name, data in pickles().items():
        write("pickle", name, data)
    for name, text in {
        "json-object": '{"a":[1,2.5,null,true],"b":{"$bytes":"00ff"},"c":{"$set":[1,2]}}',
        "json-bigint": "[123456789012345678901234567890, -1e308, 0.1]",
        "json-bad-bytes": '{"$bytes":"abc"}',
        "json-set-of-lists": '{"$set":[[1]]}',
        "json-nested": "[" * 150 + "]" * 150,
        "json-string": '"h\\u00e9\\ud83d\\ude00"',
        # Found by this target: a float beyond f64's range was stored as inf.
        "json-float-overflow": "[125678901234567890, -1345607174113e308, 0.1]",
    }.items():
        write("pickle", name, text.encode())
    write("pickle", "huge-binbytes8", b"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x10.")
    write("pickle", "stack-global", b"\x80\x04\x8c\x02os\x8c\x06system\x93.")
    write("pickle", "reduce-os-system", b"cos\nsystem\n(S'echo hi'\ntR.")
    # What decoding costs: x = [x, x] sixty times (2^60 lists once unfolded),
    # many MARKs, a string referenced many times, deep nesting.
    x = []
    for _ in range(60):
        x = [x, x]
    write("pickle", "doubling-refs", pickle.dumps(x, 2))
    write("pickle", "many-marks", b"\x80\x02" + b"(" * 2000 + b"N.")
    write("pickle", "many-refs", b"\x80\x02X\x00\x04\x00\x00" + b"x" * 1024 + b"q\x00](" + b"h\x00" * 1000 + b"e.")
    # Found by this target: a NaN among a frozenset's members made
    # serde_pickle's sort panic; ints and floats around 2**53 do too.
    g = lambda f: b"G" + struct.pack(">d", f)
    write("pickle", "nan-in-frozenset", b"\x80\x04(" + (g(float("nan")) + g(1.5) + b"K\x01") * 30 + b"\x91.")
    b53 = 2**53
    members = [b53 + 2, b53 + 2, float(b53), b53 - 1, float(b53), b53, b53 + 2, b53 + 1, b53 - 1,
               float(b53 + 2), float(b53 + 2), b53 + 1, float(b53), float(b53), b53 - 1,
               float(b53 + 2), b53 + 3, b53, float(b53 + 2), b53 - 1, float(b53 + 2)]
    write("pickle", "unordered-numbers-in-frozenset", b"\x80\x04(" + b"".join(
        g(m) if isinstance(m, float) else b"\x8a\x08" + struct.pack("<q", m) for m in members) + b"\x91.")
    write("pickle", "deep", b"\x80\x02" + b"]" * 1000 + b"a" * 999 + b".")

    def key(name, bits, prefix, k):
        write("key_rules", name, bytes([bits, len(prefix)]) + prefix + k)

    key("plain", 0, b"", b"user:42/profile")
    key("prefixed", 0, b"app:", b"k")
    key("empty", 0, b"", b"")
    key("empty-prefixed", 0, b"app:", b"")
    key("space", 0, b"", b"a b")
    key("tab", 0, b"", b"a\tb")
    key("crlf", 0, b"", b"get x\r\nset")
    key("vt-ff", 0, b"", b"a\x0bb\x0c")
    key("nul", 0, b"", b"a\0b")
    key("control", 0, b"", b"ctl\x01\x7f")
    key("utf8", 0, b"", "caf\u00e9 \u3000".replace(" ", "").encode())
    key("utf8-unicode-on", 1, b"", "caf\u00e9".encode())
    key("latin1", 0, b"", b"caf\xe9")
    key("250", 0, b"", b"a" * 250)
    key("251", 0, b"", b"a" * 251)
    key("246-prefixed", 0, b"app:", b"a" * 246)
    key("247-prefixed", 0, b"app:", b"a" * 247)
    key("bad-prefix", 0, b"a b", b"k")
    key("long-prefix", 0, b"p" * 255, b"")


if __name__ == "__main__":
    main()
