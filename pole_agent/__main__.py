import sys

from pole_agent.cli import main

sys.exit(main())
