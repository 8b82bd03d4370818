"""(1) The plugin is loaded by ``import verl`` through the ``verl.plugins`` entry point."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
assert 'turnscore_client' not in sys.modules
import verl
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, get_adv_estimator_fn
from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
print('loaded_by_entry_point', 'turnscore_client.verl' in sys.modules)
print('estimators', sorted(n for n in ADV_ESTIMATOR_REGISTRY if n.startswith('turnscore')))
print('dual_fn', get_adv_estimator_fn('turnscore_dual').__module__)
print('agent_loop', _agent_loop_registry.get('turnscore_tool_agent'))
print('grpo_untouched', get_adv_estimator_fn('grpo').__module__)
from verl.trainer.ppo.v1 import get_trainer_cls
print('trainers', [get_trainer_cls('turnscore_' + m).__mro__[2] is get_trainer_cls(m) for m in
      ('sync', 'colocate_async', 'separate_async')])
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "VERL_USE_EXTERNAL_PLUGINS"}
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=240)


def test_import_verl_loads_the_plugin() -> None:
    out = _run(PROBE)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["loaded_by_entry_point"] == "True"
    assert lines["estimators"] == "['turnscore', 'turnscore_dual']"
    assert lines["dual_fn"] == "turnscore_client.verl.estimator"
    assert "turnscore_client.verl.agent_loop.TurnScoreToolAgentLoop" in lines["agent_loop"]
    assert lines["grpo_untouched"] == "verl.trainer.ppo.core_algos"
    # turnscore_<mode>: the mixin over verl's own trainer of that mode
    assert lines["trainers"] == "[True, True, True]"


def test_check_cli_passes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "turnscore_client.verl", "check"], capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "turnscore verl plugin: OK" in out.stdout
    assert '"verl": "0.9.1"' in out.stdout


def test_check_fails_loudly_when_plugins_are_disabled() -> None:
    # verl skips entry points with VERL_USE_EXTERNAL_PLUGINS=none; check() must then raise, not pass.
    code = (
        "import verl\n"
        "from turnscore_client.verl import check, PluginNotLoaded\n"
        "import verl.trainer.ppo.core_algos as ca\n"
        "for n in ('turnscore', 'turnscore_dual'):\n"
        "    ca.ADV_ESTIMATOR_REGISTRY.pop(n, None)\n"
        "try:\n"
        "    check()\n"
        "except PluginNotLoaded as e:\n"
        "    print('raised', e)\n"
        "else:\n"
        "    print('passed')\n"
    )
    out = _run(code, VERL_USE_EXTERNAL_PLUGINS="none")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("raised"), out.stdout
    assert "turnscore_dual" in out.stdout


def test_plugin_not_loaded_without_entry_point() -> None:
    out = _run(
        "import sys, verl\nprint('turnscore_client.verl' in sys.modules)", VERL_USE_EXTERNAL_PLUGINS="none"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("False")
