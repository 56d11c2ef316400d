"""The load benchmark, small: 40 images, 4 studies, faults and duplicate deliveries, two worker processes.

Runs benchmarks/load.py in its own process: moto keeps its state per process, so its embedded AWS
must not share this session's.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_small_load_run_loses_nothing_and_leaves_one_result_per_object(tiny_artifact, tmp_path):
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load.py"), "--images", "40", "--studies", "4", "--synthetic",
         "--faults", "0.1", "--duplicates", "0.1", "--workers", "2", "--artifact", str(tiny_artifact), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["images_uploaded"] == 40 and report["lost"] == 0 and report["wrong_version"] == 0
    assert report["objects_with_one_final_result"] == 40 and report["results"] == 40
    assert report["results_by_status"] == {"CLASSIFIED": 40}
    assert report["duplicate_messages_sent"] == 4 and report["duplicates_suppressed"] <= 4
    assert report["faults_injected"] > 0 and report["client_retries"] + report["queue_retries"] > 0
    assert report["dead_lettered"] == 0
    assert "lost                      0" in proc.stdout
