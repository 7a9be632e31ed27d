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

The cookies sent (`session`, `refresh`) are the ones the last sign-up, sign-in or renewal set.
"""

import os
import threading
import time
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
    """One role's user and its cookies."""

    def __init__(self, name):
        self.name = name
        self.generation = 0
        if name == "admin":
            self.email, self.password = ADMIN_EMAIL, ADMIN_PASSWORD
        else:
            self.email, self.password = f"{name}-{RUN}@fuzz.test", PASSWORD
        self.signed_up = False
        self.current = {}

    def cookies(self, base_url):
        """Fresh cookies: renewed through `refresh` while the sign-in lives (no password
        check there, so fuzzed sign-ins that throttle an email we use don't stop us), else
        from a new sign-in; a seller, buyer or throwaway user who can't sign in any more
        (banned by a fuzzed ban, its email throttled by fuzzed sign-ins) is replaced by a
        new user, at most twice a call."""
        with requests.Session() as http:
            if self.current:
                answer = http.post(f"{base_url}/api/users/refresh", cookies=self.current, timeout=30)
                if answer.status_code == 200:
                    return self._keep(answer)
            for _ in range(3):
                if not self.signed_up:
                    answer = self._post(http, base_url, "signup")
                    # 400 `Email in use`: an admin who signed up before; sign in below.
                    self.signed_up = answer.status_code in (201, 400)
                    if answer.status_code == 201:
                        return self._keep(answer)
                answer = self._post(http, base_url, "signin")
                if answer.status_code == 429 and self.name == "admin":
                    # Our only admin: wait out the throttle once.
                    time.sleep(min(int(answer.headers.get("Retry-After", "5")), 60))
                    answer = self._post(http, base_url, "signin")
                if answer.status_code == 200 or self.name == "admin":
                    return self._keep(answer)
                self.generation += 1
                self.email = f"{self.name}{self.generation}-{RUN}@fuzz.test"
                self.signed_up = False
            return self._keep(answer)

    def _post(self, http, base_url, route):
        return http.post(
            f"{base_url}/api/users/{route}",
            json={"email": self.email, "password": self.password},
            timeout=30,
        )

    def _keep(self, answer):
        if answer.status_code not in (200, 201):
            self.current = {}
            raise RuntimeError(
                f"{self.name} {self.email}: {answer.request.url} answered "
                f"{answer.status_code} {answer.text[:300]}"
            )
        # A refresh within the reuse grace sets no new `refresh`: the one we have stays.
        renewed = {name: answer.cookies.get(name) for name in ("session", "refresh")}
        self.current.update({name: value for name, value in renewed.items() if value})
        if not renewed["session"]:
            raise RuntimeError(f"{self.name}: {answer.request.url} set no session cookie")
        return dict(self.current)


ACCOUNTS = {name: Account(name) for name in ("seller", "buyer", "admin", "auth")}
LOCK = threading.Lock()


def by_role(case, context):
    return role(context.operation)


# Each role's cookies are cached for `refresh_interval` seconds, then renewed: that bounds
# how long a session ended behind our back (the throwaway user's fuzzed signout, a ban)
# goes on being sent. A 401 or 498 (expired token) on a cached cookie makes schemathesis
# drop the cache, renew and replay that one request once. What ends the retrying: a replay
# answering 401 again marks the operation as not about the token (no more retries for it),
# and three failed renewals in a row switch the retries off for the run
# (schemathesis.auths.ReauthState); `Account.cookies` itself tries at most three users.
@schemathesis.auth(refresh_interval=60, cache_by_key=by_role, retry_on=[401, 498])
class Users:
    def get(self, case, context):
        base_url = context.operation.schema.get_base_url().rstrip("/")
        with LOCK:
            return ACCOUNTS[role(context.operation)].cookies(base_url)

    def set(self, case, data, context):
        case.cookies = {**(case.cookies or {}), **{k: v for k, v in data.items() if v}}
