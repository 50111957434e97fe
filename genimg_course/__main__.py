"""``python -m genimg_course doctor``: the same as the ``genimg`` command."""
import sys

from .classroom.cli import main

sys.exit(main())
