"""Serve the site: ``python -m polypharmacy_site.serve [--host H] [--port P]``.

One launcher for ``bin/run``, the Docker image, docker-compose and the test servers, so all of
them serve the same way: uvicorn with uvloop and httptools, which hands the application a
request body as it arrives (the edge can then refuse an oversized one while it is read; daphne
buffers whole bodies first), WebSocket frames capped at ``POLYPHARMACY_WS_MAX_FRAME`` bytes by
the server (the consumer answers frames over 1 MB with an error frame; beyond this cap the
server closes with 1009), and per-message compression off unless ``POLYPHARMACY_WS_COMPRESSION``
is on: on a local network it costs more CPU than it saves time.

Forwarded headers (``X-Forwarded-For``/``-Proto``) are believed only from the proxies named in
``FORWARDED_ALLOW_IPS``: uvicorn's own default trusts 127.0.0.1, so any local client (or a local
proxy that passes the header through) could write the IP address the audit trail records.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from polypharmacy_site.settings import envbool, envint, envstr


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=envstr("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=envint("PORT", 8000))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "polypharmacy_site.settings")
    # torch on one core in a web process (unless OMP_NUM_THREADS says otherwise): what it runs
    # here (bandit screens, a policy's suggestion) is small per call, and a screen on every core
    # left /health and the other requests without one (bench/screen_flood.py). Workers, where
    # training runs, are not started through here.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    trusted_proxies = envstr("FORWARDED_ALLOW_IPS", "").strip()
    uvicorn.run(
        "polypharmacy_site.asgi:application",
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        ws_max_size=envint("POLYPHARMACY_WS_MAX_FRAME", 4 * 1024 * 1024),
        ws_per_message_deflate=envbool("POLYPHARMACY_WS_COMPRESSION", False),
        lifespan="on",
        access_log=envbool("ACCESS_LOG", False),
        log_level=envstr("LOG_LEVEL", "INFO").lower(),
        server_header=False,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
    )


if __name__ == "__main__":
    main()
