# syntax=docker/dockerfile:1
# mailbot: build a wheel in one stage, install it into a clean slim image run by an unprivileged user.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mailbot ./mailbot
RUN pip install --no-cache-dir build==1.2.2 \
 && python -m build --wheel --outdir /wheels \
 && pip wheel --no-cache-dir --wheel-dir /wheels "psycopg[binary]>=3.1,<4"

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MAILBOT_CONFIG=/etc/mailbot/config.toml
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /data --create-home mailbot
USER mailbot
WORKDIR /data
VOLUME ["/data", "/etc/mailbot"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s CMD ["mailbot", "status"]
ENTRYPOINT ["mailbot"]
CMD ["run"]
