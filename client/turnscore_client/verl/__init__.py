"""turnscore as a verl (>= 0.9) plugin.

``pip install './client[verl]'`` (from a clone) installs the entry point
``turnscore = turnscore_client.verl`` in the group ``verl.plugins``; verl imports it on ``import verl`` in
every process (driver, agent-loop workers, reward workers), which registers:

- the advantage estimators ``turnscore`` and ``turnscore_dual`` (``algorithm.adv_estimator=...``);
- the agent loop ``turnscore_tool_agent`` (``actor_rollout_ref.rollout.agent.default_agent_loop=...``);
- the v1 trainers ``turnscore_sync``, ``turnscore_colocate_async``, ``turnscore_separate_async``
  (``trainer.v1.trainer_mode=...``): the stock modes plus ``turnscore/<field>`` in each training step's
  metrics (:mod:`turnscore_client.verl.trainer`).

The trajectory-level reward function needs no registration:
``reward.custom_reward_function.path=pkg://turnscore_client.verl.reward``. The tool class of the tool config
``turnscore prepare --for verl`` writes is :class:`turnscore_client.verl.tools.RecordingTool`.

verl swallows plugin import errors (logged at DEBUG). :func:`check` (or ``python -m turnscore_client.verl
check``) fails loudly, with the original error, when a name is missing.
"""

from __future__ import annotations

from typing import Any

from .trainer import BASE_MODES, TRAINER_PREFIX

__all__ = [
    "AGENT_LOOP_NAME",
    "ESTIMATOR_NAMES",
    "TRAINER_NAMES",
    "PluginNotLoaded",
    "check",
    "register",
    "registration_errors",
]

ESTIMATOR_NAMES = ("turnscore", "turnscore_dual")
AGENT_LOOP_NAME = "turnscore_tool_agent"
TRAINER_NAMES = tuple(TRAINER_PREFIX + mode for mode in BASE_MODES)

registration_errors: dict[str, BaseException] = {}
"""What failed while registering (name -> exception); empty when everything is registered."""


class PluginNotLoaded(RuntimeError):
    """A turnscore name is missing from verl's registries."""


def _register_estimators() -> None:
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    from .estimator import compute_turnscore_advantage, compute_turnscore_dual_advantage

    for name, fn in zip(
        ESTIMATOR_NAMES, (compute_turnscore_advantage, compute_turnscore_dual_advantage), strict=True
    ):
        if ADV_ESTIMATOR_REGISTRY.get(name) is not fn:
            register_adv_est(name)(fn)


def _register_agent_loop() -> None:
    from . import agent_loop  # noqa: F401  (the @register decorator fills verl's agent-loop registry)


def _register_trainers() -> None:
    from .trainer import register_trainers

    register_trainers()


def register() -> None:
    """Register everything (idempotent); failures are kept in :data:`registration_errors`."""
    for what, fn in (
        ("estimators", _register_estimators),
        ("agent_loop", _register_agent_loop),
        ("trainers", _register_trainers),
    ):
        try:
            fn()
            registration_errors.pop(what, None)
        except Exception as e:  # verl would swallow it: keep it for check()
            registration_errors[what] = e


def check() -> dict[str, Any]:
    """Raise :class:`PluginNotLoaded` unless every turnscore name is in verl's registries.

    Imports verl (which loads the plugin through its entry point) and inspects the registries, so it
    checks what a training process will see. Returns a small report on success.
    """
    import verl
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

    missing = [n for n in ESTIMATOR_NAMES if n not in ADV_ESTIMATOR_REGISTRY]
    if AGENT_LOOP_NAME not in _agent_loop_registry:
        missing.append(AGENT_LOOP_NAME)
    missing += [n for n in TRAINER_NAMES if n not in TRAINER_REGISTRY]
    if missing:
        detail = "; ".join(f"{k}: {type(e).__name__}: {e}" for k, e in registration_errors.items())
        hint = (
            "the verl.plugins entry point was not loaded: is turnscore-client installed in this environment, "
            "and VERL_USE_EXTERNAL_PLUGINS not 'none'?"
        )
        raise PluginNotLoaded(
            f"turnscore names missing from verl's registries: {', '.join(missing)}; {detail or hint}"
        )
    return {
        "verl": getattr(verl, "__version__", "?"),
        "estimators": list(ESTIMATOR_NAMES),
        "agent_loop": AGENT_LOOP_NAME,
        "trainers": list(TRAINER_NAMES),
        "agent_loop_target": _agent_loop_registry[AGENT_LOOP_NAME].get("_target_"),
    }


register()
