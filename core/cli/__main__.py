"""`python -m genplate.core.cli`: how the hosts and detached workers run the engine (the engine
record written by `genplate install` names this module, so it stays the door)."""
import sys

from .main import main

sys.exit(main())
