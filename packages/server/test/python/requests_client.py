"""Talks to a borgstore REST server with python-requests, the HTTP library of the Python client.

Usage: requests_client.py BASE_URL USER PASSWORD. Prints one line per check; exits 1 on a failure.
"""
import hashlib
import sys

import requests

ACCEPT = "application/vnd.x.borgstore.rest.v1"
base, user, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
session = requests.Session()
session.auth = (user, password)
session.headers["Accept"] = ACCEPT
failures = 0


def check(what, condition):
    global failures
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures += 1


value = bytes(memoryview(b"x" * 8990))
r = session.post(base + "/?cmd=create")
check("create", r.status_code == 200)
r = session.post(base + "/ns/item", data=value, headers={"X-Content-hash-sha256": hashlib.sha256(value).hexdigest()})
check("store with hash", r.status_code == 200)
r = session.get(base + "/ns/missing")
check("load missing: 404 with the name in the page, HTTP/1.1", r.status_code == 404 and "ns/missing" in r.text and r.raw.version == 11)
r = session.head(base + "/ns/item")
check(
    "info after an error page on the same session",
    r.status_code == 200
    and r.headers["Content-Length"] == "8990"
    and r.headers["X-BorgStore-Is-Directory"] == "false"
    and float(r.headers["X-BorgStore-Atime"]) > 0,
)
r = session.get(base + "/ns/item", headers={"Range": "bytes=10-19"})
check("ranged load is 206", r.status_code == 206 and r.content == value[10:20])
r = session.get(base + "/ns/item")
check("whole load is 200", r.status_code == 200 and r.content == value)
r = requests.post(base + "/?cmd=create")
check("requests' default Accept */* is 406", r.status_code == 406 and "Not Acceptable" in r.text)
r = requests.post(base + "/?cmd=create", headers={"Accept": "text/plain"})
check("Accept text/plain is 406", r.status_code == 406)
r = requests.get(base + "/ns/item", headers={"Accept": ACCEPT})
check("no credentials is 401", r.status_code == 401 and r.headers.get("WWW-Authenticate") == 'Basic realm="BorgStore REST Server"')
r = requests.get(base + "/ns/item", headers={"Accept": ACCEPT}, auth=(user, "wrong"))
check("wrong password is 401", r.status_code == 401)
r = requests.get(base + "/ns/item", headers={"Accept": ACCEPT}, auth=("wrong", password))
check("wrong user is 401", r.status_code == 401)
r = session.post(base + "/ns/bad", data=b"data", headers={"X-Content-hash-sha256": "0" * 64})
check("hash mismatch is 422", r.status_code == 422 and "Content hash verification failed" in r.text)
check("nothing stored after 422", session.get(base + "/ns/bad").status_code == 404)
r = session.post(base + "/?cmd=defrag&target=ns%2Fd", json=[["ns/item", 0, 5]])
check("defrag answers the target as text/plain", r.status_code == 200 and r.text == "ns/d" and r.headers["Content-Type"] == "text/plain")
r = session.get(base + "/ns/")
check("list", r.status_code == 200 and [e["name"] for e in r.json()] == ["d", "item"])
r = session.post(base + "/ns/item?cmd=hash&algorithm=sha256")
check("server-side hash", r.text == hashlib.sha256(value).hexdigest())
r = session.delete(base + "/?cmd=destroy")
check("destroy", r.status_code == 200)
sys.exit(1 if failures else 0)
