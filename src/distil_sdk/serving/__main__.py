"""``python -m distil_sdk.serving MODEL [options]``: the same as ``distil-sdk serve-model``."""

import sys

from ..cli._serve_model import main

sys.exit(main())
