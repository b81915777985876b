# Times the unmodified Python reference, sequential as borg uses it, so that a bench can put its
# figures beside ours from the same run on the same server or disk. Two ways to start it:
#   reference-store-driver.py URL CONFIG_JSON
#       its Store on any backend URL it knows (sftp:, s3:, rclone:, file:), a location that does
#       not exist yet (created here, destroyed at "close"), with CONFIG_JSON as the Store's config
#   reference-store-driver.py --posixfs BASE
#       its posixfs backend imported as a library, one per "store" label below BASE, names nested as
#       the Store nests them (data/ab/cd/<key>, levels [2]): what store.bench.mjs compares
#       PosixFsBackend with
# One JSON command per line on stdin, one JSON answer per line on stdout; every timed phase answers
# {"seconds": <time for all count operations>}, and a load checks the size it got back:
#   Store:   {"op": "store"|"load"|"info"|"delete", "ns": "data", "tag": "a", "size": 1024, "count": 300}
#              (the names are NS/sha256(TAG + i), nested by the Store as its config says)
#            {"op": "list", "ns": "data"} -> {"seconds", "items"}
#            {"op": "close"} -> {} after closing and destroying the store
#   posixfs: {"op": "store"|"load"|"info"|"delete", "store": "a", "size": 1024, "start": 0, "count": 4000, "passes": 1}
#              (objects start..start+count-1 of the backend named "store"; reads go over them `passes` times)
#            {"op": "fill", "count": 100000} -> stores count 16-byte items for the list (untimed)
#            {"op": "list"} -> Store.list("data") over the filled items, {"seconds", "items"}
#   Separate commands let a bench order phases for the disk: every create before any delete.
import hashlib
import json
import os
import sys
import time

from borgstore.store import Store

values = {}


def value_of(size):
    if size not in values:
        values[size] = os.urandom(size)
    return values[size]


def timed(target, op, todo, value):
    """The one store/load/info/delete loop, on a Store or a backend alike: seconds for all of todo."""
    t0 = time.perf_counter()
    if op == "store":
        for n in todo:
            target.store(n, value)
    elif op == "load":
        for n in todo:
            if len(target.load(n)) != len(value):
                raise SystemExit(f"load of {n} returned a wrong size")
    elif op == "info":
        for n in todo:
            target.info(n)
    elif op == "delete":
        for n in todo:
            target.delete(n)
    else:
        raise SystemExit(f"unknown op {op}")
    return time.perf_counter() - t0


class OneStore:
    """The reference's Store at a URL."""

    def __init__(self, url, config):
        self.store = Store(url=url, config=config)
        self.store.create()
        self.store.open()

    def phase(self, cmd):
        todo = [cmd["ns"] + "/" + hashlib.sha256((cmd["tag"] + str(i)).encode()).hexdigest() for i in range(cmd["count"])]
        return self.store, todo

    def list(self, cmd):
        return self.store.list(cmd["ns"])

    def fill(self, cmd):
        raise SystemExit("fill is a --posixfs command")

    def close(self):
        self.store.close()
        self.store.destroy()


class PosixBackends:
    """The reference's posixfs backends below BASE, one per label."""

    def __init__(self, base):
        from borgstore.backends.posixfs import PosixFS
        from borgstore.utils.nesting import nest

        self.base, self.posixfs, self.nest = base, PosixFS, nest
        self.backends = {}
        self.list_store = None

    def backend(self, label):
        if label not in self.backends:
            backend = self.posixfs(os.path.join(self.base, label))
            backend.create()
            backend.open()
            self.backends[label] = backend
        return self.backends[label]

    def phase(self, cmd):
        start, count = cmd.get("start", 0), cmd.get("count", 0)
        names = [self.nest("data/" + hashlib.sha256(str(i).encode()).hexdigest(), 2) for i in range(start, start + count)]
        passes = cmd.get("passes", 1) if cmd["op"] in ("load", "info") else 1
        return self.backend(cmd["store"]), names * passes

    def fill(self, cmd):
        self.list_store = Store(url="file://" + os.path.join(self.base, "list"), config={"data/": {"levels": [2]}})
        self.list_store.create()
        self.list_store.open()
        small = os.urandom(16)
        for i in range(cmd["count"]):
            self.list_store.store("data/" + hashlib.sha256(str(i).encode()).hexdigest(), small)

    def list(self, cmd):
        return self.list_store.list("data")

    def close(self):
        pass


target = PosixBackends(sys.argv[2]) if sys.argv[1] == "--posixfs" else OneStore(sys.argv[1], json.loads(sys.argv[2]))
for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    result = {}
    if op == "close":
        target.close()
        print(json.dumps(result), flush=True)
        break
    t0 = time.perf_counter()
    if op == "fill":
        target.fill(cmd)
        result["seconds"] = time.perf_counter() - t0
    elif op == "list":
        result["items"] = sum(1 for _ in target.list(cmd))
        result["seconds"] = time.perf_counter() - t0
    else:
        on, todo = target.phase(cmd)
        result["seconds"] = timed(on, op, todo, value_of(cmd.get("size", 16)))
    print(json.dumps(result), flush=True)
