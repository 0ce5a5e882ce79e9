"""Delivery: seal a grant's wrapping token to the requester's SSH keys and open it again.

``seal`` encrypts with age (and opens on the requester's laptop), ``armor`` reads the ASCII
armor people copy and paste, ``comment`` renders and finds the pull-request comment that
carries it; ``errors`` holds :class:`~jitops.delivery.errors.DeliveryError`, the root of them
all. Key parsing is pure and lives in :mod:`jitops.core.sshkeys`.
"""
