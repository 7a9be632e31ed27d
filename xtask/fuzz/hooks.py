"""Schemathesis hooks for `cargo xtask fuzz`: every operation runs signed in, as the user
its route needs, so the fuzzer reaches handlers instead of stopping at 401.

Users, signed up through the API on first use (their emails are unique to the run):
- seller: /api/tickets* (creates the tickets the stateful links then show, edit and order);
- buyer: /api/orders*, /api/payments* (a user can't buy their own ticket);
- admin: GET /api/users and /api/users/{id}/ban; its email is FUZZ_ADMIN_EMAIL (xtask puts
  the same one in the server's ADMIN_EMAILS). Unset, the admin routes run as the seller and
  answer 403, which the contract declares;
- auth: the other /api/users/* routes (signup, signin, signout, refresh, currentuser), a
  throwaway user, so a fuzzed signout never ends the seller's or buyer's sign-in.

The cookies sent are the `session` and `refresh` cookies the sign-up or sign-in answered.
"""

import os
import threading
import uuid

import requests
import schemathesis

# A run's users; a fresh suffix each run, so a server fuzzed before (e.g. a cluster) has no
# user of that email yet.
RUN = uuid.uuid4().hex[:10]
PASSWORD = "fuzz-Pass-1"
ADMIN_EMAIL = os.environ.get("FUZZ_ADMIN_EMAIL", "").strip()
# Only needed when FUZZ_ADMIN_EMAIL already has an account on the server fuzzed.
ADMIN_PASSWORD = os.environ.get("FUZZ_ADMIN_PASSWORD", PASSWORD)


def role(operation):
    path = operation.path
    if path == "/api/users" or path.endswith("/ban"):
        return "admin" if ADMIN_EMAIL else "seller"
    if path.startswith("/api/users"):
        return "auth"
    if path.startswith("/api/orders") or path.startswith("/api/payments"):
        return "buyer"
    return "seller"


class Account:
    """One role's user: signs up the first time, signs in after that."""

    def __init__(self, name):
        if name == "admin":
            self.email, self.password = ADMIN_EMAIL, ADMIN_PASSWORD
        else:
            self.email, self.password = f"{name}-{RUN}@fuzz.test", PASSWORD
        self.name = name
        self.generation = 0
        self.signed_up = False

    def cookies(self, base_url):
        with requests.Session() as http:
            if not self.signed_up:
                answer = self._post(http, base_url, "signup")
                # 400 `Email in use`: the admin of a server fuzzed before; sign in below.
                self.signed_up = answer.status_code in (201, 400)
                if answer.status_code == 201:
                    return self._take(answer)
            answer = self._post(http, base_url, "signin")
            if answer.status_code == 403 and self.name != "admin":
                # A fuzzed POST /api/users/{id}/ban reached this user: go on as a new one.
                self.generation += 1
                self.email = f"{self.name}{self.generation}-{RUN}@fuzz.test"
                self.signed_up = False
                return self.cookies(base_url)
            return self._take(answer)

    def _post(self, http, base_url, route):
        return http.post(
            f"{base_url}/api/users/{route}",
            json={"email": self.email, "password": self.password},
            timeout=30,
        )

    def _take(self, answer):
        if answer.status_code not in (200, 201):
            raise RuntimeError(
                f"{self.name} {self.email}: {answer.request.url} answered "
                f"{answer.status_code} {answer.text[:300]}"
            )
        cookies = {name: answer.cookies.get(name) for name in ("session", "refresh")}
        if not cookies["session"]:
            raise RuntimeError(f"{self.name}: {answer.request.url} set no session cookie")
        return cookies


ACCOUNTS = {name: Account(name) for name in ("seller", "buyer", "admin", "auth")}
LOCK = threading.Lock()


def by_role(case, context):
    return role(context.operation)


# Each role's cookies are cached for `refresh_interval` seconds, then the user signs in
# again: that bounds how long a session ended behind our back (the throwaway user's fuzzed
# signout, a ban) goes on being sent. A 401 or 498 (expired token) on a cached cookie makes
# schemathesis drop the cache, sign in again and replay that one request once; what ends
# the retrying: a replay answering 401 again marks the operation as not about the token (no
# more retries for it), and three failed sign-ins in a row switch the retries off for the
# run (schemathesis.auths.ReauthState).
@schemathesis.auth(refresh_interval=60, cache_by_key=by_role, retry_on=[401, 498])
class Users:
    def get(self, case, context):
        base_url = context.operation.schema.get_base_url().rstrip("/")
        with LOCK:
            return ACCOUNTS[role(context.operation)].cookies(base_url)

    def set(self, case, data, context):
        case.cookies = {**(case.cookies or {}), **{k: v for k, v in data.items() if v}}
