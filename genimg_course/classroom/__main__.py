"""``python -m genimg_course.classroom doctor``: the same as the ``genimg`` command."""
import sys

from .cli import main

sys.exit(main())
