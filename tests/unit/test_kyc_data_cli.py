"""``steward data load sanctions FILE``: a full FtM list is validated, installed, and then screened against."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tools.sanctions import FIXTURE


def _steward(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"STEWARD_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-c", "from runtime.cli import main; main()", "data", "load", "sanctions", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=60,
    )


def test_load_reports_counts_and_screening_reads_the_loaded_list(tmp_path: Path) -> None:
    own = tmp_path / "entities.ftm.json"
    extra = {
        "id": "NEW-1",
        "schema": "Person",
        "properties": {"name": ["Quirin Oberholzer"], "birthDate": ["1977-07-07"]},
    }
    own.write_text(FIXTURE.read_text() + json.dumps(extra) + "\n")
    done = _steward(tmp_path, str(own))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["entities"] == 39 and report["persons"] == 27 and report["skipped"] == {"Address": 1}
    installed = tmp_path / "data" / "sanctions.ftm.jsonl"
    assert Path(report["loaded"]).resolve() == installed.resolve() and installed.read_text() == own.read_text()
    probe = (
        "from tools.kyc import Party, screen; r = screen(Party(party_id='p', name='Quirin Oberholzer', "
        "dob='1977-07-07')); print(r.classification, r.matches[0].entry_id)"
    )
    env = {"STEWARD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["confirmed", "NEW-1"], out.stderr


def test_a_bad_file_is_refused_naming_line_and_field_and_nothing_is_loaded(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ftm.json"
    lines = FIXTURE.read_text().splitlines()
    lines[4] = json.dumps({"id": "B-1", "schema": "Person", "properties": {"name": ["X Y"], "birthDate": ["7.7.77"]}})
    bad.write_text("\n".join(lines) + "\n")
    done = _steward(tmp_path, str(bad))
    assert done.returncode == 2 and "bad.ftm.json:5: properties.birthDate" in done.stderr
    assert "nothing loaded" in done.stderr and not (tmp_path / "data" / "sanctions.ftm.jsonl").exists()
