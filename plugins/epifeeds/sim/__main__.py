"""`python -m epifeeds.sim generate|serve ...`: the simulator without the rest of the platform."""

from epifeeds.sim.cli import main

raise SystemExit(main())
