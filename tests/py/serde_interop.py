"""The Python side of tests/serde_interop.rs, with the real pymemcache.

usage: serde_interop.py write SERVER   store one value of every kind
       serde_interop.py read SERVER    check what the Rust side stored

Python services share data through pymemcache's pickle serde
(python_memcache_serializer: bytes 0, str 16, int 2, other objects pickled
with flag 1) and its CompressedSerde (zlib, flag 8, min_compress_len 400).
"""
import datetime
import sys

from pymemcache.client.base import Client
from pymemcache.serde import CompressedSerde, pickle_serde

STRUCT = {
    "name": "caf\u00e9",
    "list": [1, 2.5, None, True, False, "s", -(2**80)],
    "nested": {"a": [1, {"b": b"\x00\xff"}], "t": (1, "two")},
    "set": {3},
}


def host_port(s):
    h, p = s.rsplit(":", 1)
    return (h, int(p))


def clients(server):
    plain = Client(host_port(server), serde=pickle_serde, default_noreply=False)
    packed = Client(host_port(server), serde=CompressedSerde(), default_noreply=False)
    return plain, packed


def write(server):
    plain, packed = clients(server)
    plain.set("py:bytes", b"\x00\x01binary\r\n\xff")
    plain.set("py:str", "h\u00e9llo w\u00f6rld \u2603")
    plain.set("py:int", 42)
    plain.set("py:neg", -7)
    plain.set("py:bigint", 2**100)
    plain.set("py:struct", STRUCT)
    plain.set("py:float", 2.5)
    plain.set("py:none", None)
    plain.set("py:date", datetime.date(2020, 1, 2))
    packed.set("py:zstr", "z" * 1000)
    packed.set("py:zshort", "short")
    packed.set("py:zlist", list(range(500)))
    packed.set("py:zbytes", b"B" * 399)
    print("python wrote 13 values")


def read(server):
    plain, packed = clients(server)
    expected = {
        "rs:bytes": b"\x00\x01binary\r\n\xff",
        "rs:str": "h\u00e9llo w\u00f6rld \u2603",
        "rs:int": 42,
        "rs:neg": -7,
        "rs:bigint": 2**100,
        "rs:struct": {"name": "caf\u00e9", "list": [1, 2.5, None, True, "s"], "bytes": b"\x00\xff", "set": {1, 2}},
        "rs:zstr": "z" * 1000,
        "rs:zshort": "short",
    }
    bad = 0
    for key, want in expected.items():
        got = packed.get(key)
        if got != want or type(got) is not type(want):
            bad += 1
            print(f"{key}: python read {got!r}, expected {want!r}", file=sys.stderr)
    print(f"python checked {len(expected)} values, {bad} bad")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
