"""Generate the bytes-key placement vectors of tests/data/rendezvous-vectors.tsv
with the real pymemcache (4.0.0), whose HashClient hashes f"{node}-{key}":
for a bytes key that is Python's repr of it (b'...').

usage: gen_bytes_vectors.py >> tests/data/rendezvous-vectors.tsv

Writes "bytes3<TAB>hex(key)<TAB>node" and "bytes4<TAB>hex(key)<TAB>node" lines
for the node lists of the node3/node4 vectors. Keys are drawn from a fixed
seed: plain ASCII, quotes and backslashes (which change repr's quoting),
tab/newline/CR, other control bytes, bytes 0x7f-0xff, UTF-8 text, and the
empty key.
"""
import random

from pymemcache.client.rendezvous import RendezvousHash

NODE3 = ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]
NODE4 = ["/var/run/memcached/a.sock", "10.0.0.1:11211", "[::1]:11211", "cache-2.example:11211"]


def keys():
    rnd = random.Random(20261202)
    ascii_ = bytes(range(0x21, 0x7F))
    special = b"'\"\\\t\n\r"
    out = [b"", b"key1", b"it's", b"say \"hi\"", b"both ' and \"", b"back\\slash", b"\x00\x7f\x80\xff"]
    out += ["café".encode(), "日本".encode(), "\u00a0".encode()]
    for i in range(400):
        n = rnd.randint(1, 40)
        pool = [ascii_, ascii_ + special, bytes(range(256)), ascii_ + bytes(range(0x80, 0x100))][i % 4]
        out.append(bytes(rnd.choice(pool) for _ in range(n)))
    out.append(b"L" * 250)
    return out


def main():
    h3 = RendezvousHash(NODE3)
    h4 = RendezvousHash(NODE4)
    print("# bytes keys (hex in the middle column) as pymemcache's HashClient places them: f\"{node}-{key!r}\"")
    for name, h in (("bytes3", h3), ("bytes4", h4)):
        for k in keys():
            print(f"{name}\t{k.hex()}\t{h.get_node(k)}")


if __name__ == "__main__":
    main()
