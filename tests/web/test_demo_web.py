"""`mailbot demo --web`: the demo's data in the console on loopback, with a printed one-time login."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from mailbot.demo.servers import free_port
from tests.web.conftest import START_TIMEOUT, csrf_of, mailbot_env

LOGIN = re.compile(r"one-time login: (\S+) / (\S+)")


def test_demo_web_serves_the_demo_data_with_a_one_time_login(tmp_path: Path) -> None:
    """The printed URL and login open the demo's event list without a second factor; SIGTERM ends it."""
    port = free_port("127.0.0.1")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "demo", "--web", "--messages", "20", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=mailbot_env(),
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT * 2  # the demo's pass comes first
        while LOGIN.search(log.read_text(errors="replace")) is None:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        output = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/" in output
        assert "second factor is off for the demo only" in output
        found = LOGIN.search(output)
        assert found is not None
        name, password = found.groups()

        base = f"http://127.0.0.1:{port}"
        with httpx2.Client(base_url=base, timeout=30) as browser:
            while True:  # the login is printed just before uvicorn listens
                with contextlib.suppress(httpx2.TransportError):
                    login_page = browser.get("/login")
                    break
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)
            answer = browser.post(
                "/login", data={"username": name, "password": password, "csrf": csrf_of(login_page.text)}
            )
            assert (answer.status_code, answer.headers["location"]) == (303, "/")  # no second-factor step
            page = browser.get("/events/digitalisierung-2020")
            assert page.status_code == 200
            assert page.text.count('<tr id="r') >= 10  # the demo's registrations, booked by its pass
            assert browser.get("/admin/users").status_code == 200  # an admin
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        status = proc.wait(timeout=30)
    assert status == 0, log.read_text(errors="replace")
