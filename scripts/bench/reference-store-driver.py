# Times the unmodified Python reference's Store on any backend URL it knows (sftp:, s3:, rclone:,
# file:), sequential as borg uses it, so that a bench can put its figures beside ours from the same
# run on the same server. argv[1]: the store's URL (a location that does not exist yet: created
# here, destroyed at "close"); argv[2]: the Store's config as JSON (namespace levels).
# One JSON command per line on stdin, one JSON answer per line on stdout:
#   {"op": "store"|"load"|"delete", "ns": "data", "tag": "a", "size": 1024, "count": 300}
#       -> {"seconds": <time for all count operations>}; the names are NS/sha256(TAG + i), nested
#          by the Store as its config says; a load checks the size it got back
#   {"op": "list", "ns": "data"} -> {"seconds", "items"}
#   {"op": "close"} -> {} after closing and destroying the store
import hashlib
import json
import os
import sys
import time

from borgstore.store import Store

store = Store(url=sys.argv[1], config=json.loads(sys.argv[2]))
store.create()
store.open()
values = {}


def names(ns, tag, count):
    return [ns + "/" + hashlib.sha256((tag + str(i)).encode()).hexdigest() for i in range(count)]


for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    result = {}
    if op == "close":
        store.close()
        store.destroy()
        print(json.dumps(result), flush=True)
        break
    t0 = time.perf_counter()
    if op == "list":
        result["items"] = sum(1 for _ in store.list(cmd["ns"]))
    else:
        size = cmd["size"]
        todo = names(cmd["ns"], cmd["tag"], cmd["count"])
        if size not in values:
            values[size] = os.urandom(size)
        value = values[size]
        t0 = time.perf_counter()
        if op == "store":
            for n in todo:
                store.store(n, value)
        elif op == "load":
            for n in todo:
                if len(store.load(n)) != size:
                    raise SystemExit(f"load of {n} returned a wrong size")
        elif op == "delete":
            for n in todo:
                store.delete(n)
        else:
            raise SystemExit(f"unknown op {op}")
    result["seconds"] = time.perf_counter() - t0
    print(json.dumps(result), flush=True)
