"""/health probed every 50 ms while N requests are made at the same moment (bench/login_flood.py,
bench/screen_flood.py)."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from typing import Callable


def flood(url: str, n: int, one: Callable[[int], int]) -> tuple[Counter, float, list[float], float]:
    """Run ``one(i)`` (an HTTP status) on n threads at once while /health is probed: (the
    statuses, their wall time, /health's latencies, when the worst probe was sent, in seconds
    after the requests started)."""
    statuses: Counter = Counter()
    latencies: list[float] = []
    sent_at: list[float] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            urllib.request.urlopen(url + "/health", timeout=60).read()
            latencies.append(time.perf_counter() - started)
            sent_at.append(started)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.3)
    started = time.perf_counter()
    threads = [threading.Thread(target=lambda i=i: statuses.update([one(i)])) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    done.set()
    prober.join()
    worst = max(range(len(latencies)), key=latencies.__getitem__)
    return statuses, wall, latencies, sent_at[worst] - started
