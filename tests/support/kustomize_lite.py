"""A small, strict renderer for the subset of kustomize that ``k8s/`` uses.

Used when no ``kubectl kustomize`` / ``kustomize`` binary is installed (neither is on PyPI or in Debian's
packages); when one is, ``tests/deploy/test_deploy_k8s.py`` checks that both render the same objects.

Supported (kustomize v5 semantics):

- ``resources``: YAML files (multi-document) and directories holding a ``kustomization.yaml``;
- ``components``: directories holding a ``kind: Component`` kustomization (their resources are added,
  then their own transformers run over everything accumulated so far);
- ``namespace``: set on every namespaced object;
- ``labels`` with ``pairs`` (``includeSelectors``/``includeTemplates`` false only): added to
  ``metadata.labels``;
- ``images``: ``name`` → ``newName`` / ``newTag`` / ``digest`` in pod-template containers.

Anything else in a kustomization (patches, generators, commonLabels, replacements, ...) is an error, so the
renderer can never silently ignore a field it does not implement.

Command line (from the repository root): ``python -m tests.support.kustomize_lite k8s/`` prints the rendered
objects as YAML.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "components", "namespace", "labels", "images"}
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

#: kinds that are not namespaced (the subset a service deployment may contain)
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}

#: where pod specs live, by kind
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


class KustomizeError(ValueError):
    pass


def _kustomization_file(directory: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    raise KustomizeError(f"{directory}: no kustomization.yaml")


def _load_docs(path: Path) -> list[Obj]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise KustomizeError(f"{path}: every document must be an object with apiVersion and kind")
    return docs


def key(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta.get("name") or "")


def _add(acc: list[Obj], objs: list[Obj], where: Path) -> None:
    seen = {key(o) for o in acc}
    for o in objs:
        if key(o) in seen:
            raise KustomizeError(f"{where}: duplicate object {key(o)}")
        seen.add(key(o))
        acc.append(o)


def _set_namespace(objs: list[Obj], namespace: str) -> None:
    for o in objs:
        if o["kind"] in CLUSTER_SCOPED:
            continue
        o.setdefault("metadata", {})["namespace"] = namespace


def _add_labels(objs: list[Obj], specs: list[Obj], where: Path) -> None:
    for spec in specs:
        extra = set(spec) - {"pairs", "includeSelectors", "includeTemplates"}
        if extra or spec.get("includeSelectors") or spec.get("includeTemplates"):
            raise KustomizeError(f"{where}: labels supports only `pairs` (got {sorted(spec)})")
        pairs = {str(k): str(v) for k, v in (spec.get("pairs") or {}).items()}
        for o in objs:
            labels = o.setdefault("metadata", {}).setdefault("labels", {})
            labels.update(pairs)


def _split_image(image: str) -> tuple[str, str]:
    """``name[:tag][@digest]`` → (name, rest including its separator)."""
    at = image.find("@")
    if at >= 0:
        return image[:at], image[at:]
    colon = image.rfind(":")
    if colon > image.rfind("/"):
        return image[:colon], image[colon:]
    return image, ""


def _pod_specs(obj: Obj) -> list[Obj]:
    path = POD_SPEC_PATHS.get(obj["kind"])
    if path is None:
        return []
    node: Any = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    return [node] if isinstance(node, dict) else []


def _set_images(objs: list[Obj], images: list[Obj], where: Path) -> None:
    for img in images:
        extra = set(img) - {"name", "newName", "newTag", "digest"}
        if extra or "name" not in img:
            raise KustomizeError(
                f"{where}: images entries take name/newName/newTag/digest (got {sorted(img)})"
            )
        for o in objs:
            for spec in _pod_specs(o):
                for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
                    name, rest = _split_image(str(container.get("image", "")))
                    if name != img["name"]:
                        continue
                    new = str(img.get("newName", name))
                    if "digest" in img:
                        new += "@" + str(img["digest"])
                    elif "newTag" in img:
                        new += ":" + str(img["newTag"])
                    else:
                        new += rest
                    container["image"] = new


def _transform(objs: list[Obj], k: Obj, where: Path) -> None:
    if "namespace" in k:
        _set_namespace(objs, str(k["namespace"]))
    if "labels" in k:
        _add_labels(objs, list(k["labels"] or []), where)
    if "images" in k:
        _set_images(objs, list(k["images"] or []), where)


def build(directory: Path | str, *, _component: bool = False) -> list[Obj]:
    """Render the kustomization in ``directory``; returns the objects (deep copies of the sources)."""
    directory = Path(directory).resolve()
    kfile = _kustomization_file(directory)
    k = yaml.safe_load(kfile.read_text(encoding="utf-8")) or {}
    unsupported = set(k) - SUPPORTED_KEYS
    if unsupported:
        raise KustomizeError(f"{kfile}: unsupported kustomization fields {sorted(unsupported)}")
    expected_kind = "Component" if _component else "Kustomization"
    if k.get("kind", "Kustomization") != expected_kind:
        raise KustomizeError(f"{kfile}: expected kind {expected_kind}, got {k.get('kind')}")

    acc: list[Obj] = []
    for entry in k.get("resources") or []:
        path = (directory / entry).resolve()
        if path.is_dir():
            if path == directory or path in directory.parents:
                raise KustomizeError(f"{kfile}: resource {entry!r} is this directory or an ancestor (cycle)")
            _add(acc, build(path), kfile)
        elif path.is_file():
            _add(acc, [copy.deepcopy(d) for d in _load_docs(path)], kfile)
        else:
            raise KustomizeError(f"{kfile}: resource {entry!r} does not exist")
    if _component:
        if k.get("components"):
            raise KustomizeError(f"{kfile}: nested components are not supported")
        # A component's transformers run over its parent's accumulated objects: the caller applies them.
        return acc
    for entry in k.get("components") or []:
        comp_dir = (directory / entry).resolve()
        ck = yaml.safe_load(_kustomization_file(comp_dir).read_text(encoding="utf-8")) or {}
        _add(acc, build(comp_dir, _component=True), kfile)
        _transform(acc, ck, comp_dir)
    _transform(acc, k, kfile)
    return acc


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.support.kustomize_lite DIR", file=sys.stderr)
        return 2
    objs = build(argv[1])
    sys.stdout.write(yaml.safe_dump_all(objs, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
