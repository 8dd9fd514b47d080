# chatwatch production image: `chatwatch worker` (default) or `chatwatch pager --host 0.0.0.0`.
#
#   docker build -t chatwatch:0.1.0 .
#   docker run --rm -e KAFKA_BROKER=kafka://kafka:9092 chatwatch:0.1.0 worker
#
# Two stages: the build stage installs the pinned dependencies into a virtualenv, the runtime
# stage copies only that virtualenv, so no pip cache or build tooling reaches production.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/chatwatch
WORKDIR /src
# Metadata first, sources after: a source-only change reuses nothing here, but keeping the
# order stable makes the dependency layer easy to split out when a lock file arrives.
COPY pyproject.toml README.md ./
COPY stream ./stream
COPY agents ./agents
COPY alerts ./alerts
COPY engine ./engine
# Every dependency ships a manylinux wheel; --only-binary makes a missing wheel a build error
# instead of a silent compile. gcc is for one thing only: the domain core compiled with mypyc
# (stream/native.py; mypy ships mypyc and is removed again). The image must run the compiled
# core, so the build fails unless `stream.native status` says so. None of it reaches the
# runtime stage but the compiled modules.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends gcc libc6-dev curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The engine crate (engine/, Rust with PyO3 bindings) needs Rust 1.74 or later, newer than
# Debian's: rustup installs it in this stage only; the runtime stage gets the built module.
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --profile minimal --default-toolchain stable \
 && PATH=/root/.cargo/bin:$PATH /opt/chatwatch/bin/pip install "maturin==1.16.0" \
 && PATH=/root/.cargo/bin:$PATH /opt/chatwatch/bin/pip install ./engine \
 && /opt/chatwatch/bin/pip uninstall -y -q maturin \
 && /opt/chatwatch/bin/python -c "import chatwatch_engine"
RUN /opt/chatwatch/bin/pip install --only-binary=:all: ".[rocksdb]" "mypy==2.4.1" \
 && /opt/chatwatch/bin/python -m stream.native build \
 && /opt/chatwatch/bin/pip uninstall -y -q mypy \
 && /opt/chatwatch/bin/python -m stream.native status | grep -q "^core: compiled" \
 && /opt/chatwatch/bin/chatwatch --help >/dev/null

FROM python:3.11-slim
LABEL org.opencontainers.image.title="chatwatch" \
      org.opencontainers.image.description="Reply-window and forbidden-content monitor for customer-service chat"
# A fixed numeric uid/gid so Kubernetes can check runAsNonRoot and fsGroup can match it.
RUN groupadd --system --gid 10001 chatwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/chatwatch \
            --no-create-home --shell /usr/sbin/nologin chatwatch \
 && mkdir -p /var/lib/chatwatch /etc/chatwatch \
 && chown 10001:10001 /var/lib/chatwatch
COPY --from=build /opt/chatwatch /opt/chatwatch
# Production defaults; the broker, tokens and Kafka credentials always come from the
# environment at run time (nothing secret is baked into the image).
ENV PATH=/opt/chatwatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHATWATCH_STORE=rocksdb:// \
    CHATWATCH_DATA_DIR=/var/lib/chatwatch \
    CHATWATCH_WEB_HOST=0.0.0.0 \
    CHATWATCH_WEB_PORT=6066
USER 10001:10001
WORKDIR /var/lib/chatwatch
# RocksDB tables and the alert spool live here: mount a volume per worker.
VOLUME ["/var/lib/chatwatch"]
# 6066: worker web server (/metrics, POST /check); 9095: pager bridge.
EXPOSE 6066 9095
# The worker commits offsets and flushes RocksDB on SIGTERM; give it time (stop_grace_period /
# terminationGracePeriodSeconds) rather than a SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["chatwatch"]
CMD ["worker"]
