"""One side of a cross-implementation cell, run with the unmodified Python reference.

    python3 cross_implementation_cell.py write|read|recheck  < cell.json  > result.json

cell.json: {"url": ..., "config": {namespace: {"levels": [...]}}, "quota": int|null,
            "objects": {name: size}, "softDelete": [name, ...]}

write: creates the store, stores random values of the given sizes, soft-deletes some, and prints
       the manifest {"live": {name: {size, sha256}}, "deleted": {...}, "quota": {...}|null}.
read:  opens the store the other implementation wrote and prints what it observes: listings,
       loads, server-side hashes, soft-deleted items, and all of it again after undeleting them.
recheck: the writer opens the store again after the other side's undeletes and prints
       {"quota": ..., "observation": ...} without changing anything.
The TypeScript side (packages/testkit/src/cross-implementation.ts) does the same with our Store;
the test compares the two JSON documents.
"""

import hashlib
import json
import os
import sys

from borgstore.store import Store, get_backend


def open_store(cell):
    backend = get_backend(cell["url"], quota=cell.get("quota"))
    if backend is None:
        raise SystemExit(f"the reference knows no backend for {cell['url']}")
    return Store(backend=backend, config=cell["config"])


def digest(value):
    return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest()}


def namespaces(cell):
    return sorted(ns.rstrip("/") for ns in cell["config"])


def listing(store, cell, deleted):
    found = {}
    for ns in namespaces(cell):
        for info in store.list(ns, deleted=deleted):
            found[f"{ns}/{info.name}"] = info.size
    return found


def observe(store, cell):
    live = listing(store, cell, deleted=False)
    deleted = listing(store, cell, deleted=True)
    return {
        "listed": live,
        "listedDeleted": deleted,
        "loaded": {name: digest(store.load(name)) for name in live},
        "hashed": {name: store.hash(name) for name in live},
        "loadedDeleted": {name: digest(store.load(name, deleted=True)) for name in deleted},
        "hashedDeleted": {name: store.hash(name, deleted=True) for name in deleted},
    }


def quota(store, cell):
    return store.quota() if cell.get("quota") is not None else None


def write(cell):
    store = open_store(cell)
    store.create()
    manifest = {"live": {}, "deleted": {}}
    with store:
        for name, size in cell["objects"].items():
            value = os.urandom(size)
            store.store(name, value)
            manifest["live"][name] = digest(value)
        for name in cell["softDelete"]:
            store.move(name, delete=True)
            manifest["deleted"][name] = manifest["live"].pop(name)
        manifest["quota"] = quota(store, cell)
    return manifest


def read(cell):
    store = open_store(cell)
    with store:
        result = {"quotaOnOpen": quota(store, cell), "before": observe(store, cell)}
        for name in result["before"]["listedDeleted"]:
            store.move(name, undelete=True)
        result["afterUndelete"] = observe(store, cell)
        result["quotaAfterUndelete"] = quota(store, cell)
    return result


def recheck(cell):
    store = open_store(cell)
    with store:
        return {"quota": quota(store, cell), "observation": observe(store, cell)}


if __name__ == "__main__":
    operation = {"write": write, "read": read, "recheck": recheck}[sys.argv[1]]
    json.dump(operation(json.load(sys.stdin)), sys.stdout, sort_keys=True)
