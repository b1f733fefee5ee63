"""Reusing what the platform's own evaluators judged: Langfuse's evaluator sampling value,
bit for bit (`sampling_value`), and an evaluator's scores as the stratified Bernoulli sample
they are (`design`), which `report --evaluator` and the job's evaluator report estimate from.

The `[[evaluator]]` table itself is part of the policy (`tracestrata.policy.evaluators`).
See docs/evaluators.md.
"""
