"""Evaluation: datasets, suites, judges, the Product Readiness Score and the side-by-side report.

Where a ``poise eval run`` goes::

    cases.py / attacks.py / persona_suite.py   the suites' cases (sampled by cases.sample_cases)
    targets.py                                 raw or poise target → one Transcript per case
    runner.py (+ cache.py, ray_exec.py)        every (target, case), cached, concurrent, optionally on Ray
    scoring.py (+ judges.py, ifeval/)          Transcript → CaseResult (deterministic first, then the judge)
    readiness.py                               CaseResults → components with intervals → PRS 0–10
    report.py                                  JSON, Markdown, self-contained HTML

Dataset loaders are in :mod:`poise.eval.datasets`; reference models that calibrate the score in
:mod:`poise.eval.reference`.
"""
