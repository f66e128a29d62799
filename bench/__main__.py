"""`python -m bench` (`make bench`): every benchmark in turn, on the running local stack (started if needed)."""

from . import end_to_end, model_speed, triton_throughput

model_speed.main()
print()
triton_throughput.main([])
print()
end_to_end.main([])
