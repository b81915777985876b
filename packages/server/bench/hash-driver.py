# Times the unmodified Python reference's Store.hash (hashlib, or the server's hashlib over REST)
# on objects another process stored. Reads one JSON command per line on stdin, answers one line:
#   {"algorithm": "sha256", "names": ["data/..", ...], "minSeconds": 0.25}
# -> {"ops": <hashes done>, "seconds": <time they took>, "cpu": <CPU seconds of this process
#     meanwhile>, "digest": <digest of names[0]>}
# (it goes round `names` until minSeconds have passed)
import json
import sys
import time

from borgstore.store import Store

url, namespaces = sys.argv[1], sys.argv[2].split(",")
store = Store(url=url, config={ns: {"levels": [0]} for ns in namespaces})
store.open()

for line in sys.stdin:
    cmd = json.loads(line)
    algorithm, names, min_seconds = cmd["algorithm"], cmd["names"], cmd["minSeconds"]
    first = store.hash(names[0], algorithm)
    ops = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        store.hash(names[ops % len(names)], algorithm)
        ops += 1
        seconds = time.perf_counter() - t0
        if seconds >= min_seconds:
            break
    cpu = time.process_time() - cpu0
    sys.stdout.write(json.dumps({"ops": ops, "seconds": seconds, "cpu": cpu, "digest": first}) + "\n")
    sys.stdout.flush()
store.close()
