"""The unmodified reference REST client on one kept session through answers that close the connection.

Usage: reference_client_refusals.py BASE_URL. Prints one line per check; exits 1 on a failure.
"""
import sys

import requests
from borgstore.backends.errors import PermissionDenied
from borgstore.backends.rest import REST

base = sys.argv[1]
failures = 0


def check(what, condition):
    global failures
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures += 1


def raises(call, kind):
    try:
        call()
    except kind as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - reported as a failure below
        return exc
    return None


client = REST(base, "testuser", "testpass", reconnect_wait=0.1)

client.open()
client.store("data/one", b"1" * 100)
exc = raises(lambda: client.store("data/big", b"2" * 200_000), requests.exceptions.HTTPError)
check(f"413 for a value over --max-object-size ({exc!r})", isinstance(exc, requests.exceptions.HTTPError) and exc.response.status_code == 413)
client.store("data/two", b"3" * 100)
check("the session goes on after the 413", client.load("data/two") == b"3" * 100)
exc = raises(lambda: client.store("locked/x", b"4" * 100), PermissionDenied)
check(f"403 for a forbidden namespace ({exc!r})", isinstance(exc, PermissionDenied))
check("the session goes on after the 403", client.load("data/one") == b"1" * 100)
client.close()

intruder = REST(base, "testuser", "wrong", reconnect_wait=0.1)
intruder.open()
for size in (100, 1_000_000, 6_000_000):
    exc = raises(lambda: intruder.store("data/intruder", b"5" * size), requests.exceptions.HTTPError)
    check(f"401 for a {size}-byte store with a wrong password ({exc!r})", isinstance(exc, requests.exceptions.HTTPError) and exc.response.status_code == 401)
intruder.close()
client.open()
check("nothing of the intruder was stored", raises(lambda: client.load("data/intruder"), Exception) is not None)
client.close()
sys.exit(1 if failures else 0)
