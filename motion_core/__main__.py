import sys

from motion_core.cli import main

sys.exit(main())
