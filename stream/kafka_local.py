"""Apache Kafka on this machine: installed from Maven Central, brokers started in KRaft mode.

The embedded broker (``stream/broker.py``) is the zero-dependency default; this module gives
the project the broker production runs. :func:`install` fetches Apache Kafka's jars (the
``libs/`` folder of a Kafka release: broker, storage tool, command-line tools) with Maven into
a cache folder, once. :class:`KafkaCluster` starts N brokers from them on free loopback ports,
each a combined broker and KRaft controller with its own data folder (formatted with Kafka's
``StorageTool``, as ``kafka-storage format`` does), waits until every one has started, stops
them (SIGTERM, then SIGKILL) and restarts one keeping its data.

Command line (``make kafka`` runs the first)::

    python -m stream.kafka_local install [--version V]
    python -m stream.kafka_local serve [--brokers N] [--dir DIR]   # until Ctrl-C
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from stream.broker import _die_with_parent, free_ports
from stream.errors import BrokerError
from stream.supervise import stop_process

# The newest Apache Kafka on Maven Central when this was written; aiokafka and faust speak it
# (tests/integration/test_apache_kafka.py).
KAFKA_VERSION = "4.4.0"
POM = Path(__file__).with_name("kafka_local.pom.xml")
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "kafka"
# written last by install(): a folder without it is an interrupted download
_COMPLETE = ".complete"
MIN_JAVA = 17  # Kafka 4 brokers run on Java 17 or newer

BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"
CONFIG_COMMAND = "org.apache.kafka.tools.ConfigCommand"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"

# A small heap: local brokers hold little, and the machine runs workers beside them. Only the
# C1 compiler and the serial collector: on two busy cores a broker starts in about half the
# time (measured 4.6-8 s against 10-11 s with C2 and G1), and local traffic never needs C2.
JVM_OPTS = ("-Xms128m", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-Djava.awt.headless=true")
# Kafka 4's own log line once a KRaft server has started (and, for a broker, been unfenced)
_STARTED = "Kafka Server started"

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


class KafkaMissing(BrokerError):
    """Java, Maven or the Kafka jars are missing: the message says what to install or run."""


def kafka_home(version: str = KAFKA_VERSION, cache: Path | None = None) -> Path:
    """The folder that holds (or will hold) Apache Kafka ``version``: ``<cache>/<version>``."""
    return (cache or Path(os.environ.get("KAFKA_CACHE_DIR") or DEFAULT_CACHE)) / version


def java_major(java: str = "java") -> int:
    """The major version of ``java`` (17 for ``openjdk version "17.0.15"``)."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True,  # noqa: S603
                         check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise KafkaMissing(f"cannot tell the version of {java} from {out.stderr.strip()!r}: "
                           f"Apache Kafka needs Java {MIN_JAVA} or newer (on Debian: "
                           f"apt-get install openjdk-17-jre-headless)")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # 1.8 is Java 8


def require_java() -> str:
    """The ``java`` to run Kafka with; a :class:`KafkaMissing` naming the package otherwise."""
    java = shutil.which("java")
    if java is None:
        raise KafkaMissing("Apache Kafka needs Java (17 or newer) and there is no `java` on "
                           "PATH: on Debian run `apt-get install openjdk-17-jre-headless` "
                           "(`make kafka` does it when it may)")
    major = java_major(java)
    if major < MIN_JAVA:
        raise KafkaMissing(f"{java} is Java {major}; Apache Kafka 4 needs Java {MIN_JAVA} or "
                           f"newer: on Debian run `apt-get install openjdk-17-jre-headless`")
    return java


def installed(version: str = KAFKA_VERSION, cache: Path | None = None) -> bool:
    """Whether Kafka ``version`` is completely in the cache."""
    return (kafka_home(version, cache) / _COMPLETE).is_file()


