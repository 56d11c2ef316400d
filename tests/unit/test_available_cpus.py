"""available_cpus: the cgroup CPU quota (v2 cpu.max, v1 cfs quota) caps the threads we start."""
import os

from lungct.model.runtime import available_cpus, cgroup_cpu_quota


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_cgroup_v2_quota_caps_cpus(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")
    assert cgroup_cpu_quota(cpu_max, tmp_path / "v1") == 1.0
    assert available_cpus(cpu_max, tmp_path / "v1") == 1


def test_fractional_quota_rounds_down_but_never_below_one(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("50000 100000\n")
    assert available_cpus(cpu_max, tmp_path / "v1") == 1


def test_unlimited_v2_quota_falls_back_to_affinity(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert cgroup_cpu_quota(cpu_max, tmp_path / "v1") is None
    assert available_cpus(cpu_max, tmp_path / "v1") == _affinity()


def test_cgroup_v1_quota_is_read_when_v2_is_absent(tmp_path):
    v1 = tmp_path / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path / "missing", v1) == 1.0
    assert available_cpus(tmp_path / "missing", v1) == 1


def test_cgroup_v1_unlimited_quota_is_minus_one(tmp_path):
    v1 = tmp_path / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path / "missing", v1) is None


def test_quota_above_affinity_does_not_raise_the_count(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text(f"{(_affinity() + 8) * 100000} 100000\n")
    assert available_cpus(cpu_max, tmp_path / "v1") == _affinity()
