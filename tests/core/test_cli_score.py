"""``turnscore score IN.jsonl -o OUT.jsonl``: one output record per input line, bad lines reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from turnscore import workload
from turnscore.core import engine

from tests.support.gold import gold_records


def score_file(src: Path, out: str, *options: str) -> subprocess.CompletedProcess[str]:
    """``turnscore score SRC -o OUT --no-progress *options`` in a subprocess (output captured as text)."""
    cmd = [sys.executable, "-m", "turnscore", "score", str(src), "-o", out, "--no-progress", *options]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_score_file_keeps_every_line(tmp_path):
    recs = gold_records(sample=True)
    good1 = workload.make_request(recs, 3, 2, seed=1)
    good2 = workload.make_request(recs, 2, 3, seed=2)
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        orjson.dumps(good1)
        + b"\n{not json\n\n"
        + orjson.dumps({"groups": [{"gold": {"calls": "x"}, "rollouts": []}]})
        + b"\n"
        + orjson.dumps(good2)
        + b"\n"
    )
    out = tmp_path / "out.jsonl"
    proc = score_file(src, str(out), "--preset", "matchtir-ot")
    assert proc.returncode == 1, proc.stderr
    assert "line 2: invalid_request" in proc.stderr
    assert "line 4: invalid_request: groups[0].gold.calls: " in proc.stderr  # the path once
    records = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 4, 5]
    assert "error" in records[1] and "error" in records[2]
    good1["preset"] = "matchtir-ot"
    assert records[0]["response"] == orjson.loads(orjson.dumps(engine.score(good1).body))
    assert records[3]["response"]["preset"] == "matchtir-ot"
    assert len(records[3]["response"]["groups"]) == 2


def test_all_good_lines_exit_zero(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps({"groups": []}) + b"\n")
    proc = score_file(src, "-", "--config", '{"gamma": 0.5}')
    assert proc.returncode == 0
    rec = orjson.loads(proc.stdout.splitlines()[0])
    assert rec["response"]["config"]["gamma"] == 0.5


def _records(proc_out: bytes | str) -> list[dict]:
    lines = proc_out.splitlines() if isinstance(proc_out, bytes) else proc_out.encode().splitlines()
    return [orjson.loads(x) for x in lines if x.strip()]


def test_a_line_with_a_bad_config_is_an_error_record_not_a_crash(tmp_path):
    """`--config` merged with a line whose own `config` is a string, a list or a number: that line is an
    error record naming `config`, the other lines are scored with the merged config."""
    recs = gold_records(sample=True)
    good = workload.make_request(recs, 2, 2, seed=3)
    bad_lines = [{**good, "config": c} for c in ('{"gamma": 0.3}', [1], 3)]
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b"".join(orjson.dumps(x) + b"\n" for x in [*bad_lines, {**good, "config": {"gamma": 0.7}}])
    )
    proc = score_file(src, "-", "--config", '{"gamma": 0.5, "unmatched_penalty": 0.25}')
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    records = _records(proc.stdout)
    assert [r["line"] for r in records] == [1, 2, 3, 4]
    for r in records[:3]:
        assert r["error"]["code"] in ("invalid_request", "invalid_config"), r
        assert r["error"]["details"]["path"].startswith("config"), r
    config = records[3]["response"]["config"]
    assert (config["gamma"], config["unmatched_penalty"]) == (0.7, 0.25)  # the line's own key wins


def _ref_request(request: dict, refs: list[str]) -> dict:
    """``request`` with each group's gold replaced by its ``gold_ref``."""
    groups = [
        {"id": g["id"], "gold_ref": ref, "rollouts": g["rollouts"]}
        for g, ref in zip(request["groups"], refs, strict=True)
    ]
    return {**request, "groups": groups}


