"""``poise serve`` on the command line: key helpers and ``--check``."""

from __future__ import annotations

from typer.testing import CliRunner

from poise.cli.main import app
from poise.server import hash_key

runner = CliRunner()


def test_hash_key_prints_the_sha256():
    result = runner.invoke(app, ["serve", "hash-key", "sk-poise-abc"])
    assert result.exit_code == 0 and result.output.strip() == hash_key("sk-poise-abc")
    piped = runner.invoke(app, ["serve", "hash-key"], input="sk-poise-abc\n")
    assert piped.output.strip() == hash_key("sk-poise-abc")


def test_new_key_prints_a_key_and_only_its_hash_for_the_config():
    result = runner.invoke(app, ["serve", "new-key", "--id", "web"])
    key = result.output.split("client): ")[1].split()[0]
    assert key.startswith("sk-poise-") and f"sha256: {hash_key(key)}" in result.output
    assert "id: web" in result.output


def test_check_validates_a_configuration(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}]\n")
    result = runner.invoke(app, ["serve", "--check", "--config", str(path)])
    assert result.exit_code == 0 and "ok: 1 model(s): a" in result.output
    assert not (tmp_path / "audit.db").exists()


def test_check_refuses_a_public_address_without_keys(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("backends: {s: {model: scripted}}\nmodels: [{id: a, persona: assistant, backend: s}]\n")
    result = runner.invoke(app, ["serve", "--check", "--config", str(path), "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "requires API keys" in str(result.exception)
