"""Settings of the local stack (ports, heap, folders), each with an environment variable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class StackConfig(BaseSettings):
    """Where the local stack lives and which loopback ports it listens on."""

    model_config = SettingsConfigDict(env_prefix="EMOSTREAM_STACK_", extra="ignore")

    dir: Path = Field(REPO_ROOT / ".stack", description="Install and state folder (ignored by git).")
    host: str = Field("127.0.0.1", description="Address every service binds to.")
    kafka_port: int = Field(9092, description="Kafka broker (PLAINTEXT) port.")
    kafka_controller_port: int = Field(9093, description="Kafka KRaft controller port.")
    kafka_sasl_port: int = Field(9094, description="Kafka SASL_PLAINTEXT listener (PLAIN mechanism) port.")
    kafka_sasl_user: str = Field("emostream", description="The one user of the SASL listener (development only).")
    kafka_sasl_password: str = Field("emostream-dev-secret", description="Its password (development only).")
    kafka_heap: str = Field("512m", description="Kafka JVM heap (-Xmx/-Xms), small for a 2-core box.")
    kafka_partitions: int = Field(4, description="Default partition count of auto-created topics.")
    redis_port: int = Field(6379, description="Redis port.")
    triton_http_port: int = Field(8000, description="Triton HTTP/REST port.")
    triton_grpc_port: int = Field(8001, description="Triton gRPC port.")
    triton_metrics_port: int = Field(8002, description="Triton Prometheus metrics port.")
    triton_model_repo: Path = Field(
        REPO_ROOT / "triton_repo" / "cpu", description="Model repository Triton serves (explicit model control)."
    )
    triton_onnxruntime: str = Field(
        "onnxruntime==1.32.0",
        description="onnxruntime of the Triton venv (bench/gpu.sh: 'onnxruntime-gpu[cuda,cudnn]==1.23.2' on a GPU)",
    )
    start_timeout_s: float = Field(120.0, description="Seconds a service may take to become ready.")

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def triton_http_url(self) -> str:
        return f"{self.host}:{self.triton_http_port}"

    @property
    def triton_grpc_url(self) -> str:
        return f"{self.host}:{self.triton_grpc_port}"

    def client_env(self) -> dict[str, str]:
        """The addresses as the variables the worker, the CLI and the tests read."""
        return {
            "EMOSTREAM_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "EMOSTREAM_REDIS_URL": self.redis_url,
            "EMOSTREAM_TRITON_GRPC_URL": self.triton_grpc_url,
            "EMOSTREAM_TRITON_HTTP_URL": self.triton_http_url,
        }
