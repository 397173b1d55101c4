"""What a browser would refuse on a page under its Content-Security-Policy header, found without a
browser: inline scripts, inline styles and style attributes the policy allows neither by nonce nor
by hash, event-handler attributes and ``javascript:`` URLs. (The browser tests look at the real
thing; this runs in every test run, on every page the tests render.)"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

NON_SCRIPT_TYPES = {"application/json", "application/ld+json", "text/template", "text/x-template"}


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def directives(header: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            found[words[0]] = words[1:]
    return found


class _Finder(HTMLParser):
    def __init__(self, policy: dict[str, list[str]]) -> None:
        super().__init__(convert_charrefs=True)
        self.policy = policy
        self.problems: list[str] = []
        self._inline: tuple[str, dict[str, str]] | None = None
        self._text: list[str] = []

    def _sources(self, *names: str) -> list[str]:
        for name in names:
            if name in self.policy:
                return self.policy[name]
        return self.policy.get("default-src", [])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> (an event handler attribute)")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if "style" in values:
            allowed = self._sources("style-src-attr", "style-src")
            if not ("'unsafe-inline'" in allowed or ("'unsafe-hashes'" in allowed and sha256_source(values["style"]) in allowed)):
                self.problems.append(f'<{tag} style="{values["style"]}">')
        inline_script = tag == "script" and "src" not in values and values.get("type", "").lower() not in NON_SCRIPT_TYPES
        if inline_script or tag == "style":
            self._inline, self._text = (tag, values), []

    def handle_data(self, data: str) -> None:
        if self._inline is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._inline is None or tag != self._inline[0]:
            return
        kind, values = self._inline
        self._inline = None
        body = "".join(self._text)
        allowed = self._sources(f"{kind}-src-elem", f"{kind}-src")
        nonce = values.get("nonce")
        if "'unsafe-inline'" in allowed or (nonce and f"'nonce-{nonce}'" in allowed) or sha256_source(body) in allowed:
            return
        self.problems.append(f"inline <{kind}>{body.strip()[:80]!r}")


def csp_problems(html: str, header: str) -> list[str]:
    """Everything on the page the policy ``header`` would block."""
    finder = _Finder(directives(header))
    finder.feed(html)
    finder.close()
    return finder.problems
