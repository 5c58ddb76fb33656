"""The Python side of tests/pymemcache_parity.rs: which keys pymemcache's
clients accept, and where its HashClient puts them, for generated keys.

usage: key_parity.py rules SERVER OUT_TSV
  Generates keys (ASCII, control bytes, UTF-8, invalid UTF-8, unicode
  whitespace, lengths around 250, empty), and for every key, key prefix
  ("" and "app:"), key form (bytes; str where the key is UTF-8) and
  allow_unicode_keys (off, on) tries pymemcache's Client.set on SERVER with
  noreply=False. Writes "hex(key)<TAB>form<TAB>prefix<TAB>unicode<TAB>accepted"
  lines (1 stored, 0 refused as illegal input, sent-refused-by-server when
  pymemcache sent it and memcached answered ERROR); every stored key holds
  hex(prefix + key) as its value.

usage: key_parity.py place SERVERS FORM OUT_TSV
  Stores hex(key) under each generated key (as bytes or str, FORM) through
  pymemcache's HashClient over SERVERS (comma list) and writes
  "hex(key)<TAB>node" with the node its hasher picked.
"""
import random
import sys

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheIllegalInputError, MemcacheUnknownCommandError


def keys():
    rnd = random.Random(13)
    ascii_ = bytes(range(0x21, 0x7F))
    ctl = bytes(range(0, 0x20)) + b"\x7f"
    texts = ["café", "日本語", "Zoë", "\U0001f600", "a\u00a0b", "a\u3000b", "a\u0085b", "a\u2028b", "ß"]
    out = [b"", b" ", b"k ", b"\x00", b"plain", b"ctl\x01key", b"\x1ckey", b"del\x7fkey", b"\xff\xfe"]
    for i in range(3000):
        kind = i % 6
        n = rnd.randint(1, 30)
        if kind == 0:  # ASCII
            k = bytes(rnd.choice(ascii_) for _ in range(n))
        elif kind == 1:  # one control byte (whitespace or not) inside
            k = bytearray(rnd.choice(ascii_) for _ in range(n))
            k.insert(rnd.randint(0, n), rnd.choice(ctl))
            k = bytes(k)
        elif kind == 2:  # UTF-8 text
            k = (rnd.choice(texts) + "".join(chr(rnd.choice(ascii_)) for _ in range(n))).encode()
        elif kind == 3:  # any bytes (mostly invalid UTF-8)
            k = bytes(rnd.randrange(256) for _ in range(n))
        elif kind == 4:  # lengths around the limit, with and without a prefix
            k = bytes(rnd.choice(ascii_) for _ in range(rnd.randint(244, 252)))
        else:  # UTF-8 near the limit
            t = rnd.choice(texts)
            k = (t * (250 // len(t.encode()) + 1)).encode()[: rnd.randint(240, 252)]
        out.append(k)
    return out


def rules(server, out_path):
    host, port = server.rsplit(":", 1)
    clients = {
        (prefix, uni): Client((host, int(port)), key_prefix=prefix, allow_unicode_keys=uni, timeout=5)
        for prefix in (b"", b"app:")
        for uni in (False, True)
    }
    with open(out_path, "w") as out:
        for k in keys():
            forms = [("bytes", k)]
            try:
                forms.append(("str", k.decode("utf-8")))
            except UnicodeDecodeError:
                pass
            for (prefix, uni), c in clients.items():
                for form, key in forms:
                    try:
                        assert c.set(key, (prefix + k).hex().encode(), noreply=False)
                        accepted = 1
                    except MemcacheIllegalInputError:
                        accepted = 0
                    except MemcacheUnknownCommandError:
                        # Sent, and memcached could not parse it (the empty
                        # key); the value line followed as a second command.
                        accepted = "sent-refused-by-server"
                        c.close()
                    out.write(f"{k.hex()}\t{form}\t{prefix.decode()}\t{int(uni)}\t{accepted}\n")


def place(servers, form, out_path):
    addrs = [(h, int(p)) for h, p in (s.rsplit(":", 1) for s in servers.split(","))]
    c = HashClient(addrs, allow_unicode_keys=True, timeout=5)
    with open(out_path, "w") as out:
        for k in keys():
            if not k or len(k) > 250 or any(b in b" \t\n\r\x0b\x0c\x00" for b in k):
                continue
            if form == "str":
                try:
                    key = k.decode("utf-8")
                except UnicodeDecodeError:
                    continue
            else:
                key = k
            assert c.set(key, k.hex().encode(), noreply=False), k
            out.write(f"{k.hex()}\t{c.hasher.get_node(key)}\n")


if __name__ == "__main__":
    if sys.argv[1] == "rules":
        rules(sys.argv[2], sys.argv[3])
    else:
        place(sys.argv[2], sys.argv[3], sys.argv[4])
