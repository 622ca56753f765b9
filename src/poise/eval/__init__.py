"""Evaluation: dataset loaders (:mod:`poise.eval.datasets`) and scorers such as IFEval
(:mod:`poise.eval.ifeval`). Suites, targets and the readiness report build on these."""
