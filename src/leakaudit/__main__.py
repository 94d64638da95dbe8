import sys

from leakaudit.cli import main

sys.exit(main())
