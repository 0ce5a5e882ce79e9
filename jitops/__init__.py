"""jitops: just-in-time access as a GitOps workflow."""

__version__ = "0.1.0"
