"""The CLI in-process against the embedded AWS: submit, worker, results."""
import json

import pytest

from lungct.cli import main
from tests.helpers import png_bytes, synthetic_slice


def test_submit_folder_then_results_json(embedded_aws, worker, study_id, tmp_path, capsys):
    folder = tmp_path / "study"
    (folder / "series 2").mkdir(parents=True)
    (folder / "000108 (3).png").write_bytes(png_bytes(synthetic_slice(7, 64)))
    (folder / "series 2" / "b.png").write_bytes(png_bytes(synthetic_slice(8, 64)))
    assert main(["submit", str(folder), "--study", study_id]) == 0
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    capsys.readouterr()
    assert main(["results", study_id, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["study_id"] == study_id
    assert [i["image"] for i in doc["images"]] == ["000108 (3).png", "series 2/b.png"]
    assert all(i["status"] == "CLASSIFIED" for i in doc["images"])


def test_results_table_for_people(embedded_aws, worker, study_id, tmp_path, capsys):
    (tmp_path / "x.png").write_bytes(png_bytes(synthetic_slice(9, 64)))
    (tmp_path / "notes.png").write_bytes(b"a text report saved under an image name, long enough to be cut in a table")
    main(["submit", str(tmp_path / "x.png"), str(tmp_path / "notes.png"), "--study", study_id])
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    capsys.readouterr()
    assert main(["results", study_id]) == 0
    out = capsys.readouterr().out
    assert f"Study {study_id}: 2 image(s)" in out and "x.png" in out and "not for diagnostic use" in out
    # a rejection's whole reason is printed under the table, not cut to the column width
    assert "(not_an_image)" in out
    assert "notes.png: the file is not a PNG, JPEG or DICOM image (its content matches no image format)" in out


def test_invalid_study_id_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["results", "../etc"])
    assert info.value.code == 2
    assert "study ID '../etc' is invalid" in capsys.readouterr().err


def test_unknown_study_exits_nonzero(embedded_aws, capsys):
    assert main(["results", "no-such-study"]) == 1
