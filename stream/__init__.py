"""The streaming side (no torch): settings, parsing and records, the Triton client, the Faust worker, the aggregator
into Redis and the dashboard. Stands on `core/` and `contracts/`; never imports `model/` (the worker image has none).
"""
