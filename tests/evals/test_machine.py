"""Every report names the machine it was measured on: the CPU model from /proc/cpuinfo, its flags, cores."""

from __future__ import annotations

from pathlib import Path

from engine.cpu import REPORTED_FLAGS, cpu_flags
from evals.results import machine, machine_line


def test_machine_names_the_cpu_model_flags_and_cores():
    info = machine()
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.partition(":")[2].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    assert model in info["cpu"] and info["cores"] >= 1
    assert info["flags"] == [f for f in REPORTED_FLAGS if f in cpu_flags()]
    for flag in info["flags"]:
        assert flag in info["cpu"]
    assert machine_line() == f"machine: {info['cpu']}"
