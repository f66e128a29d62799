"""`emostream export`: model bundle -> ONNX encoders and heads + one ensemble per modality combination in a Triton
model repository, for two targets from the same ONNX files: `cpu` (python backend running onnxruntime, what the
local Triton loads) and `gpu` (native onnxruntime backend with CUDA/TensorRT, for the compose stack).
The tensor contract is docs/TRITON.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from google.protobuf import text_format
from torch import nn
from tritonclient.grpc import model_config_pb2 as mc

from contracts import triton as tc
from contracts.combos import COMBOS, MODALITIES, Combo
from core.bundle_info import SERVING, point_serving
from triton_runner import ONNX_MODEL

from .bundle import Bundle, load_bundle

RUNNER = ONNX_MODEL  # the python-backend runner copied into every cpu/ model version
QUEUE_DELAY_US = {"cpu": 0, "gpu": 500}


@dataclass
class ExportOptions:
    targets: tuple[str, ...] = ("cpu", "gpu")
    # Dynamic-batcher delay. None = per target: cpu 0 µs (bench/triton_throughput.py: on 2 cores, 0 µs gave the most
    # throughput at concurrency 8, and the batcher still merges what is queued), gpu 500 µs (not measured: no GPU here).
    queue_delay_us: int | None = None
    image_batch: int = 32
    batch: int = 256
    cpu_instances: int = 1
    gpu_instances: int = 1
    gpu_accelerator: str = "cuda"  # or "tensorrt"
    intra_op_threads: int = 0
    providers: str = "CPUExecutionProvider"  # the python-backend runner's onnxruntime providers (bench/gpu.sh: CUDA)
    dynamic_batching: bool = True
    prefix: str = ""  # prepended to every model name, so several exports can share one repository
    opinions: bool = True  # heads of 2-3 modalities also give each modality's own head's opinion (tc.outputs)

    def max_batch(self, combo: Combo) -> int:
        """Image ensembles take smaller requests than the text/tag ones (DenseNet dominates their cost)."""
        return self.image_batch if combo.has_image else self.batch


def _probs(head, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A head's emotion and sentiment probabilities and its neutral-gate probability (B, 1; zeros without a gate)."""
    e, s, n = head(feats)
    neutral = torch.sigmoid(n).unsqueeze(1) if n is not None else torch.zeros_like(s[:, :1])
    return torch.softmax(e, 1), torch.softmax(s, 1), neutral


class _Head(nn.Module):
    """A combination's head as served: its outputs, then (`singles`: one head per modality, in the combination's
    order) each single-modality head's opinion of the same features (tc.OPINIONS)."""

    def __init__(self, head, singles=()):
        super().__init__()
        self.head = head
        self.singles = nn.ModuleList(singles)

    def forward(self, *feats):
        out = _probs(self.head, torch.cat(feats, dim=1))
        opinions = []
        for single, f in zip(self.singles, feats, strict=False):
            e, _, n = _probs(single, f)
            opinions.append(torch.cat([e, n], dim=1))
        return (*out, *opinions)


def _onnx(module: nn.Module, args: tuple, inputs: list, outputs: list, path: Path) -> None:
    """`inputs`/`outputs`: (tensor, per-example dims) of the contract; the batch and every -1 dim are dynamic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {
        t.name: {0: "batch", **{i + 1: f"{t.name}_{i + 1}" for i, d in enumerate(dims) if d == -1}}
        for t, dims in inputs + outputs
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=[t.name for t, _ in inputs],
            output_names=[t.name for t, _ in outputs],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _add_tensors(field, tensors: list[tuple[tc.Tensor, list[int]]]) -> None:
    for tensor, dims in tensors:
        t = field.add()
        t.name, t.data_type = tensor.name, mc.DataType.Value(tensor.config_type)
        t.dims.extend(dims)


def _config(name: str, mbs: int, inputs, outputs, params: dict[str, str]) -> mc.ModelConfig:
    """What every model and ensemble shares: name, max batch size, tensors, string parameters."""
    cfg = mc.ModelConfig(name=name, max_batch_size=mbs)
    _add_tensors(cfg.input, inputs)
    _add_tensors(cfg.output, outputs)
    for k, v in params.items():
        cfg.parameters[k].string_value = v
    return cfg


def _model_config(
    name: str, target: str, mbs: int, inputs, outputs, params: dict, opt: ExportOptions
) -> mc.ModelConfig:
    cfg = _config(name, mbs, inputs, outputs, params)
    group = cfg.instance_group.add()
    if target == "cpu":
        cfg.backend = "python"
        group.kind, group.count = mc.ModelInstanceGroup.KIND_CPU, opt.cpu_instances
        cfg.parameters[tc.PARAMS.INTRA_OP_THREADS].string_value = str(opt.intra_op_threads)
        cfg.parameters[tc.PARAMS.PROVIDERS].string_value = opt.providers
    else:
        cfg.platform, cfg.default_model_filename = "onnxruntime_onnx", "model.onnx"
        group.kind, group.count = mc.ModelInstanceGroup.KIND_GPU, opt.gpu_instances
        if opt.gpu_accelerator == "tensorrt":
            acc = cfg.optimization.execution_accelerators.gpu_execution_accelerator.add()
            acc.name = "tensorrt"
            acc.parameters["precision_mode"] = "FP16"
    if opt.dynamic_batching and mbs:
        delay = opt.queue_delay_us if opt.queue_delay_us is not None else QUEUE_DELAY_US[target]
        cfg.dynamic_batching.max_queue_delay_microseconds = delay
    return cfg


def _ensemble_config(combo: Combo, mbs: int, inputs, outputs, params: dict, prefix: str) -> mc.ModelConfig:
    """`outputs`: the head's, which the ensemble passes on."""
    """emotion_<combo>: each modality's encoder, then the combination's head, in one call."""
    cfg = _config(tc.ensemble_name(combo, prefix), mbs, inputs, outputs, params)
    cfg.platform = "ensemble"
    for m in combo:
        step = cfg.ensemble_scheduling.step.add(model_name=tc.encoder_name(m, prefix), model_version=-1)
        step.input_map[tc.INPUTS[m].name] = tc.INPUTS[m].name
        step.output_map[tc.FEATURES[m].name] = tc.FEATURES[m].name
    head = cfg.ensemble_scheduling.step.add(model_name=tc.head_name(combo, prefix), model_version=-1)
    for m in combo:
        head.input_map[tc.FEATURES[m].name] = tc.FEATURES[m].name
    for out, _ in outputs:
        head.output_map[out.name] = out.name
    return cfg


