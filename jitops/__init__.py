"""jitops: just-in-time access as a GitOps workflow."""

from typing import Any


def __getattr__(name: str) -> Any:
    # read on demand: the build stamp (jitops.release) costs nothing to commands that never ask
    if name == "__version__":
        from jitops.release import build

        return build().version
    raise AttributeError(name)
