"""Refresh the vendored sample from the full set: ``python tests/data/make_sample.py [FULL_SET_DIR]``.

The sample's records are fixed (the ids already in ``gold_sample.jsonl``, 25 of each file of the full set);
this copies each one's fields from the full set (``FULL_SET_DIR``, default ``$TURNSCORE_GOLD_DIR`` or
``../shared/data/gold``), keeping of ``meta`` only ``tools_ref``, and writes ``tools_catalog.json`` with the
catalog entries those ``tools_ref`` name (what ``turnscore prepare`` reads beside the records).
Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "gold_sample.jsonl"
CATALOG = HERE / "tools_catalog.json"


def _dump(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def main(full_dir: Path) -> None:
    full: dict[str, dict] = {}
    for path in sorted(full_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    full[rec["id"]] = rec
    ids = [json.loads(line)["id"] for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [i for i in ids if i not in full]
    if missing:
        raise SystemExit(f"not in the full set: {missing[:5]}")
    out, keys = [], []
    for rid in ids:
        rec = dict(full[rid])
        ref = (rec.get("meta") or {}).get("tools_ref")
        rec.pop("meta", None)
        if ref:
            rec["meta"] = {"tools_ref": ref}
            keys.extend(k for k in ref["keys"] if k not in keys)
        out.append(rec)
    SAMPLE.write_text("".join(_dump(r) + "\n" for r in out), encoding="utf-8")
    catalog = json.loads((full_dir / "tools_catalog.json").read_text(encoding="utf-8"))
    CATALOG.write_text(_dump({k: catalog[k] for k in sorted(keys)}) + "\n", encoding="utf-8")
    print(f"{len(out)} records, {len(keys)} catalog entries")


if __name__ == "__main__":
    default = os.environ.get("TURNSCORE_GOLD_DIR") or HERE.parents[2] / "shared" / "data" / "gold"
    main(Path(sys.argv[1] if len(sys.argv) > 1 else default))
