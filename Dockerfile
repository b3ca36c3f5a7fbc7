# syntax=docker/dockerfile:1
# mailbot: wheels are built in one stage and installed, wheels only, into a clean slim image that runs as an
# unprivileged user. tests/test_container.py lints this file with hadolint and replays its pip commands in a
# fresh virtual environment (the Docker engine itself is not available where the tests run).

# --- build: a wheel of mailbot and a wheel of every dependency, psycopg[binary] included ------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# Only what the wheel is made of (.dockerignore keeps everything else out of the build context).
COPY pyproject.toml README.md ./
COPY mailbot ./mailbot
# `.[postgres]`: the extra pins psycopg[binary] in pyproject.toml, the one place versions are declared.
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels ".[postgres]"

# --- runtime --------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MAILBOT_CONFIG=/etc/mailbot/config.toml
# --no-index: nothing but the wheels built above can be installed. The wheels are bind-mounted, not
# copied, so they leave no layer behind. The base image already has tzdata and ca-certificates.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --disable-pip-version-check --no-index --find-links=/wheels /wheels/*.whl \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin mailbot \
 && mkdir -p /data /etc/mailbot \
 && chown 10001:10001 /data
# Numeric, so that Kubernetes' runAsNonRoot can verify it and a bind-mounted /data can be chowned to match.
USER 10001:10001
# The working directory holds the default SQLite file (sqlite:///mailbot.db); HOME is here too (~/.pgpass).
WORKDIR /data
VOLUME ["/data", "/etc/mailbot"]
# `mailbot run` finishes the message in hand on SIGTERM and exits (docker stop waits 10 s, compose 15 s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 CMD ["mailbot", "health"]
ENTRYPOINT ["mailbot"]
CMD ["run"]