def _write(path: Path, cfg: mc.ModelConfig) -> None:
    path.write_text(text_format.MessageToString(cfg))


def next_version(dirs: list[Path], prefix: str = "") -> int:
    """One more than the highest numbered version of this prefix's models in any of the target folders."""
    names = set(tc.model_names(prefix))
    versions = [
        int(v.name) for d in dirs for m in d.glob("*") if m.name in names for v in m.glob("*") if v.name.isdigit()
    ]
    return max(versions, default=0) + 1


def export(bundle: Bundle, repo: Path, opt: ExportOptions | None = None, dirs: dict[str, Path] | None = None) -> int:
    """Write every model of the bundle as a new version under repo/<target>/ (or the folders `dirs` names per
    target); return that version number."""
    opt = opt or ExportOptions()
    dirs = dirs or {t: Path(repo) / t for t in opt.targets}
    version = next_version(list(dirs.values()), opt.prefix)
    cfg, tok, net = bundle.config, bundle.tokenizer, bundle.model.eval()
    params = {
        tc.PARAMS.BUNDLE_VERSION: bundle.version,
        tc.PARAMS.TRITON_VERSION: str(version),
        tc.PARAMS.EMOTIONS: ",".join(bundle.info.emotions),
        tc.PARAMS.SENTIMENTS: ",".join(bundle.info.sentiments),
    }
    in_dims = {m: tc.input_dims(m, cfg.image_size, tok.max_words, tok.max_tags) for m in MODALITIES}
    feat_dims = {"image": cfg.feature_dim, "text": cfg.feature_dim, "tags": cfg.tag_filters}
    example = {
        "image": torch.zeros(1, *in_dims["image"], dtype=torch.uint8),
        "text": torch.ones(1, tok.max_words, dtype=torch.long),  # traced at max_words, served at any length
        "tags": torch.ones(1, *in_dims["tags"], dtype=torch.long),
    }
    outputs = {c: [(t, [n]) for t, n in tc.outputs(c, opt.opinions)] for c in COMBOS}
    spec = {  # name -> (module, example args, inputs, outputs, max batch)
        tc.encoder_name(m, opt.prefix): (
            getattr(net, m),
            (example[m],),
            [(tc.INPUTS[m], in_dims[m])],
            [(tc.FEATURES[m], [feat_dims[m]])],
            opt.image_batch if m == "image" else opt.batch,
        )
        for m in MODALITIES
    }
    for combo in COMBOS:
        singles = [net.heads[m] for m in combo] if len(outputs[combo]) > len(tc.OUTPUTS) else []
        spec[tc.head_name(combo, opt.prefix)] = (
            _Head(net.heads[combo.name], singles),
            tuple(torch.zeros(1, feat_dims[m]) for m in combo),
            [(tc.FEATURES[m], [feat_dims[m]]) for m in combo],
            outputs[combo],
            opt.batch,
        )
    staging = next(iter(dirs.values())) / f".onnx-{opt.prefix}{version}"
    for name, (module, args, ins, outs, mbs) in spec.items():
        write_model(dirs, name, version, module, args, ins, outs, mbs, params, opt, staging)
    for combo in COMBOS:
        ins = [(tc.INPUTS[m], in_dims[m]) for m in combo]
        name = tc.ensemble_name(combo, opt.prefix)
        for tdir in dirs.values():
            (tdir / name / str(version)).mkdir(parents=True, exist_ok=True)
            _write(
                tdir / name / "config.pbtxt",
                _ensemble_config(combo, opt.max_batch(combo), ins, outputs[combo], params, opt.prefix),
            )
    shutil.rmtree(staging, ignore_errors=True)
    return version


