"""The audit trail's cost: appending records through the site's own path, then verifying the
keyed chain against its checkpoints (``manage.py verify_audit``'s work).

    .venv/bin/python bench/audit_verify.py [--records 10000] [--repeats 3]

Uses a throwaway database (a fresh SQLite file, or test_<name> on the DATABASE_URL PostgreSQL
server). Prints appends per second, the verifier's time, and that time as a ratio of a bare scan
of the same rows (what the keyed hashing adds to reading them). Target (issue 13): a chain of
10,000 records verifies in under 10 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway_site import throwaway_site  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with throwaway_site():
        run(args)


def run(args: argparse.Namespace) -> None:
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection

    from reviews.audit import RequestMeta, audit_append, audit_verify
    from reviews.audit_anchor import audit_checkpoint
    from reviews.models import AuditRecord

    meta = RequestMeta(user=AnonymousUser(), ip="192.0.2.1", user_agent="bench")
    started = time.perf_counter()
    for i in range(args.records):
        audit_append(meta=meta, action=AuditRecord.Action.SESSION_VIEWED, payload={"page": "review", "i": i})
    append_s = time.perf_counter() - started
    audit_checkpoint()

    def scan() -> int:
        return sum(1 for _ in AuditRecord.objects.order_by("pk").values_list().iterator(chunk_size=2000))

    scans, verifies = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        assert scan() == args.records
        scans.append(time.perf_counter() - t)
        t = time.perf_counter()
        verdict = audit_verify()
        verifies.append(time.perf_counter() - t)
        assert verdict.ok and verdict.count == args.records, verdict
    scan_s, verify_s = statistics.median(scans), statistics.median(verifies)
    print(f"database: {connection.vendor}; records: {args.records:,}")
    print(f"append (audit_append, one transaction each): {args.records / append_s:,.0f} records/s")
    print(f"verify (median of {args.repeats}): {verify_s:.2f} s; bare scan of the rows {scan_s:.2f} s; "
          f"verify / scan = {verify_s / scan_s:.1f}x")


if __name__ == "__main__":
    main()
