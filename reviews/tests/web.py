"""A logged-in browser's HTTP for tests against a real server (``LiveServer``): a cookie jar, the
CSRF token sent back as a form sends it, redirects answered but not followed; and reads of the
server's own database, to check afterwards what was stored."""

from __future__ import annotations

import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any, Callable
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

from testsupport.live_server import LiveServer


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 30x comes back as the answer (an HTTPError), as a test wants to see it


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class WebUser:
    def __init__(self, server: LiveServer, *, user_agent: str = "pytest-live/1.0") -> None:
        self.server = server
        self.user_agent = user_agent
        self.jar = CookieJar()  # thread-safe: threads of one user share it, as a browser's tabs do
        self.opener = build_opener(HTTPCookieProcessor(self.jar), _NoRedirect)

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def request(self, method: str, path: str, data: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                timeout: float = 60) -> Answer:
        body = urlencode(data).encode() if data is not None else None
        request = Request(self.server.url + path, data=body, method=method,
                          headers={"User-Agent": self.user_agent, **(headers or {})})
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return Answer(response.status, response.headers, response.read().decode())
        except HTTPError as exc:
            return Answer(exc.code, exc.headers, exc.read().decode(errors="replace"))

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, data: dict[str, Any] | None = None, **headers: str) -> Answer:
        return self.request("POST", path, {**(data or {}), "csrfmiddlewaretoken": self.cookie("csrftoken")}, headers)

    def log_in(self, username: str, password: str) -> "WebUser":
        self.get("/accounts/login/")  # sets the CSRF cookie
        answer = self.post("/accounts/login/", {"username": username, "password": password})
        assert answer.status == 302, answer.text[:500]
        return self


def at_once(count: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(0)`` … ``fn(count - 1)`` in as many threads, released together."""
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait()
        return fn(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def server_rows(server: LiveServer, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows from the live server's own database (``%s`` placeholders)."""
    if server.env["DATABASE_URL"]:
        import psycopg

        with psycopg.connect(server.env["DATABASE_URL"]) as conn:
            return [tuple(row) for row in conn.execute(sql, params)]
    with closing(sqlite3.connect(f"{server.tmp.name}/db.sqlite3")) as conn:
        return conn.execute(sql.replace("%s", "?"), params).fetchall()


def review_pk(location: str) -> int:
    match = re.fullmatch(r"/reviews/(\d+)/", location)
    assert match, location
    return int(match.group(1))
