"""Async Triton client for the `emotion_<combo>` ensembles: one call per (combination, batch), a per-call timeout,
errors classified into typed ones, a readiness wait, and a check that the served models match the bundle.

It does not retry: the pipeline's one retry policy (stream/retry.py) decides what is retried."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import tritonclient.grpc.aio as grpcaio
from mode import Service
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from contracts import triton as tc
from contracts.combos import Combo
from core.bundle_info import BundleInfo

__all__ = [
    "TritonError",
    "ModelUnavailable",
    "ModelMismatch",
    "BadRequest",
    "InferenceTimeout",
    "InferResult",
    "EmotionClient",
]

log = logging.getLogger(__name__)
_BAD_REQUEST = ("StatusCode.INVALID_ARGUMENT",)
# a request that took too long, or was too big for the server's queue or message limits: smaller requests may pass
_TOO_MUCH = ("StatusCode.DEADLINE_EXCEEDED", "StatusCode.RESOURCE_EXHAUSTED")
_UNAVAILABLE = (
    "StatusCode.UNAVAILABLE",
    "StatusCode.INTERNAL",
    "StatusCode.UNKNOWN",
    "StatusCode.CANCELLED",
    "StatusCode.NOT_FOUND",
    "StatusCode.UNAVAILABLE",
    "StatusCode.ABORTED",
)


class TritonError(RuntimeError):
    """Base of the client's typed errors; `reason` is short and goes into logs and metrics labels."""

    reason = "triton_error"


class ModelUnavailable(TritonError):
    """Server unreachable or slow, or the model not loaded/ready: transient, the caller retries."""

    reason = "model_unavailable"


class ModelMismatch(TritonError):
    """The served model's tensors, labels or bundle version differ from the bundle the worker loaded: the worker
    waits (and /health says why) until the model or the worker is replaced. `served_version`: what Triton serves."""

    reason = "model_mismatch"

    def __init__(self, message: str, served_version: str | None = None):
        super().__init__(message)
        self.served_version = served_version


class BadRequest(TritonError):
    """Triton rejected the request itself (shape, dtype, batch size): retrying the same request cannot help."""

    reason = "bad_request"


class InferenceTimeout(TritonError):
    """The request ran past the call's timeout, or exhausted a server resource (DEADLINE_EXCEEDED,
    RESOURCE_EXHAUSTED): the same request may never pass, a smaller one may (the pipeline splits it)."""

    reason = "inference_timeout"


@dataclass
class InferResult:
    emotion_probs: np.ndarray  # (B, 8) float32, label order of the bundle
    sentiment_probs: np.ndarray  # (B, 2)
    neutral_probs: np.ndarray  # (B,) the neutral gate's probability (0 for a head without one)
    triton_version: str
    # modality -> (B, 9): its own head's emotion probabilities and neutral probability (tc.OPINIONS), for an ensemble
    # of two or more modalities exported with them
    opinions: dict[str, np.ndarray] = field(default_factory=dict)


