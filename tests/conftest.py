"""Shared fixtures. Tests never call a real remote model; the embedded model runs where marked."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_poise_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep session databases written by the code under test inside the test's tmp dir."""
    monkeypatch.setenv("POISE_HOME", str(tmp_path / "poise-home"))
