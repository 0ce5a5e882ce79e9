"""The root of delivery errors, shared by the armor reader, the comment and the sealing code."""

from __future__ import annotations

from jitops.errors import JitopsError


class DeliveryError(JitopsError):
    """A delivery could not be sealed or opened."""