def write_model(
    dirs: dict[str, Path], name: str, version: int, module, args, ins, outs, mbs: int, params, opt, staging: Path
) -> None:
    """One PyTorch module as Triton model `name`, version `version`, in every target folder of `dirs`: its ONNX file
    (written once under `staging`, linked into each target), the cpu target's runner, and its config.pbtxt."""
    onnx_path = staging / f"{name}.onnx"
    _onnx(module, args, ins, outs, onnx_path)
    for target, tdir in dirs.items():
        vdir = tdir / name / str(version)
        vdir.mkdir(parents=True, exist_ok=True)
        _link(onnx_path, vdir / "model.onnx")
        if target == "cpu":
            shutil.copy2(RUNNER, vdir / "model.py")
        _write(tdir / name / "config.pbtxt", _model_config(name, target, mbs, ins, outs, params, opt))


def _link(src: Path, dst: Path) -> None:
    """Same ONNX bytes for both targets: a hard link where the filesystem allows, a copy otherwise."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream export", description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("artifacts/bundles/latest"))
    ap.add_argument("--repo", type=Path, default=Path("triton_repo"))
    ap.add_argument("--targets", nargs="*", default=["cpu", "gpu"], choices=["cpu", "gpu"])
    ap.add_argument(
        "--queue-delay-us",
        type=int,
        default=None,
        help=f"dynamic batcher max queue delay (default per target: {QUEUE_DELAY_US})",
    )
    ap.add_argument("--no-dynamic-batching", action="store_true", help="for the benchmark's batching-off baseline")
    ap.add_argument("--cpu-instances", type=int, default=1)
    ap.add_argument("--gpu-instances", type=int, default=1)
    ap.add_argument("--gpu-accelerator", choices=["cuda", "tensorrt"], default="cuda")
    ap.add_argument("--prefix", default="", help="model name prefix (several exports in one repository)")
    ap.add_argument(
        "--no-opinions",
        action="store_true",
        help="heads of 2-3 modalities give their own outputs only, not each modality's head's opinion",
    )
    ap.add_argument(
        "--serving-link",
        type=Path,
        default=SERVING,
        help=f"symlink naming the bundle in service, which workers use by default (default: {SERVING})",
    )
    args = ap.parse_args(argv)
    opt = ExportOptions(
        tuple(args.targets),
        args.queue_delay_us,
        cpu_instances=args.cpu_instances,
        gpu_instances=args.gpu_instances,
        gpu_accelerator=args.gpu_accelerator,
        dynamic_batching=not args.no_dynamic_batching,
        prefix=args.prefix,
        opinions=not args.no_opinions,
    )
    bundle = load_bundle(args.bundle)
    version = export(bundle, args.repo, opt)
    print(f"exported bundle {bundle.version} as Triton version {version} to {args.repo}/{{{','.join(opt.targets)}}}")
    link = point_serving(bundle.path, args.serving_link)
    print(f"in service: {link} -> {bundle.path} (workers started with the default EMOSTREAM_BUNDLE use it)")
    return 0


def deploy(bundle_path: Path, repo_dir: Path, http_url: str, prefix: str = "", combos=COMBOS, **opts) -> int:
    """Export a bundle (cpu target) into the folder a running Triton serves and load its ensembles there
    (explicit model control; loading an ensemble loads the encoders and head it wires). Returns the version."""
    import tritonclient.http as httpclient

    version = export(
        load_bundle(bundle_path),
        Path(repo_dir).parent,
        ExportOptions(targets=("cpu",), prefix=prefix, **opts),
        dirs={"cpu": Path(repo_dir)},
    )
    client = httpclient.InferenceServerClient(http_url, network_timeout=600)
    try:
        for combo in combos:
            client.load_model(tc.ensemble_name(Combo.parse(str(combo)), prefix))
    finally:
        client.close()
    return version


def undeploy(repo_dir: Path, http_url: str, prefix: str) -> None:
    """Unload every model of a prefix from Triton and delete its folders."""
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(http_url)
    try:
        for name in reversed(tc.model_names(prefix)):
            try:
                client.unload_model(name)
            except InferenceServerException:
                pass  # not loaded
            shutil.rmtree(Path(repo_dir) / name, ignore_errors=True)
    finally:
        client.close()
