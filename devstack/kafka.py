"""Apache Kafka 4.x in KRaft mode (one combined broker+controller) from its Maven Central jars."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from .config import StackConfig
from .proc import StackError

KAFKA_VERSION = "4.1.1"
HERE = Path(__file__).resolve().parent


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 random bytes, URL-safe base64 without padding.
    Like Kafka's own Uuid.randomUuid(), ids starting with '-' are redrawn: command-line
    parsers read them as options (this broke a CI run, about one format in 64)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class Kafka:
    name = "kafka"

    def __init__(self, cfg: StackConfig):
        self.cfg = cfg
        self.home = cfg.dir / "kafka"
        self.libs = self.home / f"libs-{KAFKA_VERSION}"
        self.data = self.home / "data"
        self.port = cfg.kafka_port

    def installed(self) -> bool:
        return any(self.libs.glob(f"kafka_2.13-{KAFKA_VERSION}.jar"))

    def install(self) -> None:
        """Resolve the broker jars from Maven Central into .stack/kafka/libs-<version>."""
        for tool in ("java", "mvn"):
            if shutil.which(tool) is None:
                raise StackError(
                    f"'{tool}' not found: the local Kafka needs Java 17+ and Maven "
                    "(apt-get install openjdk-17-jre-headless maven)"
                )
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.libs.with_suffix(".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        res = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(HERE / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={tmp}",
            ],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
            raise StackError(f"maven could not fetch the Kafka jars:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
        tmp.rename(self.libs)

    def _properties(self) -> Path:
        h, c = self.cfg.host, self.cfg
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{h}:{c.kafka_controller_port}",
            "listeners": f"PLAINTEXT://{h}:{c.kafka_port},CONTROLLER://{h}:{c.kafka_controller_port},"
            f"SASL_PLAINTEXT://{h}:{c.kafka_sasl_port}",
            "advertised.listeners": f"PLAINTEXT://{h}:{c.kafka_port},SASL_PLAINTEXT://{h}:{c.kafka_sasl_port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            # a second listener with SASL/PLAIN authentication, so clients' SASL settings are tested for real
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'user_{c.kafka_sasl_user}="{c.kafka_sasl_password}";'
            ),
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": str(c.kafka_partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            "-cp",
            f"{self.libs}/*",
            f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
            main,
            *args,
        ]

    def prepare(self) -> None:
        """Write server.properties and format the KRaft storage on first start."""
        props = self._properties()
        if (self.data / "meta.properties").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={new_cluster_id()}",
                "--config",
                str(props),
                "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")

    def argv(self) -> list[str]:
        heap = self.cfg.kafka_heap
        return [
            "java",
            f"-Xmx{heap}",
            f"-Xms{heap}",
            "-XX:+UseSerialGC",
            *self._java("kafka.Kafka", str(self.home / "server.properties"))[1:],
        ]

    def env(self) -> dict[str, str]:
        return {}

    def ready(self) -> bool:
        """The broker answers a metadata request and can create (and delete) a topic."""
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(
            bootstrap_servers=self.cfg.kafka_bootstrap, request_timeout_ms=5000, client_id="emostream-stack"
        )
        try:
            admin.list_topics()
            probe = "__emostream_ready"
            try:
                admin.create_topics([NewTopic(probe, 1, 1)], timeout_ms=5000)
            except TopicAlreadyExistsError:
                pass
            return probe in admin.list_topics()
        finally:
            admin.close()