def install(version: str = KAFKA_VERSION, cache: Path | None = None,
            quiet: bool = False) -> Path:
    """Fetch Apache Kafka ``version``'s jars from Maven Central into the cache, once.

    Idempotent: a complete folder is left alone (no Maven run). The jars land in a temporary
    folder beside it that is renamed when Maven succeeds, so an interrupted download never
    looks installed. Returns the Kafka folder (its jars in ``libs/``).
    """
    home = kafka_home(version, cache)
    if installed(version, cache):
        return home
    require_java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaMissing("fetching Apache Kafka from Maven Central needs Maven and there is "
                           "no `mvn` on PATH: on Debian run `apt-get install maven` "
                           "(`make kafka` does it when it may)")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=home.parent))
    try:
        cmd = [mvn, "-B", "-f", str(POM), "dependency:copy-dependencies",
               f"-Dkafka.version={version}", "-DincludeScope=runtime",
               f"-DoutputDirectory={staging / 'libs'}"]
        if quiet:
            cmd.insert(2, "-q")
        if not quiet:
            print(f"fetching Apache Kafka {version} from Maven Central into {home}", flush=True)
        done = subprocess.run(cmd, capture_output=quiet, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            detail = (done.stdout or "")[-2000:] if quiet else "see Maven's output above"
            raise BrokerError(f"Maven could not fetch Apache Kafka {version} (exit "
                              f"{done.returncode}): check that Maven Central is reachable and "
                              f"that {version} exists there\n{detail}")
        if not any((staging / "libs").glob(f"kafka_2.13-{version}.jar")):
            raise BrokerError(f"Maven ran but kafka_2.13-{version}.jar is not among the jars it "
                              f"copied: {POM} no longer names the broker")
        (staging / _COMPLETE).write_text(version + "\n", encoding="utf-8")
        if home.exists() and not installed(version, cache):  # an interrupted older attempt
            shutil.rmtree(home)
        try:
            staging.rename(home)
        except OSError:
            if not installed(version, cache):  # not another install that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def classpath(version: str = KAFKA_VERSION, cache: Path | None = None) -> str:
    """The Java classpath of Kafka ``version`` (``libs/*``); :class:`KafkaMissing` if absent."""
    if not installed(version, cache):
        raise KafkaMissing(f"Apache Kafka {version} is not installed in "
                           f"{kafka_home(version, cache)}: run `make kafka`")
    return str(kafka_home(version, cache) / "libs" / "*")


def run_tool(main_class: str, *args: str, version: str = KAFKA_VERSION,
             cache: Path | None = None, timeout: float = 60.0,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one of Kafka's command-line classes, as ``kafka-topics.sh`` and friends do."""
    cmd = [require_java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath(version, cache),
           "-Dlog4j2.level=WARN", main_class, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,  # noqa: S603
                          input=stdin, check=False)


def cluster_id() -> str:
    """A new KRaft cluster id: 16 random bytes, URL-safe base64 (what ``random-uuid`` prints)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class KafkaNode:
    """One Apache Kafka process, broker and KRaft controller at once, with its own data."""

    def __init__(self, node_id: int, host: str, port: int, controller_port: int,
                 root: Path) -> None:
        """Describe (not start) node ``node_id``; its files live under ``root/node-<id>``."""
        self.node_id = node_id
        self.host = host
        self.port = port
        self.controller_port = controller_port
        self.dir = root / f"node-{node_id}"
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "server.properties"
        self.log_path = self.dir / "kafka.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_start = 0  # where the current run's output starts in the log
        self._read_to = 0  # how far started() has read it

    @property
    def bootstrap(self) -> str:
        """``host:port`` of this broker's client listener."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    @property
    def formatted(self) -> bool:
        """Whether the data folder has been formatted (holds ``meta.properties``)."""
        return (self.data_dir / "meta.properties").is_file()

    def launch(self, java: str, cp: str) -> None:
        """Start the process (not waiting); its output is appended to :attr:`log_path`."""
        self._run_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._read_to = self._run_start
        out = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                 "-cp", cp, BROKER_MAIN, str(self.config_path)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent)
        finally:
            out.close()

    def started(self) -> bool:
        """Whether the current run has logged that it started; raises if the process died."""
        if self.proc is None:
            return False
        if self.proc.poll() is not None:
            raise BrokerError(f"Apache Kafka node {self.node_id} exited at start-up (code "
                              f"{self.proc.returncode}):\n{self.tail()}")
        with open(self.log_path, "rb") as log:
            # from a little before where the last read ended: the line may have been cut there
            start = max(self._run_start, self._read_to - len(_STARTED))
            log.seek(start)
            chunk = log.read()
        self._read_to = start + len(chunk)
        return _STARTED.encode() in chunk

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> int | None:
        """Stop with ``sig`` (SIGTERM: a controlled shutdown), SIGKILL after ``timeout``."""
        proc, self.proc = self.proc, None
        return stop_process(proc, sig, timeout)

    def tail(self, lines: int = 30) -> str:
        """The end of this node's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class KafkaCluster:
    """N Apache Kafka nodes in KRaft mode on free loopback ports, each with its own data folder.

    Every node is broker and controller (``process.roles=broker,controller``), all of them
    voters of one KRaft quorum. Internal topics are replicated ``min(3, N)`` times. Overrides
    (``server.properties`` keys) apply to every node.
    """

    def __init__(self, root: Path, brokers: int = 1, version: str = KAFKA_VERSION,
                 host: str = "127.0.0.1", cache: Path | None = None,
                 overrides: Mapping[str, str] | None = None,
                 ports: Sequence[int] | None = None) -> None:
        """Describe (not start) a cluster whose files live under ``root``.

        ``ports`` are the brokers' client ports (free ones when not given); the controllers'
        ports are always free ones.
        """
        if brokers < 1:
            raise ValueError(f"a cluster needs at least one broker, not {brokers}")
        if ports is not None and len(ports) != brokers:
            raise ValueError(f"{len(ports)} port(s) given for {brokers} broker(s)")
        self.root = Path(root)
        self.version = version
        self.host = host
        self.cache = cache
        self.overrides = dict(overrides or {})
        free = free_ports(2 * brokers, host)
        clients = list(ports) if ports is not None else free[:brokers]
        self.nodes = [KafkaNode(i + 1, host, clients[i], free[brokers + i], self.root)
                      for i in range(brokers)]
        self.cluster_id = cluster_id()

    @property
    def bootstrap(self) -> str:
        """aiokafka-style bootstrap servers, ``h:p1,h:p2``."""
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def url(self) -> str:
        """faust-style broker URL, ``kafka://h:p1;h:p2``."""
        return "kafka://" + ";".join(n.bootstrap for n in self.nodes)

    def properties(self, node: KafkaNode) -> dict[str, str]:
        """``server.properties`` of ``node``."""
        rf = str(min(3, len(self.nodes)))
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{node.host}:{node.port},"
                         f"CONTROLLER://{node.host}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.host}:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": str(min(2, len(self.nodes))),
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": str(min(2, len(self.nodes))),
            # a consumer group forms at once: production waits 3 s for more members, a test
            # that starts one worker would only wait
            "group.initial.rebalance.delay.ms": "0",
            # a local broker: __consumer_offsets need not be spread over 50 partitions
            "offsets.topic.num.partitions": "10",
        }
        props.update(self.overrides)
        return props

    def _write_files(self, node: KafkaNode) -> None:
        node.dir.mkdir(parents=True, exist_ok=True)
        node.config_path.write_text(
            "".join(f"{k}={v}\n" for k, v in self.properties(node).items()), encoding="utf-8")
        (node.dir / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")

    def format(self, nodes: Sequence[KafkaNode] | None = None) -> None:
        """Format the data folders not formatted yet (``kafka-storage format``), in parallel."""
        java, cp = require_java(), classpath(self.version, self.cache)
        todo = [n for n in (nodes or self.nodes) if not n.formatted]
        procs = []
        for node in todo:
            self._write_files(node)
            procs.append((node, subprocess.Popen(  # noqa: S603
                [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", cp,
                 f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}", STORAGE_TOOL,
                 "format", f"--cluster-id={self.cluster_id}", f"--config={node.config_path}"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
        for node, proc in procs:
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise BrokerError(f"formatting the data folder of Apache Kafka node "
                                  f"{node.node_id} failed (code {proc.returncode}):\n"
                                  f"{out.decode(errors='replace')[-2000:]}")

    def start(self, timeout: float = 90.0) -> KafkaCluster:
        """Format what needs it, start every node that is not running and wait until ready."""
        self.format()
        java, cp = require_java(), classpath(self.version, self.cache)
        waiting = []
        for node in self.nodes:
            if node.pid is None:
                self._write_files(node)
                node.launch(java, cp)
                waiting.append(node)
        try:
            self._wait(waiting, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, nodes: Sequence[KafkaNode], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(nodes)
        while pending:
            pending = [n for n in pending if not n.started()]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"Apache Kafka node(s) {', '.join(str(n.node_id) for n in pending)} did "
                    f"not start within {timeout:.0f} s:\n{pending[0].tail()}")
            time.sleep(0.1)

    def stop_node(self, index: int, sig: int = signal.SIGTERM,
                  timeout: float = 20.0) -> int | None:
        """Stop node ``index`` (0-based) with ``sig``; its data stays."""
        return self.nodes[index].stop(timeout, sig)

    def start_node(self, index: int, timeout: float = 90.0, wait: bool = True) -> None:
        """Start node ``index`` again on its ports with the data it had.

        ``wait=False`` returns at once: poll ``nodes[index].started()`` (a caller that has
        other processes to look after while a broker starts).
        """
        node = self.nodes[index]
        if node.pid is not None:
            return
        node.launch(require_java(), classpath(self.version, self.cache))
        if wait:
            self._wait([node], timeout)

    def pause_node(self, index: int) -> None:
        """Freeze node ``index`` (SIGSTOP): alive to the kernel, silent to its peers."""
        node = self.nodes[index]
        if node.proc is None or node.pid is None:
            raise BrokerError(f"Apache Kafka node {node.node_id} is not running: cannot pause it")
        node.proc.send_signal(signal.SIGSTOP)

    def resume_node(self, index: int) -> None:
        """Let a paused node ``index`` run again (SIGCONT)."""
        node = self.nodes[index]
        if node.proc is not None and node.pid is not None:
            node.proc.send_signal(signal.SIGCONT)

    def restart_node(self, index: int, sig: int = signal.SIGTERM,
                     timeout: float = 90.0) -> None:
        """Stop node ``index`` and start it again, keeping its data."""
        self.stop_node(index, sig)
        self.start_node(index, timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every node: SIGTERM to all at once, SIGKILL for any still up after ``timeout``."""
        running = [n for n in self.nodes if n.pid is not None]
        for node in running:
            with contextlib.suppress(ProcessLookupError):
                assert node.proc is not None
                node.proc.send_signal(signal.SIGTERM)
        for node in running:
            node.stop(timeout)

    def tool(self, main_class: str, *args: str, timeout: float = 60.0,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one of Kafka's command-line classes of this cluster's version."""
        return run_tool(main_class, *args, version=self.version, cache=self.cache,
                        timeout=timeout, stdin=stdin)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``install`` (what ``make kafka`` runs) or ``serve`` (brokers until Ctrl-C)."""
    parser = argparse.ArgumentParser(prog="python -m stream.kafka_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="fetch Apache Kafka from Maven Central (once)")
    inst.add_argument("--version", default=KAFKA_VERSION)
    serve = sub.add_parser("serve", help="start brokers in KRaft mode until Ctrl-C")
    serve.add_argument("--version", default=KAFKA_VERSION)
    serve.add_argument("--brokers", type=int, default=1)
    serve.add_argument("--dir", type=Path, default=None,
                       help="data folder (default: a temporary one, removed at exit)")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            home = kafka_home(args.version)
            if installed(args.version):
                print(f"Apache Kafka {args.version} is installed in {home}")
            else:
                install(args.version)
                print(f"Apache Kafka {args.version} installed in {home}")
            return 0
        install(args.version)
        with contextlib.ExitStack() as stack:
            root = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            started = time.monotonic()
            cluster = stack.enter_context(KafkaCluster(root, args.brokers, args.version))
            print(f"Apache Kafka {args.version}: {cluster.url} (started in "
                  f"{time.monotonic() - started:.1f} s, data in {root}); Ctrl-C stops",
                  flush=True)
            # blocked only now: the brokers must not inherit a mask that blocks SIGTERM
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
