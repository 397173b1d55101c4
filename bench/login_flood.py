"""/health while many logins arrive at once, against a real server process (uvicorn, SQLite).

    .venv/bin/python bench/login_flood.py [--logins 48] [--wrong] [--rounds 3]

Each round: N clients log in at the same moment (their own user, the right password; with
``--wrong``, all at one user with wrong passwords, as a guesser would), while a probe asks for
/health every 50 ms. Prints the logins' statuses and wall time and /health's median and worst
latency during the flood, per round and over all rounds. Password hashing (PBKDF2, about 0.4 s
of a core here) is what the logins cost; ``LOGIN_CONCURRENCY`` (the password gate) bounds how
many run at once.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import statistics
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import health_probe  # noqa: E402
from testsupport.live_server import LiveServer  # noqa: E402

PASSWORD = "flood-password-1"


def log_in(url: str, username: str, password: str) -> int:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                         _NoRedirect())
    opener.open(url + "/accounts/login/", timeout=120).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    try:
        with opener.open(urllib.request.Request(url + "/accounts/login/", data=body.encode()), timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 302 after a login is the answer we want
        return None


def flood(server: LiveServer, n: int, wrong: bool) -> tuple[Counter, float, list[float]]:
    def one(i: int) -> int:
        user, password = ("victim", f"wrong-{i}") if wrong else (f"user{i}", PASSWORD)
        return log_in(server.url, user, password)

    statuses, wall, latencies, _ = health_probe.flood(server.url, n, one)
    return statuses, wall, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=48)
    parser.add_argument("--wrong", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with LiveServer() as server:
        server.manage("shell", "-c", (
            "from django.contrib.auth.models import User\n"
            f"for i in range({args.logins}): User.objects.create_user(f'user{{i}}', password={PASSWORD!r})\n"
            f"User.objects.create_user('victim', password={PASSWORD!r})\n"))
        everything: list[float] = []
        for round_ in range(args.rounds):
            statuses, wall, latencies = flood(server, args.logins, args.wrong)
            everything += latencies
            print(f"round {round_ + 1}: logins {dict(statuses)} in {wall:.1f} s; /health median "
                  f"{statistics.median(latencies) * 1000:.0f} ms, worst {max(latencies) * 1000:.0f} ms "
                  f"({len(latencies)} probes)")
            if args.wrong:
                server.manage("axes_reset") if _has_axes(server) else None
        print(f"all rounds: /health median {statistics.median(everything) * 1000:.0f} ms, "
              f"p95 {statistics.quantiles(everything, n=20)[-1] * 1000:.0f} ms, worst {max(everything) * 1000:.0f} ms")


def _has_axes(server: LiveServer) -> bool:
    try:
        server.manage("help", "axes_reset")
        return True
    except RuntimeError:
        return False


if __name__ == "__main__":
    main()
