"""A whole jitops installation on loopback (GitHub and Vault stand-ins, real git)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jitops.demo.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    pytest.importorskip("jitops.sandbox.vault.server", reason="no Vault stand-in")
    with World.create(tmp_path, use_postgres=False) as w:
        yield w
        assert w.gh.errors == [], "the GitHub stand-in itself failed"