class EmotionClient(Service):
    """Client for the exported ensembles of one bundle (optionally under a model-name prefix). A `mode.Service`: its
    gRPC channel is closed when it stops (the classifier stops it with itself; `async with` elsewhere)."""

    def __init__(
        self,
        url: str,
        prefix: str = "",
        timeout_s: float = 10.0,
        bundle: BundleInfo | None = None,
        ssl: bool = False,
        root_certificates: str | None = None,
        **kwargs,
    ):
        """With `bundle`, a response from a Triton model version not yet checked against it triggers the check
        (a new version loaded while the worker runs): ModelMismatch until the worker runs the matching bundle."""
        super().__init__(**kwargs)
        self.url, self.prefix, self.timeout_s = url, prefix, timeout_s
        self._client = grpcaio.InferenceServerClient(url, ssl=ssl, root_certificates=root_certificates)
        self.served_bundle_version: str | None = None
        self.bundle = bundle
        self._checked: dict[Combo, str] = {}  # combo -> Triton version that matched the bundle
        self.max_batch: dict[Combo, int] = {}  # combo -> the ensemble's max_batch_size, as check() read it
        self.opinions: dict[Combo, bool] = {}  # combo -> whether its ensemble gives the modalities' opinions

    def model(self, combo: Combo) -> str:
        return tc.ensemble_name(combo, self.prefix)

    async def on_stop(self) -> None:
        await self._client.close()

    async def wait_ready(self, combos, timeout_s: float = 60.0, load: bool = False) -> None:
        """Wait until the server is live and every `emotion_<combo>` is ready; with load=True ask Triton (explicit
        model control) to load those not ready. Raises ModelUnavailable naming what is missing at the deadline."""
        deadline, missing = time.monotonic() + timeout_s, list(combos)
        asked = set()
        while True:
            try:
                if await self._client.is_server_live():
                    still = []
                    for c in missing:
                        if not await self._client.is_model_ready(self.model(c)):
                            if load and c not in asked:
                                asked.add(c)
                                await self._client.load_model(self.model(c))
                                if await self._client.is_model_ready(self.model(c)):
                                    continue
                            still.append(c)
                    missing = still
                    if not missing:
                        return
            except InferenceServerException as e:
                log.debug("triton not ready yet: %s", e)
            if time.monotonic() > deadline:
                what = ", ".join(self.model(c) for c in missing)
                raise ModelUnavailable(f"Triton at {self.url}: not ready after {timeout_s:.0f}s: {what}")
            await asyncio.sleep(0.5)

    async def check(self, bundle: BundleInfo, combos=None) -> None:
        """Compare each ensemble's metadata and parameters with the bundle, and record its max batch size.
        ModelMismatch says what differs; ModelUnavailable when a model cannot be read."""
        problems = []
        for combo in combos or bundle.combos:
            name = self.model(combo)
            try:
                meta = await self._client.get_model_metadata(name, as_json=True, client_timeout=self.timeout_s)
                cfg = (await self._client.get_model_config(name, as_json=True, client_timeout=self.timeout_s))["config"]
            except InferenceServerException as e:
                raise ModelUnavailable(f"{name}: {e.message()}") from e
            want_in = {
                tc.INPUTS[m].name: (
                    tc.INPUTS[m].datatype,
                    [-1, *tc.input_dims(m, bundle.image_size, bundle.max_words, bundle.max_tags)],
                )
                for m in combo
            }
            got_in = {t["name"]: (t["datatype"], [int(x) for x in t["shape"]]) for t in meta["inputs"]}
            if got_in != want_in:
                problems.append(f"{name} inputs {got_in} != expected {want_in}")
            got_out = {t["name"]: [int(x) for x in t["shape"]] for t in meta["outputs"]}
            sizes = {tc.EMOTION_PROBS.name: len(bundle.emotions), tc.SENTIMENT_PROBS.name: len(bundle.sentiments)}
            want = {
                opinions: {t.name: [-1, sizes.get(t.name, n)] for t, n in tc.outputs(combo, opinions)}
                for opinions in (True, False)
            }
            if got_out not in want.values():
                problems.append(f"{name} outputs {got_out} != expected {want[True]} (or without opinions)")
            self.opinions[combo] = got_out == want[True] and len(combo) > 1
            params = {k: v.get("string_value") for k, v in cfg.get("parameters", {}).items()}
            if params.get(tc.PARAMS.EMOTIONS) != ",".join(bundle.emotions) or params.get(
                tc.PARAMS.SENTIMENTS
            ) != ",".join(bundle.sentiments):
                problems.append(
                    f"{name} label order {params.get(tc.PARAMS.EMOTIONS)} / {params.get(tc.PARAMS.SENTIMENTS)} "
                    "differs from the bundle's"
                )
            if params.get(tc.PARAMS.BUNDLE_VERSION) != bundle.version:
                problems.append(
                    f"{name} serves bundle {params.get(tc.PARAMS.BUNDLE_VERSION)}, the worker loaded {bundle.version}"
                )
            self.served_bundle_version = params.get(tc.PARAMS.BUNDLE_VERSION)
            self.max_batch[combo] = int(cfg.get("max_batch_size", 0))
        if problems:
            raise ModelMismatch(
                "served models do not match the bundle:\n  " + "\n  ".join(problems), self.served_bundle_version
            )

    async def infer(self, combo: Combo, arrays: dict[str, np.ndarray]) -> InferResult:
        """One request for a batch of posts that all have exactly `combo`'s modalities (`arrays`: modality -> batch)."""
        if set(arrays) != set(combo.modalities):
            raise BadRequest(f"{self.model(combo)} takes exactly {combo.modalities}, got {sorted(arrays)}")
        inputs = []
        for m in combo:
            spec, arr = tc.INPUTS[m], arrays[m]
            if arr.dtype != np.dtype(spec.numpy):
                raise BadRequest(f"{m}: dtype {arr.dtype}, expected {spec.numpy}")
            inp = InferInput(spec.name, list(arr.shape), spec.datatype)
            inp.set_data_from_numpy(np.ascontiguousarray(arr))
            inputs.append(inp)
        if self.bundle is not None and combo not in self.opinions:
            await self.check(self.bundle, [combo])  # which outputs it declares, before its first request
        wanted = tc.outputs(combo, self.opinions.get(combo, False))
        outputs = [InferRequestedOutput(t.name) for t, _ in wanted]
        try:
            res = await self._client.infer(self.model(combo), inputs, outputs=outputs, client_timeout=self.timeout_s)
        except InferenceServerException as e:
            raise self._classify(combo, e) from e
        version = res.get_response().model_version
        if self.bundle is not None and self._checked.get(combo) != version:
            await self.check(self.bundle, [combo])  # raises ModelMismatch: the caller waits, nothing is published
            self._checked[combo] = version
        return InferResult(
            res.as_numpy(tc.EMOTION_PROBS.name),
            res.as_numpy(tc.SENTIMENT_PROBS.name),
            res.as_numpy(tc.NEUTRAL_PROB.name)[:, 0],
            version,
            {m: res.as_numpy(t.name) for m, t in tc.OPINIONS.items() if (t, tc.OPINION_SIZE) in wanted},
        )

    def _classify(self, combo: Combo, e: InferenceServerException) -> TritonError:
        status, msg = str(e.status()), e.message() or str(e)
        # the model refusing these inputs (onnxruntime's INVALID_ARGUMENT arrives as INTERNAL): a problem of the request
        if (
            status in _BAD_REQUEST
            or "unexpected shape" in msg
            or "unexpected datatype" in msg
            or "INVALID_ARGUMENT" in msg
        ):
            return BadRequest(f"{self.model(combo)}: {msg}"[:1000])
        if status in _TOO_MUCH or "Deadline Exceeded" in msg:
            return InferenceTimeout(f"{self.model(combo)} at {self.url}: {status} {msg}"[:1000])
        if status in _UNAVAILABLE or "not found" in msg or "is not ready" in msg or "unavailable" in msg.lower():
            return ModelUnavailable(f"{self.model(combo)} at {self.url}: {status} {msg}"[:1000])
        return ModelUnavailable(f"{self.model(combo)} at {self.url}: unclassified {status} {msg}"[:1000])
