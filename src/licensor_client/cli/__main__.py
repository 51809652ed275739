"""``python -m licensor_client.cli``: the same as ``licensor-client``."""

import sys

from licensor_client.cli import main

sys.exit(main())
