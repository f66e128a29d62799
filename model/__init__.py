"""The offline trainer: the paper's multimodal multitask model (architecture, backbones, loss), data sources and
manifests in, training, calibration, evaluation, the section 4.2 experiments, the bundle, and the export to ONNX and
Triton. Needs torch (the `train` extra). What the workers share with it lives in `core/`; it never imports `stream/`.
"""
