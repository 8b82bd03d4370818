"""The docs stay inside the repository and true: every link and file path in a doc names a file of the
repository, docs/API.md's example is what the service answers, and docs/deploy.md names only files, make
targets and settings that exist, and the figures it quotes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.support.deploy import REPO

DOC = REPO / "docs" / "deploy.md"


def _docs() -> list[Path]:
    """Every doc of the repository: README.md, client/README.md, docs/*.md, tests/data/README.md, ...
    (hidden folders such as .venv and .git skipped)."""
    out = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "__pycache__"]
        out += [Path(folder) / f for f in files if f.endswith(".md")]
    return sorted(out)


_LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target)
_UP = re.compile(r"(?<![\w./])((?:\.\./)+[\w./-]*)")  # ../x, ../../y
_FILE = re.compile(r"`((?:[\w-]+/)+[\w.-]+\.(?:md|py|proto|toml|ya?ml|jsonl?|sh|mk|txt))`")  # `dir/file.ext`
#: where a doc's file paths may start: the repository, the doc's folder, the two packages' folders
_BASES = ("", "service", "service/turnscore", "client")
#: files of other projects the docs name (not of this repository)
_OTHER_PROJECTS = {
    "slime/utils/types.py": "slime's Sample type",
    "Scripts/run.sh": "the MatchTIR reference code's training script",
    "verifiers/trainers/mt_grpo_env_trainer.py": "MT-GRPO's reference trainer",
    "gigpo/core_gigpo.py": "GiGPO's reference functions (verl-agent)",
    "Code/verl/utils/reward_score/tool.py": "the MatchTIR reference reward functions",
    "Code/verl/workers/reward_manager/tool.py": "the MatchTIR reference reward manager",
    "Code/utils/parse_output.py": "the MatchTIR reference output parser",
    "Code/utils/utils.py": "the MatchTIR reference helpers",
    # the bench's MatchTIR reference directory, outside the repository (docs/PERFORMANCE.md)
    "utils/parse_output.py": "a file of the bench's reference directory",
    "utils/__init__.py": "a file of the bench's reference directory",
    "utils/utils.py": "a shim of the bench's reference directory",
}


def _inside(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO.resolve())


def test_docs_point_only_inside_the_repository() -> None:
    """A link, a relative path or a file path in a doc that leaves the repository (or names nothing) fails."""
    docs = _docs()
    assert len(docs) >= 10, docs
    problems = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        where = doc.relative_to(REPO)
        for target in _LINK.findall(text):
            if re.match(r"[a-zA-Z][\w+.-]*:", target) or target.startswith("#"):
                continue  # a URL or an anchor of this page
            path = doc.parent / target.split("#", 1)[0]
            if not _inside(path) or not path.exists():
                problems.append(f"{where}: link {target} is not a file of the repository")
        for rel in _UP.findall(text):
            if not _inside(doc.parent / rel) or not (doc.parent / rel).exists():
                problems.append(f"{where}: {rel} is not a path of the repository")
        for name in _FILE.findall(text):
            bases = [doc.parent, *(REPO / b for b in _BASES)]
            if name not in _OTHER_PROJECTS and not any(
                _inside(b / name) and (b / name).exists() for b in bases
            ):
                problems.append(f"{where}: `{name}` is not a file of the repository")
    assert not problems, "\n".join(problems)


def test_api_example_is_what_the_service_answers() -> None:
    """docs/API.md's /v1/score example request gives the response shown (numbers, gold_ref, effective)."""
    from turnscore.core import engine

    blocks = re.findall(r"```json\n(.*?)```", (REPO / "docs" / "API.md").read_text(encoding="utf-8"), re.S)
    request, shown = json.loads(blocks[0]), json.loads(blocks[1])
    body = engine.score(request).body
    assert body["preset"] == shown["preset"] and body["effective"] == shown["effective"]
    assert body["warnings"] == shown["warnings"]
    assert body["summary"] == shown["summary"]
    assert {k: v for k, v in shown["config"].items() if k != "..."}.items() <= body["config"].items()
    for got, want in zip(body["groups"], shown["groups"], strict=True):
        assert got["id"] == want["id"] and got["gold_ref"] == want["gold_ref"]
        assert {k: v for k, v in want["summary"].items() if k != "..."}.items() <= got["summary"].items()
        for row, shown_row in zip(got["rollouts"], want["rollouts"], strict=True):
            assert {k: v for k, v in shown_row.items() if k != "..."}.items() <= row.items()
    assert engine.advantages(json.loads(blocks[2])).body["groups"][0]["rollouts"][0]["turn_rewards"] == [
        0.75,
        0.0,
    ]


def test_paths_exist() -> None:
    text = DOC.read_text()
    paths = set(re.findall(r"`((?:docker|k8s|tests|mk|docs)/[\w./-]+)`", text))
    paths |= set(re.findall(r"-[fk] ((?:docker|k8s)/[\w./-]*)", text))
    assert len(paths) >= 8
    missing = sorted(p for p in paths if not (REPO / p.rstrip("/")).exists())
    assert not missing, missing


def test_make_targets_exist() -> None:
    text = DOC.read_text()
    targets = set(re.findall(r"make ([a-z][\w-]*)", text))
    defined = set()
    for mk in [REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]:
        defined |= set(re.findall(r"^([a-z][\w-]*):", mk.read_text(), flags=re.M))
    assert targets and not targets - defined, targets - defined


def test_settings_named_exist(settings_fields: set[str]) -> None:
    named = set(re.findall(r"TURNSCORE_[A-Z_]+", DOC.read_text()))
    client_side = {"TURNSCORE_URL"}  # read by the client library, not the service
    assert not named - settings_fields - client_side, named - settings_fields - client_side


def test_drain_arithmetic_quoted_matches_the_manifests() -> None:
    """The numbers the doc quotes (preStop 5, graceful 20, delay 1, grace 60) are the manifests' numbers."""
    import yaml

    text = DOC.read_text()
    deploy = yaml.safe_load((REPO / "k8s/base/deployment.yaml").read_text())
    config = yaml.safe_load((REPO / "k8s/base/configmap.yaml").read_text())["data"]
    pod = deploy["spec"]["template"]["spec"]
    grace = pod["terminationGracePeriodSeconds"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1]
    graceful = config["TURNSCORE_GRACEFUL_TIMEOUT"]
    delay = config["TURNSCORE_GRPC_DRAIN_DELAY"]
    quoted = f"terminationGracePeriodSeconds: {grace}` >\n  {pre_stop} + {graceful} + {delay} + {graceful}"
    assert quoted in text
