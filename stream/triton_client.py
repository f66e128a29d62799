"""Async Triton client for the `emotion_<combo>` ensembles: one call per (combination, batch), per-call timeout,
bounded retries with backoff, readiness wait, and a start-up check that the served models match the bundle."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as grpcaio
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from model.bundle_info import BundleInfo

log = logging.getLogger(__name__)

INPUTS = {"image": ("image", "UINT8", np.uint8), "text": ("text_ids", "INT64", np.int64), "tags": ("tag_ids", "INT64", np.int64)}
OUTPUTS = ("emotion_probs", "sentiment_probs")
TRANSIENT = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.RESOURCE_EXHAUSTED",
             "StatusCode.INTERNAL", "StatusCode.UNKNOWN", "StatusCode.CANCELLED")


class TritonError(RuntimeError):
    """Base of the client's typed errors; `reason` is short and goes into logs and metrics labels."""

    reason = "triton_error"


class ModelUnavailable(TritonError):
    """Server unreachable, or the model not loaded/ready, after the retries."""

    reason = "model_unavailable"


class ModelMismatch(TritonError):
    """The served model's tensors, labels or bundle version differ from the bundle the worker loaded."""

    reason = "model_mismatch"


class BadRequest(TritonError):
    """The request itself is wrong (shape, dtype, missing input); retrying cannot help."""

    reason = "bad_request"


@dataclass
class InferResult:
    emotion_probs: np.ndarray  # (B, 8) float32, label order of the bundle
    sentiment_probs: np.ndarray  # (B, 2)
    triton_version: str


class EmotionClient:
    """Client for the exported ensembles of one bundle (optionally under a model-name prefix)."""

    def __init__(self, url: str, prefix: str = "", timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.2,
                 bundle: BundleInfo | None = None):
        """With `bundle`, a response from a Triton model version not yet checked against it triggers the check
        (a new version loaded while the worker runs): ModelMismatch until the worker runs the matching bundle."""
        self.url, self.prefix, self.timeout_s, self.retries, self.backoff_s = url, prefix, timeout_s, retries, backoff_s
        self._client = grpcaio.InferenceServerClient(url)
        self.served_bundle_version: str | None = None
        self.bundle = bundle
        self._checked: dict[str, str] = {}  # combo -> Triton version that matched the bundle
        self.max_batch: dict[str, int] = {}  # combo -> the ensemble's max_batch_size, as check() read it

    def model(self, combo: str) -> str:
        return f"{self.prefix}emotion_{combo}"

    async def close(self) -> None:
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
        """Compare each ensemble's metadata and parameters with the bundle; ModelMismatch says what differs."""
        problems = []
        sizes = {"image": [bundle.image_size, bundle.image_size, 3], "text": [bundle.max_words], "tags": [bundle.max_tags]}
        for combo in combos or bundle.combos:
            name = self.model(combo)
            try:
                meta = await self._client.get_model_metadata(name, as_json=True)
                cfg = (await self._client.get_model_config(name, as_json=True))["config"]
            except InferenceServerException as e:
                raise ModelUnavailable(f"{name}: {e.message()}") from e
            want_in = {INPUTS[m][0]: (INPUTS[m][1], [-1, *sizes[m]]) for m in combo.split("_")}
            got_in = {t["name"]: (t["datatype"], [int(x) for x in t["shape"]]) for t in meta["inputs"]}
            if got_in != want_in:
                problems.append(f"{name} inputs {got_in} != expected {want_in}")
            got_out = {t["name"]: [int(x) for x in t["shape"]] for t in meta["outputs"]}
            want_out = {"emotion_probs": [-1, len(bundle.emotions)], "sentiment_probs": [-1, len(bundle.sentiments)]}
            if got_out != want_out:
                problems.append(f"{name} outputs {got_out} != expected {want_out}")
            params = {k: v.get("string_value") for k, v in cfg.get("parameters", {}).items()}
            if params.get("emotions") != ",".join(bundle.emotions) or params.get("sentiments") != ",".join(bundle.sentiments):
                problems.append(f"{name} label order {params.get('emotions')} / {params.get('sentiments')} differs from the bundle's")
            if params.get("bundle_version") != bundle.version:
                problems.append(f"{name} serves bundle {params.get('bundle_version')}, the worker loaded {bundle.version}")
            self.served_bundle_version = params.get("bundle_version")
            self.max_batch[combo] = int(cfg.get("max_batch_size", 0))
        if problems:
            raise ModelMismatch("served models do not match the bundle:\n  " + "\n  ".join(problems))

    async def infer(self, combo: str, image: np.ndarray | None = None, text: np.ndarray | None = None,
                    tags: np.ndarray | None = None) -> InferResult:
        """One request for a batch of posts that all have exactly `combo`'s modalities."""
        given = {"image": image, "text": text, "tags": tags}
        need = combo.split("_")
        if sorted(m for m, v in given.items() if v is not None) != sorted(need):
            raise BadRequest(f"{self.model(combo)} takes exactly {need}, got {[m for m, v in given.items() if v is not None]}")
        inputs = []
        for m in need:
            name, dtype, np_dtype = INPUTS[m]
            arr = given[m]
            if arr.dtype != np_dtype:
                raise BadRequest(f"{m}: dtype {arr.dtype}, expected {np.dtype(np_dtype)}")
            inp = InferInput(name, list(arr.shape), dtype)
            inp.set_data_from_numpy(np.ascontiguousarray(arr))
            inputs.append(inp)
        outputs = [InferRequestedOutput(o) for o in OUTPUTS]
        attempt = 0
        while True:
            try:
                res = await self._client.infer(self.model(combo), inputs, outputs=outputs, client_timeout=self.timeout_s)
                version = res.get_response().model_version
                if self.bundle is not None and self._checked.get(combo) != version:
                    await self.check(self.bundle, [combo])  # raises ModelMismatch: the caller backs off, nothing is published
                    self._checked[combo] = version
                return InferResult(res.as_numpy("emotion_probs"), res.as_numpy("sentiment_probs"), version)
            except InferenceServerException as e:
                status = str(e.status())
                msg = e.message() or str(e)
                if "INVALID_ARGUMENT" in status or "unexpected shape" in msg or "unexpected datatype" in msg:
                    raise BadRequest(f"{self.model(combo)}: {msg}") from e
                if "NOT_FOUND" in status or "not found" in msg or "is not ready" in msg or "unavailable" in msg.lower():
                    err: TritonError = ModelUnavailable(f"{self.model(combo)}: {msg}")
                elif status in TRANSIENT or "Deadline" in msg:
                    err = ModelUnavailable(f"{self.model(combo)} at {self.url}: {status} {msg}")
                else:
                    raise TritonError(f"{self.model(combo)}: {status} {msg}") from e
                attempt += 1
                if attempt > self.retries:
                    raise err from e
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
