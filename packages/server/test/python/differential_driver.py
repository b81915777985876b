"""
Runs batches of store operations through the unmodified Python borgstore client (Store over its
REST backend) and prints what each one returned, for the differential test.

stdin: {"url": "http://user:pass@127.0.0.1:PORT/", "config": {...}, "sequences": [[op, ...], ...]}
stdout: [[result, ...], ...] with result = {"ok": <value>} or {"err": "<ExceptionClass>[ <HTTP status>]"}

Values are made comparable: bytes as {"sha256", "len"}, ItemInfo without atime, list as a sorted
list. Each sequence starts on a fresh store (destroy if present, then create).
"""

import hashlib
import json
import sys

from borgstore.store import Store


def value_bytes(size, seed):
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def describe_bytes(data):
    return {"sha256": hashlib.sha256(data).hexdigest(), "len": len(data)}


def describe_error(exc):
    name = type(exc).__name__
    response = getattr(exc, "response", None)
    if response is not None and name == "HTTPError":
        return f"{name} {response.status_code}"
    return name


def run_op(store, op):
    kind = op["op"]
    deleted = op.get("deleted", False)
    if kind == "store":
        return store.store(op["name"], value_bytes(op["size"], op["seed"]))
    if kind == "load":
        return describe_bytes(store.load(op["name"], offset=op["offset"], size=op["size"], deleted=deleted))
    if kind == "info":
        info = store.info(op["name"], deleted=deleted)
        return {"exists": info.exists, "size": info.size if not info.directory else None, "directory": info.directory}
    if kind == "list":
        return sorted([i.name, i.size, i.directory] for i in store.list(op["name"], deleted=deleted))
    if kind == "delete":
        return store.delete(op["name"], deleted=deleted)
    if kind == "move":
        return store.move(op["name"], op["new_name"], deleted=deleted)
    if kind == "softdelete":
        return store.move(op["name"], delete=True)
    if kind == "undelete":
        return store.move(op["name"], undelete=True)
    if kind == "mkdir":
        return store.backend.mkdir(op["name"])
    if kind == "rmdir":
        return store.backend.rmdir(op["name"])
    if kind == "hash":
        return store.hash(op["name"], algorithm=op["algorithm"], deleted=deleted)
    if kind == "defrag":
        sources = [tuple(s) for s in op["sources"]]
        return store.defrag(sources, target=op["target"], algorithm=op["algorithm"], namespace=op["namespace"])
    if kind == "quota":
        return store.quota()
    raise ValueError(f"unknown op {kind}")


def run_sequence(url, config, ops):
    store = Store(url=url, config=config)
    # A dropped keep-alive connection is retried after this pause (5 s by default).
    store.backend.reconnect_wait = 0.05
    try:
        store.destroy()
    except Exception:
        pass
    store.create()
    results = []
    store.open()
    is_open = True
    for op in ops:
        try:
            if op["op"] in ("create", "destroy"):
                if is_open:
                    store.close()
                    is_open = False
                try:
                    value = store.create() if op["op"] == "create" else store.destroy()
                finally:
                    store.open()
                    is_open = True
            else:
                value = run_op(store, op)
            results.append({"ok": value})
        except Exception as exc:
            results.append({"err": describe_error(exc)})
    if is_open:
        store.close()
    return results


def main():
    job = json.load(sys.stdin)
    out = [run_sequence(job["url"], job["config"], ops) for ops in job["sequences"]]
    json.dump(out, sys.stdout)


main()
