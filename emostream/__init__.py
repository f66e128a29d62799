"""The top room: what orchestrates the whole system. The `emostream` command (`cli.py`, a table of subcommands whose
modules live in the rooms below), the demo (`demo.py`: stack, bundle, export, worker, posts, labels), the worker
launcher the demo, tests and benchmarks share (`launch.py`) and the image encoder's check against ImageNet in PyTorch
and Triton (`imagenet_check.py`). Nothing below imports it."""
