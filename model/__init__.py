"""The paper's multimodal multitask emotion model: tokenizer, architecture, training, evaluation, bundle, export.

`model.labels` and `model.tokenizer` import no torch: the stream workers use them as they are.
"""
