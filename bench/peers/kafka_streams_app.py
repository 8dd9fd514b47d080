"""The bare reply window as a Kafka Streams app (``bench.peers.window``), built and run.

    python -m bench.peers.kafka_streams_app --bootstrap HOST:PORT --topic T --events N

The app is Java (``bench/peers/kafka_streams/``: ``ReplyWindowApp.java`` and its ``pom.xml``,
``kafka-streams`` from Maven Central, the version of the project's Apache Kafka). :func:`build`
compiles it with Maven into ``.cache/bench/kafka-streams/<hash of its sources>/`` once (a
second call, or a run after it, does nothing); :func:`main` builds when needed and then
becomes ``java -jar reply-window.jar`` with the same arguments, which prints the JSON line
``bench.peers.run_peer`` reads (events, seconds, counters). Kafka Streams needs a real Kafka
broker (its admin client, internal changelog and repartition topics): the bench runs it on
Apache Kafka (``stream.kafka_local``), never on the embedded broker.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from stream.errors import BrokerError
from stream.kafka_local import KAFKA_VERSION, KafkaMissing, require_java

SOURCE = Path(__file__).with_name("kafka_streams")
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "bench" / "kafka-streams"
JAR = "reply-window.jar"
_COMPLETE = ".complete"
# The JVM's defaults otherwise (C2, G1): the app's throughput is what is measured.
JVM_OPTS = ("-Xms256m", "-Xmx768m")


def sources() -> list[Path]:
    """The files the jar is built from: the POM and the Java sources."""
    return [SOURCE / "pom.xml", *sorted((SOURCE / "src").rglob("*.java"))]


def build_dir(cache: Path | None = None) -> Path:
    """Where the jar of the current sources lives: a hash of them names the folder."""
    digest = hashlib.sha256(KAFKA_VERSION.encode())
    for path in sources():
        digest.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes())
    return (cache or CACHE) / digest.hexdigest()[:16]


def build(cache: Path | None = None, quiet: bool = True) -> Path:
    """The app's jar, compiled with Maven first unless the current sources' build is there."""
    home = build_dir(cache)
    if (home / _COMPLETE).is_file():
        return home / JAR
    require_java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaMissing("building the Kafka Streams peer needs Maven and there is no `mvn` "
                           "on PATH: on Debian run `apt-get install maven` (`make kafka` does "
                           "it when it may)")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        cmd = [mvn, "-B", "-f", str(SOURCE / "pom.xml"), "package",
               f"-Dkafka.version={KAFKA_VERSION}", f"-Dpeer.build.dir={staging}"]
        if quiet:
            cmd.insert(2, "-q")
        done = subprocess.run(cmd, capture_output=quiet, text=True, check=False)  # noqa: S603
        if done.returncode != 0 or not (staging / JAR).is_file():
            detail = (done.stdout or "")[-3000:] if quiet else "see Maven's output above"
            raise BrokerError(f"Maven could not build the Kafka Streams peer (exit "
                              f"{done.returncode}):\n{detail}")
        (staging / _COMPLETE).write_text(KAFKA_VERSION + "\n", encoding="utf-8")
        try:
            staging.rename(home)
        except OSError:
            if not (home / _COMPLETE).is_file():  # not another build that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home / JAR


def command(jar: Path, bootstrap: str, topic: str, events: int) -> list[str]:
    """The ``java`` command line that runs the app over ``events`` records of ``topic``."""
    return [require_java(), *JVM_OPTS, "-jar", str(jar), "--bootstrap", bootstrap,
            "--topic", topic, "--events", str(events)]


def main() -> None:
    """Command line: build when needed, then run the app (it prints the JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, required=True)
    args = parser.parse_args()
    cmd = command(build(), args.bootstrap, args.topic, args.events)
    os.execv(cmd[0], cmd)  # noqa: S606 - fixed argv, no shell


if __name__ == "__main__":
    main()
