"""`python -m bench`: run every benchmark in turn."""
from . import model_speed

model_speed.main()
