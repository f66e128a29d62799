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
from torch import nn

from .bundle import Bundle, load_bundle
from .labels import COMBO_NAMES, MODALITIES

RUNNER = Path(__file__).with_name("triton_onnx_model.py")
INPUT = {"image": "image", "text": "text_ids", "tags": "tag_ids"}  # ensemble/encoder input name per modality
FEATURES = {m: f"{m}_features" for m in MODALITIES}
OUTPUTS = (("emotion_probs", 8), ("sentiment_probs", 2))
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
    dynamic_batching: bool = True
    prefix: str = ""  # prepended to every model name, so several exports can share one repository


class _Head(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, *feats):
        e, s = self.head(torch.cat(feats, dim=1))
        return torch.softmax(e, 1), torch.softmax(s, 1)


def _onnx(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {n: {0: "batch"} for n in inputs + outputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=17, dynamo=False)


def _tensor(name: str, dtype: str, dims) -> str:
    return f'  {{ name: "{name}" data_type: {dtype} dims: [ {", ".join(map(str, dims))} ] }}'


def _io(kind: str, tensors: list[str]) -> str:
    return f"{kind} [\n" + ",\n".join(tensors) + "\n]\n"


def _params(params: dict[str, str]) -> str:
    return "".join(f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}\n' for k, v in params.items())


def _model_config(name: str, target: str, mbs: int, inputs, outputs, params: dict, opt: ExportOptions) -> str:
    if target == "cpu":
        head = 'backend: "python"\n'
        inst = f"instance_group [ {{ kind: KIND_CPU count: {opt.cpu_instances} }} ]\n"
        params = {**params, "intra_op_threads": str(opt.intra_op_threads)}
    else:
        head = 'platform: "onnxruntime_onnx"\ndefault_model_filename: "model.onnx"\n'
        inst = f"instance_group [ {{ kind: KIND_GPU count: {opt.gpu_instances} }} ]\n"
        if opt.gpu_accelerator == "tensorrt":
            inst += ('optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" '
                     'parameters { key: "precision_mode" value: "FP16" } } ] } }\n')
    delay = opt.queue_delay_us if opt.queue_delay_us is not None else QUEUE_DELAY_US[target]
    batching = (f"dynamic_batching {{ max_queue_delay_microseconds: {delay} }}\n" if opt.dynamic_batching and mbs else "")
    return (f'name: "{name}"\n{head}max_batch_size: {mbs}\n' + _io("input", inputs) + _io("output", outputs)
            + batching + inst + _params(params))


def _ensemble_config(combo: str, mbs: int, inputs, outputs, params: dict, prefix: str) -> str:
    steps = []
    for m in combo.split("_"):
        steps.append(f'  {{ model_name: "{prefix}{m}_encoder" model_version: -1 input_map {{ key: "{INPUT[m]}" value: "{INPUT[m]}" }} '
                     f'output_map {{ key: "{FEATURES[m]}" value: "{FEATURES[m]}" }} }}')
    maps = " ".join(f'input_map {{ key: "{FEATURES[m]}" value: "{FEATURES[m]}" }}' for m in combo.split("_"))
    outs = " ".join(f'output_map {{ key: "{o}" value: "{o}" }}' for o, _ in OUTPUTS)
    steps.append(f'  {{ model_name: "{prefix}head_{combo}" model_version: -1 {maps} {outs} }}')
    return (f'name: "{prefix}emotion_{combo}"\nplatform: "ensemble"\nmax_batch_size: {mbs}\n' + _io("input", inputs) + _io("output", outputs)
            + "ensemble_scheduling {\n step [\n" + ",\n".join(steps) + "\n ]\n}\n" + _params(params))


def next_version(dirs: list[Path], prefix: str = "") -> int:
    """One more than the highest numbered version of this prefix's models in any of the target folders."""
    names = set(model_names(prefix))
    versions = [int(v.name) for d in dirs for m in d.glob("*") if m.name in names for v in m.glob("*") if v.name.isdigit()]
    return max(versions, default=0) + 1


def export(bundle: Bundle, repo: Path, opt: ExportOptions | None = None, dirs: dict[str, Path] | None = None) -> int:
    """Write every model of the bundle as a new version under repo/<target>/ (or the folders `dirs` names per
    target); return that version number."""
    opt = opt or ExportOptions()
    dirs = dirs or {t: Path(repo) / t for t in opt.targets}
    version = next_version(list(dirs.values()), opt.prefix)
    cfg, tok, net = bundle.config, bundle.tokenizer, bundle.model.eval()
    s, d = cfg.image_size, cfg.feature_dim
    params = {"bundle_version": bundle.version, "triton_version": str(version),
              "emotions": ",".join(bundle.info.emotions), "sentiments": ",".join(bundle.info.sentiments)}
    spec = {  # name -> (module, example args, [(input, dtype, dims)], [(output, dims)], max batch)
        "image_encoder": (net.image, (torch.zeros(1, s, s, 3, dtype=torch.uint8),), [("image", "TYPE_UINT8", [s, s, 3])],
                          [("image_features", [d])], opt.image_batch),
        "text_encoder": (net.text, (torch.ones(1, tok.max_words, dtype=torch.long),), [("text_ids", "TYPE_INT64", [tok.max_words])],
                         [("text_features", [d])], opt.batch),
        "tags_encoder": (net.tags, (torch.ones(1, tok.max_tags, dtype=torch.long),), [("tag_ids", "TYPE_INT64", [tok.max_tags])],
                         [("tags_features", [cfg.tag_filters])], opt.batch),
    }
    feat_dims = {"image": d, "text": d, "tags": cfg.tag_filters}
    for combo in COMBO_NAMES:
        mods = combo.split("_")
        spec[f"head_{combo}"] = (_Head(net.heads[combo]), tuple(torch.zeros(1, feat_dims[m]) for m in mods),
                                 [(FEATURES[m], "TYPE_FP32", [feat_dims[m]]) for m in mods], [(o, [k]) for o, k in OUTPUTS], opt.batch)
    staging = next(iter(dirs.values())) / f".onnx-{opt.prefix}{version}"
    for base, (module, args, ins, outs, mbs) in spec.items():
        name = opt.prefix + base
        onnx_path = staging / f"{name}.onnx"
        _onnx(module, args, [i[0] for i in ins], [o[0] for o in outs], onnx_path)
        for target, tdir in dirs.items():
            vdir = tdir / name / str(version)
            vdir.mkdir(parents=True, exist_ok=True)
            _link(onnx_path, vdir / "model.onnx")
            if target == "cpu":
                shutil.copy2(RUNNER, vdir / "model.py")
            (tdir / name / "config.pbtxt").write_text(_model_config(
                name, target, mbs, [_tensor(n, t, dims) for n, t, dims in ins],
                [_tensor(n, "TYPE_FP32", dims) for n, dims in outs], params, opt))
    for combo in COMBO_NAMES:
        mods = combo.split("_")
        ins = [_tensor(INPUT[m], *spec[f"{m}_encoder"][2][0][1:]) for m in mods]
        outs = [_tensor(o, "TYPE_FP32", [k]) for o, k in OUTPUTS]
        mbs = opt.image_batch if "image" in mods else opt.batch
        name = f"{opt.prefix}emotion_{combo}"
        for tdir in dirs.values():
            (tdir / name / str(version)).mkdir(parents=True, exist_ok=True)
            (tdir / name / "config.pbtxt").write_text(_ensemble_config(combo, mbs, ins, outs, params, opt.prefix))
    shutil.rmtree(staging, ignore_errors=True)
    return version


def _link(src: Path, dst: Path) -> None:
    """Same ONNX bytes for both targets: a hard link where the filesystem allows, a copy otherwise."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def model_names(prefix: str = "") -> list[str]:
    """Every model the exporter writes, in load order: encoders, heads, ensembles."""
    return [prefix + n for n in [f"{m}_encoder" for m in MODALITIES] + [f"head_{c}" for c in COMBO_NAMES]
            + [f"emotion_{c}" for c in COMBO_NAMES]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream export", description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("artifacts/bundles/latest"))
    ap.add_argument("--repo", type=Path, default=Path("triton_repo"))
    ap.add_argument("--targets", nargs="*", default=["cpu", "gpu"], choices=["cpu", "gpu"])
    ap.add_argument("--queue-delay-us", type=int, default=None, help=f"dynamic batcher max queue delay (default per target: {QUEUE_DELAY_US})")
    ap.add_argument("--no-dynamic-batching", action="store_true", help="for the benchmark's batching-off baseline")
    ap.add_argument("--cpu-instances", type=int, default=1)
    ap.add_argument("--gpu-instances", type=int, default=1)
    ap.add_argument("--gpu-accelerator", choices=["cuda", "tensorrt"], default="cuda")
    ap.add_argument("--prefix", default="", help="model name prefix (several exports in one repository)")
    args = ap.parse_args(argv)
    opt = ExportOptions(tuple(args.targets), args.queue_delay_us, cpu_instances=args.cpu_instances, gpu_instances=args.gpu_instances,
                        gpu_accelerator=args.gpu_accelerator, dynamic_batching=not args.no_dynamic_batching,
                        prefix=args.prefix)
    bundle = load_bundle(args.bundle)
    version = export(bundle, args.repo, opt)
    print(f"exported bundle {bundle.version} as Triton version {version} to {args.repo}/{{{','.join(opt.targets)}}}")
    return 0


def deploy(bundle_path: Path, repo_dir: Path, http_url: str, prefix: str = "", combos=COMBO_NAMES, **opts) -> int:
    """Export a bundle (cpu target) into the folder a running Triton serves and load its ensembles there
    (explicit model control; loading an ensemble loads the encoders and head it wires). Returns the version."""
    import tritonclient.http as httpclient

    version = export(load_bundle(bundle_path), Path(repo_dir).parent, ExportOptions(targets=("cpu",), prefix=prefix, **opts),
                     dirs={"cpu": Path(repo_dir)})
    client = httpclient.InferenceServerClient(http_url, network_timeout=600)
    try:
        for combo in combos:
            client.load_model(f"{prefix}emotion_{combo}")
    finally:
        client.close()
    return version


def undeploy(repo_dir: Path, http_url: str, prefix: str) -> None:
    """Unload every model of a prefix from Triton and delete its folders."""
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(http_url)
    try:
        for name in reversed(model_names(prefix)):
            try:
                client.unload_model(name)
            except InferenceServerException:
                pass  # not loaded
            shutil.rmtree(Path(repo_dir) / name, ignore_errors=True)
    finally:
        client.close()
