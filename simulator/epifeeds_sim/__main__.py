"""`python -m epifeeds_sim generate|serve ...`: the simulator without the rest of the platform."""

from epifeeds_sim.cli import main

raise SystemExit(main())