def test_gold_ref_of_an_earlier_line_and_an_earlier_file(tmp_path):
    recs = gold_records(sample=True)
    full = workload.make_request(recs, 3, 3, seed=4)
    refs = [g["gold_ref"] for g in engine.score(full).body["groups"]]
    by_ref = _ref_request(full, refs)
    unknown = _ref_request(workload.make_request(recs[::-1], 1, 2, seed=5), ["sha256:" + "0" * 64])
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(
        orjson.dumps(by_ref) + b"\n" + orjson.dumps(full) + b"\n" + orjson.dumps(by_ref) + b"\n"
    )
    second.write_bytes(orjson.dumps(by_ref) + b"\n" + orjson.dumps(unknown) + b"\n")
    out = tmp_path / "out.jsonl"
    proc = score_file(first, str(out), str(second))
    assert proc.returncode == 1, proc.stderr
    records = _records(out.read_bytes())
    assert [(Path(r["file"]).name, r["line"]) for r in records] == [
        ("a.jsonl", 1),
        ("a.jsonl", 2),
        ("a.jsonl", 3),
        ("b.jsonl", 1),
        ("b.jsonl", 2),
    ]
    # before the trace was sent: unknown; after (same file, then the next file): scored like the full trace
    assert records[0]["error"]["code"] == "unknown_gold_ref"
    assert records[0]["error"]["details"]["missing"] == list(dict.fromkeys(refs))
    assert records[2]["response"] == records[1]["response"] == records[3]["response"]
    assert records[4]["error"]["code"] == "unknown_gold_ref"
    assert f"{first}:1: unknown_gold_ref" in proc.stderr
    # one file alone: no `file` key; with no cache, the later line is unknown too
    proc = score_file(first, "-", "--gold-cache", "0")
    records = _records(proc.stdout)
    assert "file" not in records[0]
    assert [("error" in r) for r in records] == [True, False, True]


def test_summary_mean_and_std_of_the_return_per_preset_and_source(tmp_path):
    import numpy as np

    recs = gold_records(sample=True)
    lines = [
        workload.make_request(recs, 4, 3, seed=6),
        workload.make_request(recs, 3, 2, seed=7, preset="matchtir-ot"),
        {"groups": [{**workload.make_request(recs, 1, 3, seed=8)["groups"][0], "id": "plain-id"}]},
        {
            "groups": [
                {**workload.make_request(recs, 1, 1, seed=9)["groups"][0], "id": "empty:1", "rollouts": []}
            ]
        },
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines) + b"{oops\n")
    out = tmp_path / "out.jsonl"
    proc = score_file(src, str(out), "--summary")
    assert proc.returncode == 1
    expected: dict[tuple[str, str], list[float]] = {}
    for rec in _records(out.read_bytes()):
        if "error" in rec:
            continue
        body = rec["response"]
        for g in body["groups"]:
            source = g["id"].split(":", 1)[0] if ":" in g["id"] else "-"
            for r in g["rollouts"]:
                expected.setdefault((body["preset"], source), []).append(r["return"])
                expected.setdefault((body["preset"], "*"), []).append(r["return"])
    assert {p for p, _ in expected} == {"matchtir-km", "matchtir-ot"} and ("matchtir-km", "-") in expected
    assert not any(source == "empty" for _, source in expected)  # a group without rollouts has no row
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows[0] == ["preset", "source", "rollouts", "mean_return", "std_return"]
    got = {(r[0], r[1]): (int(r[2]), float(r[3]), float(r[4])) for r in rows[1:]}
    assert set(got) == set(expected)
    for key, values in expected.items():
        n, mean, std = got[key]
        assert n == len(values)
        assert abs(mean - np.mean(values)) <= 1e-5 * max(1.0, abs(mean))
        assert abs(std - np.std(values)) <= 1e-5 * max(1.0, std)
    # with -o -, the summary goes to stderr and stdout holds only records
    proc = score_file(src, "-", "--summary")
    assert "mean_return" in proc.stderr
    assert all("line" in r for r in _records(proc.stdout))


def test_version():
    import turnscore

    proc = subprocess.run(
        [sys.executable, "-m", "turnscore", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"turnscore {turnscore.__version__}"


def test_progress_bar_counts_rollouts_on_a_terminal_only(tmp_path):
    import os
    import pty

    recs = gold_records(sample=True)
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b"".join(orjson.dumps(workload.make_request(recs, 5, 4, seed=s)) + b"\n" for s in range(5))
    )
    base = [sys.executable, "-m", "turnscore", "score", str(src), "-o", str(tmp_path / "out.jsonl")]
    piped = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0
    assert "rollouts/" not in piped.stderr and "ETA" not in piped.stderr  # not a terminal: no bar
    assert "5 lines: 5 scored (100 rollouts" in piped.stderr
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "150"}
    proc = subprocess.Popen(
        base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    shown = b"".join(chunks).decode(errors="replace")
    assert "100 rollouts" in shown and "/s" in shown and "ETA" in shown, shown
