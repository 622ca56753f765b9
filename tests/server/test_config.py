"""Gateway configuration: the example file loads, mistakes fail at start naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from poise.errors import ConfigError
from poise.server import hash_key, load_gateway_config
from poise.server.config import check_exposure, default_gateway_config, is_loopback
from poise.server.gateway import build_gateway

from .conftest import gateway_config

BASE = "backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}]\n"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_configuration_is_valid(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config, base = load_gateway_config(EXAMPLE)
    assert [m.id for m in config.models] == ["acme-support", "acme-support-gpt", "tutor"]
    assert config.tenants["acme"].keys[1].tier == "trusted"
    cfg = config.model_copy(
        update={
            "audit": config.audit.model_copy(update={"path": str(tmp_path / "a.db")}),
            "sessions": config.sessions.model_copy(update={"db": ":memory:"}),
        }
    )
    pytest.importorskip("llama_cpp")
    gateway = build_gateway(cfg, source=EXAMPLE, base_dir=base)
    assert set(gateway.routes) == {"acme-support", "acme-support-gpt", "tutor"}
    assert gateway.routes["acme-support-gpt"].upstream.supports_tools


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            BASE + "sever: {}\n",
            "sever",
            "unknown key",
        ),
        (
            "backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: nope}]\n",
            None,
            "backend 'nope'",
        ),
        (
            "backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}]\n"
            "tenants: {t: {keys: [{id: k, sha256: abc}]}}\n",
            "tenants.t.keys[0].sha256",
            "string matching",
        ),
        (
            "backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}]\n"
            "tenants: {t: {models: [b]}}\n",
            None,
            "allows model 'b'",
        ),
        (
            "backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}, "
            "{id: a, persona: assistant, backend: s}]\n",
            None,
            "duplicate model ids",
        ),
        (
            "backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}]\n"
            "server: {port: 99999}\n",
            "server.port",
            "65535",
        ),
    ],
    ids=["unknown-key", "dangling-backend", "bad-hash", "dangling-model", "duplicate-id", "bad-port"],
)
def test_invalid_configuration_names_the_file_and_field(tmp_path, text, field, words):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_gateway_config(path)
    assert str(path) in str(info.value) and words in str(info.value)
    if field is not None:
        assert field in str(info.value)


@pytest.mark.parametrize(
    ("models", "field"),
    [
        ("[{id: a, persona: no-such-persona, backend: s}]", "models[0].persona"),
        (
            "[{id: a, persona: assistant, backend: s, instructions: missing-rules.yaml}]",
            "models[0].instructions",
        ),
    ],
    ids=["persona", "rules"],
)
def test_unbuildable_references_fail_at_start(tmp_path, models, field):
    path = _write(
        tmp_path, f"backends: {{s: {{model: scripted}}}}\nmodels: {models}\naudit: {{enabled: false}}\n"
    )
    config, base = load_gateway_config(path)
    with pytest.raises(ConfigError) as info:
        build_gateway(config, source=path, base_dir=base)
    assert info.value.field == field and info.value.path == path


def test_backend_option_and_missing_upstream_key_fail_at_start(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    bad = _write(
        tmp_path,
        "backends: {s: {model: scripted, options: {colour: red}}}\n"
        "models: [{id: a, persona: assistant, backend: s}]\naudit: {enabled: false}\n",
    )
    with pytest.raises(ConfigError, match="colour") as info:
        build_gateway(load_gateway_config(bad)[0], source=bad)
    assert info.value.field == "backends.s.model"
    nokey = _write(
        tmp_path,
        "backends: {o: {model: 'openai:gpt-4o-mini', api_key_env: NO_SUCH_KEY_VAR}}\n"
        "models: [{id: a, persona: assistant, backend: o}]\naudit: {enabled: false}\n",
    )
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR"):
        build_gateway(load_gateway_config(nokey)[0], source=nokey)


def test_unknown_rail_in_the_policy_fails_at_start(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nrails: {input: [{name: telepathy}]}\n", encoding="utf-8")
    path = _write(
        tmp_path,
        "backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}]\n"
        "guard: {policy: policy.yaml}\naudit: {enabled: false}\n",
    )
    with pytest.raises(ConfigError, match="telepathy") as info:
        build_gateway(*load_gateway_config(path)[:1], source=path, base_dir=tmp_path)
    assert info.value.field == "guard.policy"


def test_keys_required_off_loopback_and_exposure_check(tmp_path):
    config = gateway_config(tmp_path)
    assert not config.keys_required("127.0.0.1") and config.keys_required("0.0.0.0")
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("10.0.0.1")
    default = default_gateway_config()
    check_exposure(default, "127.0.0.1")
    with pytest.raises(ConfigError, match="requires API keys"):
        check_exposure(default, "0.0.0.0")
    check_exposure(config, "0.0.0.0")  # has keys


def test_default_configuration_serves_the_builtin_personas_on_the_embedded_model():
    config = default_gateway_config()
    assert config.backends["local"].model == "local" and config.server.host == "127.0.0.1"
    assert {m.id for m in config.models} >= {"assistant", "bank-support", "coding-tutor", "clinic-intake"}


def test_hash_key_is_sha256_hex():
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_key(" abc\n") == hash_key("abc")
