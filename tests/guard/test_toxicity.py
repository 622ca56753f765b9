"""The toxicity rail: same scores as alt-profanity-check's scikit-learn model, spans, cache, policy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from poise.errors import OptionalDependencyError
from poise.guard import toxicity
from poise.guard.pipeline import GuardPipeline, load_pipeline
from poise.guard.policy import load_policy
from poise.guard.rails import DetectorRail, GuardContext, build_rail
from poise.guard.toxicity import (
    ToxicityDetector,
    UnavailableDetector,
    load_profanity_model,
    toxicity_detector,
)

pytest.importorskip("joblib")
if toxicity.importlib.util.find_spec("profanity_check") is None:
    pytest.skip("alt-profanity-check is not installed (pip install 'poise[ml]')", allow_module_level=True)

TEXTS = [
    "Thanks, your refund was issued on Monday.",
    "You are a fucking idiot.",
    "kill the process with kill -9",
    "Scunthorpe United won on Saturday.",
    "",
    "the the the and",
    "Shit. This is bad. Really bad!",
    "Ünïcödé text with émojis 🎉 and ß",
]


@pytest.fixture(scope="module")
def detector() -> ToxicityDetector:
    return ToxicityDetector()


def test_scores_match_scikit_learn_predict_proba(detector):
    import joblib

    data = toxicity._package_data_dir()
    vectorizer = joblib.load(data / "vectorizer.joblib")
    model = joblib.load(data / "model.joblib")
    expected = model.predict_proba(vectorizer.transform(TEXTS))[:, 1]
    assert [detector.model.score(t) for t in TEXTS] == pytest.approx(list(expected), abs=1e-9)


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        pytest.param("You are a fucking idiot.", True, id="insult"),
        pytest.param("Shut the fuck up.", True, id="profanity"),
        pytest.param("Thanks for waiting, your order has shipped.", False, id="clean"),
        pytest.param("To stop it, kill the process with kill -9.", False, id="kill-the-process"),
        pytest.param("Scunthorpe United won 2-1 on Saturday.", False, id="scunthorpe"),
        pytest.param("Breast cancer screening starts at 50.", False, id="medical"),
        pytest.param(
            "Thanks for asking. Your refund is on its way. It should arrive soon. Also, fuck you.",
            True,
            id="one-bad-sentence",
        ),
    ],
)
def test_flags(detector, text, flagged):
    assert detector.detect(text).flagged is flagged


def test_spans_point_at_the_offending_words(detector):
    text = "Hello there. You stupid bastard, read the manual."
    result = detector.detect(text)
    assert result.flagged and result.categories == ("toxicity",)
    words = [text[s.start : s.end] for s in result.findings[0].spans]
    assert "bastard" in words and "Hello" not in words and "manual" not in words


def test_empty_and_blank_texts_score_zero(detector):
    for text in ("", "   \n"):
        result = detector.detect(text)
        assert result.score == 0.0 and not result.flagged


def test_threshold_is_validated():
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        ToxicityDetector(1.5)


def test_array_cache_is_written_then_used_without_scikit_learn(tmp_path, monkeypatch):
    monkeypatch.setenv("POISE_HOME", str(tmp_path))
    monkeypatch.setattr(toxicity, "_loaded", {})
    first = load_profanity_model()
    [cached] = list((tmp_path / "cache").glob("toxicity-*.npz"))
    monkeypatch.setattr(toxicity, "_loaded", {})

    def no_pickle(data_dir: Path) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(toxicity, "_from_pickle", no_pickle)
    second = load_profanity_model()
    assert second.vocabulary == first.vocabulary
    assert [second.score(t) for t in TEXTS] == pytest.approx([first.score(t) for t in TEXTS], abs=1e-12)
    assert cached.stat().st_size > 0


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("POISE_HOME", str(tmp_path))
    monkeypatch.setattr(toxicity, "_loaded", {})
    load_profanity_model()
    [cached] = list((tmp_path / "cache").glob("toxicity-*.npz"))
    cached.write_bytes(b"not a zip file")
    monkeypatch.setattr(toxicity, "_loaded", {})
    model = load_profanity_model()
    assert model.score("fuck off") > 0.9
    assert "damaged toxicity cache" in caplog.text


def test_missing_package_is_a_rail_error_not_a_crash(monkeypatch):
    def not_installed() -> Path:
        raise OptionalDependencyError("alt-profanity-check", "ml")

    monkeypatch.setattr(toxicity, "_package_data_dir", not_installed)
    detector = toxicity_detector()
    assert isinstance(detector, UnavailableDetector) and detector.name == "toxicity"
    with pytest.raises(OptionalDependencyError, match=r"poise\[ml\]"):
        detector.detect("hi")


async def test_unavailable_rail_follows_on_error_in_the_pipeline():
    error = OptionalDependencyError("alt-profanity-check", "ml")
    rail = DetectorRail(UnavailableDetector("toxicity", error), on_error="fail_open")
    pipe = GuardPipeline([], [rail], load_policy())
    verdict = await pipe.check_output("hello")
    assert verdict.action == "log"
    assert verdict.errors[0].error is not None and "poise[ml]" in verdict.errors[0].error.message


def test_registered_as_a_rail():
    rail = build_rail("toxicity", {"threshold": 0.5})
    assert rail.name == "toxicity"
    assert isinstance(rail, DetectorRail) and rail.detector.threshold == 0.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "tier", "action"),
    [
        pytest.param("You are a fucking idiot.", "anonymous", "block", id="insult-blocked"),
        pytest.param("You are a fucking idiot.", "internal", "log", id="internal-only-logs"),
        pytest.param(
            "The penis is part of the male reproductive system.", "anonymous", "log", id="anatomy-logged"
        ),
        pytest.param("Your refund is on its way.", "anonymous", "allow", id="clean"),
    ],
)
async def test_default_policy_output_actions(text, tier, action):
    pipe = load_pipeline()
    verdict = await pipe.check_rails(
        [r for r in pipe.output_rails if r.name == "toxicity"], "output", text, GuardContext(tier=tier)
    )
    assert verdict.action == action


@pytest.mark.slow
def test_importing_the_module_does_not_import_scikit_learn_when_cached(tmp_path):
    import subprocess

    code = (
        "import sys; from poise.guard.toxicity import load_profanity_model as load; load(); "
        "print('sklearn' in sys.modules)"
    )
    env = {"POISE_HOME": str(tmp_path), "PATH": ""}
    out = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert out == ["True", "False"]  # the first process builds the cache, the second skips scikit-learn
