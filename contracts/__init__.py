"""The contracts between emostream's parts, spelled once: labels, modality combinations, Triton model and tensor
names, Redis keys. Torch-free and importing nothing else of the project, so every part (trainer, exporter, worker,
aggregator, dashboard, demo, benchmarks) depends on it and it depends on nothing."""
