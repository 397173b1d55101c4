"""Bad input against a real server, the way an attacker or a broken client sends it: over real
HTTP, WebSocket and MCP round trips to a live uvicorn (``LiveServer``), through the edge.

Every row must be answered with a JSON 4xx (an error frame on the WebSocket, a JSON-RPC error or
an ``isError`` result on MCP) whose location or message names the field — never HTML, never a
5xx, never a 1011 close — and must leave the server's database exactly as it was. Refusals of
well-formed actions by the environment itself (a drug outside the regimen) are ordinary steps:
see test_api_step.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from episodes.tests.conftest import FINISH, ws_request, ws_url
from testsupport.live_server import LiveServer

pytestmark = pytest.mark.live

DEEP = 100_000  # levels of nesting in the deep rows
QUERY = {"action_type": "query_ddi", "drug_id_1": "DRUG_A", "drug_id_2": "DRUG_B"}


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as live:
        live.manage("create_user", "rex", "--role", "researcher", "--password", "a-long-researcher-password")
        live.token = live.manage("create_api_token", "rex").strip().split()[-1]  # type: ignore[attr-defined]  # this module's note
        yield live


def stored(server: LiveServer) -> dict[str, list[tuple]]:
    """Every row of the tables bad input could touch, in the server's own database."""
    queries = {
        "episodes": "SELECT id, status, step_count, current_risk, updated_at FROM episodes_episode ORDER BY id",
        "steps": 'SELECT id, episode_id, "index" FROM episodes_step ORDER BY id',
        "jobs": "SELECT id, status FROM jobs_job ORDER BY id",
        "checkpoints": "SELECT id FROM jobs_checkpoint ORDER BY id",
        "audit": "SELECT id FROM reviews_auditrecord ORDER BY id",
    }
    if server.env["DATABASE_URL"]:
        import psycopg

        with psycopg.connect(server.env["DATABASE_URL"]) as conn:
            return {name: [tuple(map(str, r)) for r in conn.execute(sql)] for name, sql in queries.items()}
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(f"{server.tmp.name}/db.sqlite3")) as conn:
        return {name: [tuple(map(str, r)) for r in conn.execute(sql)] for name, sql in queries.items()}


