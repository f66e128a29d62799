"""`python -m bench` (`make bench`): every benchmark in turn, on the running local stack (started if needed).
`bash bench/gpu.sh` is the GPU run (a machine of its own)."""

from . import (
    backbones,
    decode_memory,
    end_to_end,
    kafka_throughput,
    model_speed,
    opinions,
    redis_memory,
    triton_throughput,
)

for bench in (
    model_speed,
    decode_memory,
    redis_memory,
    kafka_throughput,
    triton_throughput,
    end_to_end,
    opinions,
    backbones,
):
    bench.main([])
    print()
