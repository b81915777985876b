# Times the unmodified Python reference client (Store over RestBackend, sequential, as borg uses
# it) against one REST server. Reads one JSON command per line on stdin, answers one JSON line:
#   {"op": "store"|"load"|"info"|"list"|"delete", "ns": "s1024/", "size": 1024, "start": 0, "count": 50}
# ("of": N makes info visit object i % N)
# -> {"seconds": <time for all count operations>}   (list: count listings of the namespace)
import json
import os
import sys
import time

from borgstore.store import Store

url, namespaces = sys.argv[1], sys.argv[2].split(",")
store = Store(url=url, config={ns: {"levels": [0]} for ns in namespaces})
store.create()
store.open()
values = {}


def name(ns, i):
    return f"{ns}{i:064x}"


for line in sys.stdin:
    cmd = json.loads(line)
    op, ns, size, start, count = cmd["op"], cmd["ns"], cmd["size"], cmd["start"], cmd["count"]
    of = cmd.get("of")
    if op == "store" and size not in values:
        values[size] = os.urandom(size)
    t0 = time.perf_counter()
    if op == "store":
        value = values[size]
        for i in range(start, start + count):
            store.store(name(ns, i), value)
    elif op == "load":
        for i in range(start, start + count):
            if len(store.load(name(ns, i))) != size:
                raise SystemExit(f"load of {name(ns, i)} returned a wrong size")
    elif op == "info":
        for i in range(start, start + count):
            if store.info(name(ns, i % of if of else i)).size != size:
                raise SystemExit(f"info of {name(ns, i)} returned a wrong size")
    elif op == "list":
        for _ in range(count):
            items = sum(1 for _ in store.list(ns.rstrip("/")))
    elif op == "delete":
        for i in range(start, start + count):
            store.delete(name(ns, i))
    else:
        raise SystemExit(f"unknown op {op}")
    seconds = time.perf_counter() - t0
    sys.stdout.write(json.dumps({"seconds": seconds}) + "\n")
    sys.stdout.flush()
store.close()
