"""The Python side of tests/pymemcache_interop.rs, run with the real
pymemcache from PyPI.

usage: hash_interop.py SERVERS KEYS_FILE OUT_FILE
  SERVERS    comma-separated host:port list, in the order the Rust client got them
  KEYS_FILE  one UTF-8 key per line

For every key it writes "key<TAB>node" (the node pymemcache's HashClient
picks) to OUT_FILE, then stores b"py:" + key under every key at an even line
through the HashClient, and checks that every key at an odd line holds
b"rs:" + key (written by the Rust client before this script ran).
"""
import sys

from pymemcache.client.hash import HashClient


def main():
    servers = [(h, int(p)) for h, p in (s.rsplit(":", 1) for s in sys.argv[1].split(","))]
    with open(sys.argv[2], encoding="utf-8") as f:
        keys = f.read().split("\n")[:-1]
    client = HashClient(servers, allow_unicode_keys=True, default_noreply=False)
    with open(sys.argv[3], "w", encoding="utf-8") as out:
        for key in keys:
            out.write(f"{key}\t{client.hasher.get_node(key)}\n")
    bad = 0
    for i, key in enumerate(keys):
        if i % 2 == 0:
            assert client.set(key, b"py:" + key.encode()), key
        else:
            got = client.get(key)
            if got != b"rs:" + key.encode():
                bad += 1
                print(f"python read {got!r} for {key!r}", file=sys.stderr)
    print(f"python checked {len(keys)} keys, {bad} bad")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
