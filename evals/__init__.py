"""Measuring sticks: HumanEval infilling pass@k and completion latency, against any backend."""
