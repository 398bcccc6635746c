"""Every Ray cluster a test starts or joins is on loopback; Ray reads this when it is first imported."""

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
