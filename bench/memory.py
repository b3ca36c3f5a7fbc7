"""Peak RSS of one pass (`mailbot run --once`, a subprocess) over N large registration mails in Dovecot.

Usage: python bench/memory.py [--messages 100] [--megabytes 9] [--kind attachment|text|mixed]
Starts a private Dovecot and an aiosmtpd sink on loopback with the test fixtures' code, appends N registration
mails of about `--megabytes` each (a scanned form as a base64 PDF attachment, or a long 8-bit text body with
umlauts, or both kinds alternating), runs one pass in a child process and prints the child's peak RSS (the
target: under 300 MB for 100 mails of 9 MB). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbot.core.parse import parse_message
from mailbot.demo.corpus import build_corpus
from mailbot.demo.servers import SmtpSink
from tests.conftest import config_data, toml_text
from tests.servers import Dovecot

_LINE = (
    "Sehr geehrte Damen und Herren, anbei die Unterlagen für die Veranstaltung (Größe, Maße, Übersicht).\n"
)


def big_mail(raw: bytes, megabytes: float, kind: str, rng: random.Random) -> bytes:
    """The registration mail `raw` grown to about `megabytes` MB: an attachment, or a long 8-bit text."""
    original = BytesParser(policy=SMTP).parsebytes(raw)
    text = parse_message(raw).text
    mail = EmailMessage(policy=SMTP)
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        if original[name] is not None:
            mail[name] = str(original[name])
    target = int(megabytes * 1_000_000)
    if kind == "attachment":
        mail.set_content(text)
        mail.add_attachment(
            rng.randbytes(target * 3 // 4), maintype="application", subtype="pdf", filename="Antrag.pdf"
        )
    else:
        mail.set_content(text + "\n\n" + _LINE * (target // len(_LINE.encode())), cte="8bit")
    return mail.as_bytes()


def main() -> None:
    """Deliver, run one pass in a child process, print its peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--megabytes", type=float, default=9.0)
    parser.add_argument("--kind", choices=["attachment", "text", "mixed"], default="mixed")
    args = parser.parse_args()

    rng = random.Random(9)  # noqa: S311 (filler bytes for a benchmark, no secret)
    corpus = build_corpus(registrations=args.messages, repeats=0, unrelated=0, auto_replies=0)
    with Dovecot() as dovecot, SmtpSink() as sink, tempfile.TemporaryDirectory() as tmp:
        account = dovecot.account()
        started = time.perf_counter()
        total = 0
        for start in range(0, len(corpus), 10):  # ten at a time: one MULTIAPPEND of 900 MB is a lot of RAM
            batch = []
            for i, m in enumerate(corpus[start : start + 10], start=start):
                kind = args.kind if args.kind != "mixed" else ("attachment", "text")[i % 2]
                raw = big_mail(m.raw, args.megabytes, kind, rng)
                total += len(raw)
                batch.append((raw, m.internaldate))
            dovecot.append_many(account.user, batch)
        delivered = time.perf_counter() - started

        data = config_data(account, sink, f"sqlite:///{Path(tmp) / 'bench.db'}")
        data["events"][0]["capacity"] = args.messages  # type: ignore[index]
        config = Path(tmp) / "config.toml"
        config.write_text(toml_text(data), encoding="utf-8")
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert child.stdout is not None
        out = child.stdout.read().decode()
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - t0
        sent = len(sink.messages)

    n = args.messages
    print(f"messages:            {n} x ~{total / n / 1e6:.1f} MB ({args.kind}), {total / 1e6:.0f} MB in all")
    print(f"delivery:            {delivered:6.1f} s")
    code = os.waitstatus_to_exitcode(status)
    print(f"pass (child):        {elapsed:6.1f} s, exit status {code}, {sent} replies")
    print(f"pass output:         {' '.join(out.split())[:300]}")
    print(f"peak RSS (child):    {usage.ru_maxrss / 1024:6.0f} MB")


if __name__ == "__main__":
    main()
