"""`python -m ecs_imaging_local`: see cli.py."""

import sys

from .cli import main

sys.exit(main())
