# Times the unmodified Python reference's posixfs backend, imported as a library, sequential (as
# borg uses it), for store.bench.mjs's same-run ratios. One store per size below BASE, names nested
# as the reference's Store nests them (data/ab/cd/<key>, levels [2]). Reads one JSON command per
# line on stdin, answers one JSON line {"seconds": <time for all count operations>}:
#   {"op": "store"|"load"|"info"|"delete", "store": "a", "size": 1024, "start": 0, "count": 4000, "passes": 1}
#     (objects start..start+count-1 of the store named "store"; reads go over them `passes` times)
#   {"op": "fill", "count": 100000}  -> stores count 16-byte items for the list (untimed)
#   {"op": "list"}                   -> Store.list("data") over the filled items, {"seconds", "items"}
# Separate commands let the bench order phases for the disk: every create before any delete.
import hashlib
import json
import os
import sys
import time

from borgstore.backends.posixfs import PosixFS
from borgstore.store import Store
from borgstore.utils.nesting import nest

BASE = sys.argv[1]
CONFIG = {"data/": {"levels": [2]}}
backends = {}
values = {}


def key(i):
    return hashlib.sha256(str(i).encode()).hexdigest()


def backend_for(label):
    if label not in backends:
        backend = PosixFS(os.path.join(BASE, label))
        backend.create()
        backend.open()
        backends[label] = backend
    return backends[label]


def names(start, count):
    return [nest("data/" + key(i), 2) for i in range(start, start + count)]


list_store = None
for line in sys.stdin:
    cmd = json.loads(line)
    op, count = cmd["op"], cmd.get("count", 0)
    size = cmd.get("size", 16)
    result = {}
    if op == "fill":
        list_store = Store(url="file://" + os.path.join(BASE, "list"), config=CONFIG)
        list_store.create()
        list_store.open()
        small = os.urandom(16)
        t0 = time.perf_counter()
        for i in range(count):
            list_store.store("data/" + key(i), small)
    elif op == "list":
        t0 = time.perf_counter()
        result["items"] = sum(1 for _ in list_store.list("data"))
    else:
        backend = backend_for(cmd["store"])
        todo = names(cmd.get("start", 0), count) * (cmd.get("passes", 1) if op in ("load", "info") else 1)
        if size not in values:
            values[size] = os.urandom(size)
        value = values[size]
        t0 = time.perf_counter()
        if op == "store":
            for n in todo:
                backend.store(n, value)
        elif op == "load":
            for n in todo:
                if len(backend.load(n)) != size:
                    raise SystemExit(f"load of {n} returned a wrong size")
        elif op == "info":
            for n in todo:
                backend.info(n)
        elif op == "delete":
            for n in todo:
                backend.delete(n)
        else:
            raise SystemExit(f"unknown op {op}")
    result["seconds"] = time.perf_counter() - t0
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