def request(server: LiveServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a raw socket, read to the end even when the server answers (and
    closes) before the whole body is sent, as it does for an oversized one."""
    head = {"Host": "127.0.0.1", "Content-Type": "application/json", "Connection": "close", **(headers or {})}
    if body is not None:
        head["Content-Length"] = str(len(body))
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall("\r\n".join(lines).encode() + (body or b""))
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early: the answer is waiting to be read
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    response = http.client.HTTPResponse(_Bytes(data))  # type: ignore[arg-type]  # makefile() is all it calls
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


class _Bytes:
    """A socket stand-in that ``http.client.HTTPResponse`` reads a received answer from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> Any:
        import io

        return io.BytesIO(self.data)


def deep(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


def gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def open_episode(server: LiveServer) -> str:
    status, _, body = request(server, "POST", "/reset", json.dumps({"task_id": "easy_screening", "seed": 1}).encode())
    assert status == 200
    return json.loads(body)["observation"]["episode_id"]


GZIP = {"Content-Encoding": "gzip"}
TOKEN = "TOKEN"  # replaced by the researcher's token
# (id, method, path, body: str | bytes, extra headers, expected status, expected loc (422) or a
# word of the detail). "{episode}" in a body names an open episode.
HTTP_ROWS: list[tuple[str, str, str, Any, dict[str, str], int, Any]] = [
    # /reset
    ("NaN seed", "POST", "/reset", '{"seed": NaN}', {}, 422, ["body", "seed"]),
    ("Infinity seed", "POST", "/reset", '{"seed": Infinity}', {}, 422, ["body", "seed"]),
    ("-Infinity seed", "POST", "/reset", '{"seed": -Infinity}', {}, 422, ["body", "seed"]),
    ("1e400 seed", "POST", "/reset", '{"seed": 1e400}', {}, 422, ["body", "seed"]),
    ("400-digit seed", "POST", "/reset", '{"seed": ' + "9" * 400 + "}", {}, 422, ["body", "seed"]),
    ("lone surrogate episode_id", "POST", "/reset", '{"episode_id": "\\ud800"}', {}, 422, ["body", "episode_id"]),
    ("lone low surrogate patient_id", "POST", "/reset", '{"patient_id": "\\udc00x"}', {}, 422, ["body", "patient_id"]),
    ("NUL in task_id", "POST", "/reset", '{"task_id": "easy\\u0000"}', {}, 422, ["body", "task_id"]),
    ("100k-deep reset", "POST", "/reset", '{"seed": ' + deep() + "}", {}, 422, ["body", "seed", 0, 0, 0, 0, 0, 0, 0]),
    ("100k-deep reset gzip'd", "POST", "/reset", gz('{"seed": ' + deep() + "}"), GZIP, 422, ["body", "seed", 0, 0, 0, 0, 0, 0, 0]),
    ("malformed JSON", "POST", "/reset", "{seed: 1}", {}, 422, ["body"]),
    ("not UTF-8", "POST", "/reset", b'{"task_id": "\xff"}', {}, 422, ["body"]),
    ("a list body", "POST", "/reset", "[1]", {}, 422, ["body"]),
    ("unknown field", "POST", "/reset", '{"colour": "red"}', {}, 422, ["body", "colour"]),
    ("string seed", "POST", "/reset", '{"seed": "7"}', {}, 422, ["body", "seed"]),
    ("boolean seed", "POST", "/reset", '{"seed": true}', {}, 422, ["body", "seed"]),
    ("negative seed", "POST", "/reset", '{"seed": -1}', {}, 422, ["body", "seed"]),
    ("unknown task", "POST", "/reset", '{"task_id": "triage"}', {}, 422, ["body", "task_id"]),
    ("unknown catalog", "POST", "/reset", '{"catalog": "bnf"}', {}, 422, ["body", "catalog"]),
    ("unknown durability", "POST", "/reset", '{"durability": "eventual"}', {}, 422, ["body", "durability"]),
    ("unknown patient", "POST", "/reset", '{"patient_id": "NOBODY"}', {}, 422, ["body", "patient_id"]),
    ("256-char episode_id", "POST", "/reset", json.dumps({"episode_id": "e" * 256}), {}, 422, ["body", "episode_id"]),
    ("malformed gzip", "POST", "/reset", b"\x1f\x8b\x08not gzip", GZIP, 422, ["body"]),
    ("gzip bomb", "POST", "/reset", gzip.compress(b" " * (20 * 1024 * 1024)), GZIP, 413, "inflates"),
    ("brotli body", "POST", "/reset", b"{}", {"Content-Encoding": "br"}, 415, "Content-Encoding"),
    ("declared 2 MB body", "POST", "/reset", b"{" + b" " * (2 * 1024 * 1024) + b"}", {}, 413, "1 MB"),
    # /step
    ("NaN timeout_s", "POST", "/step", '{"action": {"action_type": "finish_review"}, "timeout_s": NaN}', {}, 422,
     ["body", "timeout_s"]),
    ("Infinity timeout_s", "POST", "/step", '{"action": {"action_type": "finish_review"}, "timeout_s": Infinity}', {},
     422, ["body", "timeout_s"]),
    ("1e400 timeout_s", "POST", "/step", '{"action": {"action_type": "finish_review"}, "timeout_s": 1e400}', {}, 422,
     ["body", "timeout_s"]),
    ("lone surrogate rationale", "POST", "/step",
     '{"episode_id": "{episode}", "action": {"action_type": "propose_intervention", "target_drug_id": "DRUG_A", '
     '"intervention_type": "stop", "rationale": "\\ud800"}}', {}, 422, ["body", "action", "rationale"]),
    ("lone surrogate drug id", "POST", "/step",
     '{"action": {"action_type": "query_ddi", "drug_id_1": "\\udfff", "drug_id_2": "DRUG_B"}}', {}, 422,
     ["body", "action", "drug_id_1"]),
    ("NUL in drug id", "POST", "/step",
     '{"episode_id": "{episode}", "action": {"action_type": "query_ddi", "drug_id_1": "A\\u0000", "drug_id_2": "B"}}',
     {}, 422, ["body", "action", "drug_id_1"]),
    ("NUL in episode_id", "POST", "/step", '{"episode_id": "x\\u0000", "action": {"action_type": "finish_review"}}',
     {}, 422, ["body", "episode_id"]),
    ("NUL in a key", "POST", "/step", '{"episode_id": "{episode}", "act\\u0000ion": {}}', {}, 422, ["body", "act\x00ion"]),
    ("100k-deep metadata", "POST", "/step",
     '{"episode_id": "{episode}", "action": {"action_type": "finish_review", "metadata": {"m": ' + deep() + "}}}",
     {}, 422, ["body", "action", "metadata", "m", 0, 0, 0, 0, 0]),
    ("100k-deep metadata gzip'd", "POST", "/step",
     gz('{"action": {"action_type": "finish_review", "metadata": {"m": ' + deep() + "}}}"), GZIP, 422, ["body", "action", "metadata", "m", 0, 0, 0, 0, 0]),
    ("unknown action_type", "POST", "/step", '{"episode_id": "{episode}", "action": {"action_type": "prescribe"}}',
     {}, 422, ["body", "action", "action_type"]),
    ("a field of another action type", "POST", "/step",
     '{"episode_id": "{episode}", "action": {"action_type": "finish_review", "drug_id_1": "A"}}', {}, 422,
     ["body", "action", "drug_id_1"]),
    ("missing drug_id_2", "POST", "/step",
     '{"episode_id": "{episode}", "action": {"action_type": "query_ddi", "drug_id_1": "A"}}', {}, 422,
     ["body", "action", "drug_id_2"]),
    ("number for a drug id", "POST", "/step",
     '{"episode_id": "{episode}", "action": {"action_type": "query_ddi", "drug_id_1": 1, "drug_id_2": "B"}}', {}, 422,
     ["body", "action", "drug_id_1"]),
    ("unknown intervention_type", "POST", "/step",
     '{"episode_id": "{episode}", "action": {"action_type": "propose_intervention", "target_drug_id": "A", '
     '"intervention_type": "double"}}', {}, 422, ["body", "action", "intervention_type"]),
    ("2001-char rationale", "POST", "/step", json.dumps({"episode_id": "{episode}", "action": {
        "action_type": "propose_intervention", "target_drug_id": "A", "intervention_type": "stop",
        "rationale": "r" * 2001}}), {}, 422, ["body", "action", "rationale"]),
    ("null action", "POST", "/step", '{"episode_id": "{episode}", "action": null}', {}, 422, ["body", "action"]),
    ("negative timeout_s", "POST", "/step", '{"episode_id": "{episode}", "action": {"action_type": "finish_review"}, '
     '"timeout_s": -1}', {}, 422, ["body", "timeout_s"]),
    ("unknown episode", "POST", "/step", '{"episode_id": "no-such-episode", "action": {"action_type": "finish_review"}}',
     {}, 404, "no-such-episode"),
    # query parameters: a NUL in every one the site reads
    ("NUL in /state?episode_id", "GET", "/state?episode_id=a%00b", None, {}, 422, ["query", "episode_id"]),
    ("256-char /state?episode_id", "GET", "/state?episode_id=" + "e" * 256, None, {}, 422, ["query", "episode_id"]),
    ("NUL in /api/jobs?kind", "GET", "/api/jobs?kind=%00", None, {"Authorization": TOKEN}, 422, ["query", "kind"]),
    ("NUL in /api/jobs?status", "GET", "/api/jobs?status=queued%00", None, {"Authorization": TOKEN}, 422,
     ["query", "status"]),
    ("NUL in /api/checkpoints?kind", "GET", "/api/checkpoints?kind=%00", None, {"Authorization": TOKEN}, 422,
     ["query", "kind"]),
    ("NUL in /bandit/metrics?model", "GET", "/bandit/metrics?model=%00", None, {}, 422, ["query", "model"]),
    ("NUL in /jobs/?status", "GET", "/jobs/?status=%00", None, {}, 422, ["query", "status"]),
    ("NUL in /patients/?q", "GET", "/patients/?q=%00", None, {}, 422, ["query", "q"]),
    # /api/jobs
    ("NaN in job params", "POST", "/api/jobs", '{"kind": "evaluate", "params": {"episodes": NaN}}',
     {"Authorization": TOKEN}, 422, ["body", "params", "episodes"]),
    ("100k-deep job params", "POST", "/api/jobs", '{"kind": "evaluate", "params": ' + deep() + "}",
     {"Authorization": TOKEN}, 422, ["body", "params", 0, 0, 0, 0, 0, 0, 0]),
    ("lone surrogate job kind", "POST", "/api/jobs", '{"kind": "\\ud800"}', {"Authorization": TOKEN}, 422,
     ["body", "kind"]),
    ("unknown job field", "POST", "/api/jobs", '{"kind": "evaluate", "priority": 9}', {"Authorization": TOKEN}, 422,
     ["body", "priority"]),
    ("job params not an object", "POST", "/api/jobs", '{"kind": "evaluate", "params": [1]}', {"Authorization": TOKEN},
     422, ["body", "params"]),
    # /bandit (no model is trained on this server: validation must still come first)
    ("malformed screen body, no model", "POST", "/bandit/screen", '{"combinations": "DRUG_A"}', {}, 422,
     ["body", "combinations"]),
    ("NaN in a screen", "POST", "/bandit/screen", '{"combinations": [["DRUG_A"]], "only_flagged": NaN}', {}, 422,
     ["body", "only_flagged"]),
    ("lone surrogate in predict", "POST", "/bandit/predict", '{"combination": ["\\ud800"]}', {}, 422,
     ["body", "combination", 0]),
    ("100k-deep predict gzip'd", "POST", "/bandit/predict", gz('{"combination": ' + deep() + "}"), GZIP, 422,
     ["body", "combination", 0, 0, 0, 0, 0, 0, 0]),
    ("10,001 combinations", "POST", "/bandit/screen", json.dumps({"combinations": [["DRUG_A"]] * 10_001}), {}, 413,
     "10,000"),
    # /mcp at the HTTP level
    ("2 MB MCP body", "POST", "/mcp", b"{" + b" " * (2 * 1024 * 1024) + b"}", {}, 413, "1 MB"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "expected"),
                         [row[1:] for row in HTTP_ROWS], ids=[row[0] for row in HTTP_ROWS])
def test_bad_http_input_is_a_json_4xx_naming_the_field_and_changes_nothing(
        server: LiveServer, method: str, path: str, body: Any, headers: dict[str, str], status: int,
        expected: Any) -> None:
    episode_id = open_episode(server)
    if isinstance(body, str):
        body = body.replace("{episode}", episode_id).encode()
    headers = {k: (f"Token {server.token}" if v == TOKEN else v) for k, v in headers.items()}  # type: ignore[attr-defined]  # the note above
    before = stored(server)

    code, response_headers, payload = request(server, method, path, body, headers)

    assert code == status, payload[:500]
    assert response_headers["content-type"].startswith("application/json"), payload[:200]
    detail = json.loads(payload)["detail"]
    if isinstance(expected, list):
        assert detail[0]["loc"] == expected, detail
        assert set(detail[0]) >= {"type", "loc", "msg", "input"}
        named = [part for part in expected[1:] if isinstance(part, str)]
        assert not named or named[-1] in detail[0]["msg"], detail[0]["msg"]
    else:
        assert expected in detail, detail
    assert stored(server) == before
    assert "Traceback" not in server.log()


def test_there_are_at_least_forty_http_rows() -> None:
    assert len(HTTP_ROWS) >= 40


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_a_1_gb_chunked_body_without_credentials_is_refused_within_a_second(server: LiveServer) -> None:
    """The limit holds while the body is read: the 413 comes after the first megabyte, the
    connection is closed, and the server never holds more than that."""
    before = stored(server)
    rss_before = _rss_kb(server.proc.pid)
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"POST /reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    sock.setblocking(False)
    started, sent, answer, peak = time.monotonic(), 0, b"", 0
    while sent < 1024 ** 3 and time.monotonic() - started < 10 and not answer:
        try:
            answer += sock.recv(65536)
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            break
        try:
            sent += sock.send(frame)
        except BlockingIOError:
            time.sleep(0.001)
        except (ConnectionResetError, BrokenPipeError):
            break  # the server closed while we were sending: its answer is waiting to be read
        if sent % (8 * 1024 * 1024) < len(frame):
            peak = max(peak, _rss_kb(server.proc.pid))
    elapsed = time.monotonic() - started  # to the answer's first byte
    # The answer's head and body are two writes: stop sending at its first byte and read the
    # rest (a send after the server's close would make it reset the connection before we read).
    sock.setblocking(True)
    sock.settimeout(2)
    while b"}" not in answer:
        try:
            more = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            break
        if not more:
            break
        answer += more
    sock.close()
    peak = max(peak, _rss_kb(server.proc.pid))

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/json" in answer and b"1 MB" in answer
    assert elapsed < 1.0, elapsed
    assert sent < 64 * 1024 * 1024  # it stopped reading long before the gigabyte
    assert peak - rss_before < 50 * 1024, (rss_before, peak)
    assert stored(server) == before


def test_a_declared_1_gb_body_is_refused_before_it_is_sent(server: LiveServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"POST /step HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1073741824\r\n\r\n")
    answer = b""
    while chunk := sock.recv(65536):  # the server closes after its answer
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413") and b"1 MB" in answer


# ── WebSocket ────────────────────────────────────────────────────────────────
# (id, frame: raw text or bytes, the error code, the field named (None: none)). Each is sent
# inside a session with an open episode, which must still take its first step afterwards.
RESET = {"type": "reset", "data": {"task_id": "easy_screening", "seed": 2}}
WS_ROWS: list[tuple[str, Any, str, str | None]] = [
    ("malformed JSON", '{"type": "step", ', "INVALID_JSON", None),
    ("NaN seed", '{"type": "reset", "data": {"seed": NaN}}', "INVALID_JSON", "seed"),
    ("Infinity seed", '{"type": "reset", "data": {"seed": Infinity}}', "INVALID_JSON", "seed"),
    ("1e400 seed", '{"type": "reset", "data": {"seed": 1e400}}', "VALIDATION_ERROR", "seed"),
    ("lone surrogate rationale", '{"type": "step", "data": {"action_type": "propose_intervention", '
     '"target_drug_id": "DRUG_A", "intervention_type": "stop", "rationale": "\\ud800"}}', "INVALID_JSON",
     "action.rationale"),
    ("lone surrogate drug id", '{"type": "step", "data": {"action_type": "query_ddi", "drug_id_1": "\\udc00", '
     '"drug_id_2": "B"}}', "INVALID_JSON", "action.drug_id_1"),
    ("100k-deep frame", '{"type": "step", "data": ' + deep() + "}", "INVALID_JSON", "action.0.0.0.0.0.0.0"),
    ("100k-deep bare", deep(), "INVALID_JSON", "0.0.0.0.0.0.0.0"),
    ("NUL in a drug id", '{"type": "step", "data": {"action_type": "query_ddi", "drug_id_1": "A\\u0000", '
     '"drug_id_2": "B"}}', "VALIDATION_ERROR", "action.drug_id_1"),
    ("a frame over 1 MB", '{"type": "step", "data": {"action_type": "finish_review", "metadata": {"x": "'
     + "x" * (1024 * 1024) + '"}}}', "VALIDATION_ERROR", None),
    ("invalid UTF-8 in a binary frame", b'{"type": "step", "data": "\xff"}', "INVALID_JSON", None),
    ("a frame that is not an object", '["step"]', "VALIDATION_ERROR", None),
    ("no type", '{"data": {}}', "VALIDATION_ERROR", "type"),
    ("unknown type", '{"type": "dance"}', "UNKNOWN_TYPE", "type"),
    ("unknown frame key", '{"type": "step", "data": {"action_type": "finish_review"}, "id": 1}', "VALIDATION_ERROR",
     "id"),
    ("step without an action", '{"type": "step"}', "VALIDATION_ERROR", "action"),
    ("string action", '{"type": "step", "data": "finish_review"}', "VALIDATION_ERROR", "action"),
    ("unknown action_type", '{"type": "step", "data": {"action_type": "prescribe"}}', "VALIDATION_ERROR",
     "action.action_type"),
    ("unknown action field", '{"type": "step", "data": {"action_type": "finish_review", "colour": "red"}}',
     "VALIDATION_ERROR", "action.colour"),
    ("number for a drug id", '{"type": "step", "data": {"action_type": "query_ddi", "drug_id_1": 1, '
     '"drug_id_2": "B"}}', "VALIDATION_ERROR", "action.drug_id_1"),
    ("reset data not an object", '{"type": "reset", "data": "easy"}', "VALIDATION_ERROR", None),
    ("unknown task", '{"type": "reset", "data": {"task_id": "triage"}}', "VALIDATION_ERROR", "task_id"),
    ("unknown patient", '{"type": "reset", "data": {"patient_id": "NOBODY"}}', "VALIDATION_ERROR", "patient_id"),
    ("negative seed", '{"type": "reset", "data": {"seed": -1}}', "VALIDATION_ERROR", "seed"),
    ("unknown reset field", '{"type": "reset", "data": {"colour": "red"}}', "VALIDATION_ERROR", "colour"),
]


@pytest.mark.parametrize(("frame", "code", "field"), [row[1:] for row in WS_ROWS], ids=[row[0] for row in WS_ROWS])
def test_a_bad_frame_gets_an_error_frame_naming_the_field_and_the_session_goes_on(
        server: LiveServer, frame: Any, code: str, field: str | None) -> None:
    async def scenario() -> tuple[str, dict, dict, dict, dict]:
        async with websockets.connect(ws_url(server), max_size=None) as ws:
            started = await ws_request(ws, RESET)
            before = stored(server)
            await ws.send(frame)
            error = json.loads(await asyncio.wait_for(ws.recv(), 30))
            after = stored(server)
            stepped = await ws_request(ws, {"type": "step", "data": FINISH})
            return started["data"]["observation"]["episode_id"], error, stepped, before, after

    episode_id, error, stepped, before, after = asyncio.run(scenario())

    assert error["type"] == "error", error
    assert error["data"]["code"] == code, error
    assert error["data"]["message"]
    assert error["data"].get("field") == field, error
    if field:
        assert field.split(".")[-1] in error["data"]["message"]
    assert after == before
    assert stepped["type"] == "observation", stepped
    assert stepped["data"]["observation"]["episode_id"] == episode_id
    assert stepped["data"]["observation"]["step_index"] == 1


def test_there_are_at_least_twenty_websocket_rows() -> None:
    assert len(WS_ROWS) >= 20


def test_a_frame_beyond_the_servers_cap_closes_with_1009_not_1011(server: LiveServer) -> None:
    async def scenario() -> int | None:
        ws = await websockets.connect(ws_url(server), max_size=None)
        try:
            await ws.send('{"type": "state", "data": {"x": "' + "x" * (5 * 1024 * 1024) + '"}}')
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        finally:
            await ws.close()
        return None

    assert asyncio.run(scenario()) == 1009


# ── MCP ──────────────────────────────────────────────────────────────────────
def rpc(method: str, params: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})


# (id, body: text or bytes, extra headers, the JSON-RPC error code or "tool" for an isError result,
# a word the message must contain)
MCP_ROWS: list[tuple[str, Any, dict[str, str], Any, str]] = [
    ("unparsable JSON", '{"jsonrpc": ', {}, -32700, "Parse error"),
    ("NaN in arguments", '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "query_ddi", '
     '"arguments": {"drug_id_1": NaN}}}', {}, -32700, "params.arguments.drug_id_1"),
    ("1e400 in arguments", '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "query_ddi", '
     '"arguments": {"drug_id_1": 1e400}}}', {}, -32602, "params.arguments.drug_id_1"),
    ("lone surrogate in arguments", '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": '
     '"query_ddi", "arguments": {"drug_id_1": "\\ud800", "drug_id_2": "B"}}}', {}, -32700,
     "params.arguments.drug_id_1"),
    ("100k-deep", '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ' + deep() + "}", {}, -32700,
     "params"),
    ("100k-deep gzip'd", gz('{"jsonrpc": "2.0", "id": 1, "params": ' + deep() + "}"), GZIP, -32700, "params"),
    ("NUL in arguments", '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": '
     '"propose_intervention", "arguments": {"rationale": "\\u0000"}}}', {}, -32602, "params.arguments.rationale"),
    ("an empty object", "{}", {}, -32600, "JSON-RPC"),
    ("params not an object", rpc("tools/call", [1]), {}, -32602, "params"),
    ("unknown tool", rpc("tools/call", {"name": "prescribe", "arguments": {}}), {}, -32602, "prescribe"),
    ("arguments not an object", rpc("tools/call", {"name": "finish_review", "arguments": [1]}), {}, -32602,
     "arguments"),
    ("reset is not an agent tool", rpc("tools/call", {"name": "reset", "arguments": {}}), {}, -32602, "reset"),
    ("an unknown session", rpc("tools/call", {"name": "finish_review", "session_id": "guess"}), {}, -32602,
     "Unknown session_id"),
    ("unknown method", rpc("resources/write", {}), {}, -32601, "resources/write"),
    ("a missing action field", rpc("tools/call", {"name": "query_ddi", "arguments": {"drug_id_1": "A"}}), {}, "tool",
     "drug_id_2"),
    ("an unknown argument", rpc("tools/call", {"name": "finish_review", "arguments": {"colour": "red"}}), {}, "tool",
     "colour"),
    ("an unknown intervention", rpc("tools/call", {"name": "propose_intervention", "arguments": {
        "target_drug_id": "A", "intervention_type": "amputate"}}), {}, "tool", "intervention_type"),
    ("a number for a drug", rpc("tools/call", {"name": "query_ddi", "arguments": {"drug_id_1": "A", "drug_id_2": 7}}),
     {}, "tool", "drug_id_2"),
]


@pytest.mark.parametrize(("body", "headers", "code", "word"), [row[1:] for row in MCP_ROWS],
                         ids=[row[0] for row in MCP_ROWS])
def test_bad_mcp_input_is_a_json_rpc_error_naming_the_field_and_changes_nothing(
        server: LiveServer, body: Any, headers: dict[str, str], code: Any, word: str) -> None:
    open_episode(server)
    before = stored(server)

    status, response_headers, payload = request(server, "POST", "/mcp", body.encode() if isinstance(body, str) else body,
                                                headers)

    assert status == 200 and response_headers["content-type"].startswith("application/json")
    answer = json.loads(payload)
    assert answer["jsonrpc"] == "2.0"
    if code == "tool":
        result = answer["result"]
        assert result["isError"] is True and word in result["content"][0]["text"], result
    else:
        assert answer["error"]["code"] == code and word in answer["error"]["message"], answer
    assert stored(server) == before


def test_there_are_at_least_ten_mcp_rows() -> None:
    assert len(MCP_ROWS) >= 10
