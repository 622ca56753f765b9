"""``poise.guard``'s public API: every exported name imports, lazily, and nothing else is exported."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys

import pytest

import poise.guard


@pytest.mark.parametrize("name", poise.guard.__all__)
def test_every_exported_name_imports(name):
    value = getattr(poise.guard, name)
    assert value is not None
    exec(f"from poise.guard import {name}", {})


def test_all_is_the_export_table_and_sorted():
    assert sorted(poise.guard.__all__) == sorted(poise.guard._EXPORTS)
    assert len(set(poise.guard.__all__)) == len(poise.guard.__all__)


def test_each_name_comes_from_its_own_module():
    for name, module in poise.guard._EXPORTS.items():
        assert getattr(poise.guard, name) is getattr(importlib.import_module(f"poise.guard.{module}"), name)


def test_no_export_is_shadowed_by_a_submodule():
    # ``poise.guard.normalize`` is a module: exporting a function of that name would flip-flop.
    for name in poise.guard.__all__:
        assert importlib.util.find_spec(f"poise.guard.{name}") is None, name


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        poise.guard.Nope  # noqa: B018


def test_core_api_is_exported():
    core = (
        "GuardPipeline GuardVerdict load_pipeline Policy load_policy GuardContext RailResult Detector "
        "InjectionDetector PIIDetector LeakDetector ToxicityDetector InMemoryRateLimiter RateLimits "
        "AuditingPipeline evaluate_cases"
    )
    assert set(core.split()) <= set(poise.guard.__all__)


def test_importing_the_package_does_not_load_detectors():
    code = "import sys, poise.guard; print(any(m.startswith('poise.guard.injection') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
