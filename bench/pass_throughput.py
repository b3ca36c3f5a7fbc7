"""One pass of the real desk over N registration mails in Dovecot: prints commit, send and end-to-end rates.

Usage: python bench/pass_throughput.py [--messages N] [--database sqlite|postgresql]
Starts a private Dovecot (and PostgreSQL) and an aiosmtpd sink on loopback with the test fixtures' code.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbot.bootstrap import build_desk, open_database
from mailbot.config import parse_config
from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import SmtpSink
from tests.conftest import config_data
from tests.servers import Dovecot, Postgres


def main() -> None:
    """Deliver, run one pass, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    with Dovecot() as dovecot, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:
        pg = Postgres().start() if args.database == "postgresql" else None
        try:
            url = pg.create_database() if pg else f"sqlite:///{Path(tmp) / 'bench.db'}"
            account = dovecot.account()
            mails = build_corpus(registrations=args.messages, repeats=0, unrelated=0, auto_replies=0)
            started = time.perf_counter()
            dovecot.append_many(account.user, [(m.raw, m.internaldate) for m in mails])
            delivered = time.perf_counter() - started

            data = config_data(account, sink, url)
            data["events"][0]["capacity"] = args.messages // 2  # type: ignore[index]
            config = parse_config(data, "<bench>", env={})
            db = open_database(config)
            desk = build_desk(config, db=db)
            t0 = time.perf_counter()
            report = desk.poll_once()
            t1 = time.perf_counter()
            flush = desk.flush_outbox()
            t2 = time.perf_counter()
            db.dispose()
        finally:
            if pg:
                pg.stop()

    n = args.messages
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"messages:                  {n} ({report.outcomes}), database {args.database}")
    print(f"delivery (MULTIAPPEND):    {delivered:6.2f} s  {n / delivered:8.0f} msg/s")
    print(f"fetch+parse+commit:        {t1 - t0:6.2f} s  {n / (t1 - t0):8.0f} msg/s")
    print(f"send replies ({flush.sent}):       {t2 - t1:6.2f} s  {flush.sent / (t2 - t1):8.0f} msg/s")
    print(f"end to end:                {t2 - t0:6.2f} s  {n / (t2 - t0):8.0f} msg/s")
    print(f"peak RSS (this process):   {rss_mb:6.0f} MB")


if __name__ == "__main__":
    main()
