from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScoreRequest(_message.Message):
    __slots__ = ("preset", "config_json", "step", "explain", "groups")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    preset: str
    config_json: bytes
    step: int
    explain: bool
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    def __init__(self, preset: _Optional[str] = ..., config_json: _Optional[bytes] = ..., step: _Optional[int] = ..., explain: _Optional[bool] = ..., groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("id", "id_json", "gold_json", "references_json", "gold_ref", "gold_refs", "rollouts")
    ID_FIELD_NUMBER: _ClassVar[int]
    ID_JSON_FIELD_NUMBER: _ClassVar[int]
    GOLD_JSON_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_JSON_FIELD_NUMBER: _ClassVar[int]
    GOLD_REF_FIELD_NUMBER: _ClassVar[int]
    GOLD_REFS_FIELD_NUMBER: _ClassVar[int]
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    id_json: bytes
    gold_json: bytes
    references_json: bytes
    gold_ref: str
    gold_refs: GoldRefs
    rollouts: _containers.RepeatedCompositeFieldContainer[Rollout]
    def __init__(self, id: _Optional[str] = ..., id_json: _Optional[bytes] = ..., gold_json: _Optional[bytes] = ..., references_json: _Optional[bytes] = ..., gold_ref: _Optional[str] = ..., gold_refs: _Optional[_Union[GoldRefs, _Mapping]] = ..., rollouts: _Optional[_Iterable[_Union[Rollout, _Mapping]]] = ...) -> None: ...

class GoldRefs(_message.Message):
    __slots__ = ("refs",)
    REFS_FIELD_NUMBER: _ClassVar[int]
    refs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, refs: _Optional[_Iterable[str]] = ...) -> None: ...

class Rollout(_message.Message):
    __slots__ = ("text", "messages_json", "turns_json")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_JSON_FIELD_NUMBER: _ClassVar[int]
    TURNS_JSON_FIELD_NUMBER: _ClassVar[int]
    text: str
    messages_json: bytes
    turns_json: bytes
    def __init__(self, text: _Optional[str] = ..., messages_json: _Optional[bytes] = ..., turns_json: _Optional[bytes] = ...) -> None: ...

class AdvantagesRequest(_message.Message):
    __slots__ = ("preset", "config_json", "step", "groups")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    preset: str
    config_json: bytes
    step: int
    groups: _containers.RepeatedCompositeFieldContainer[RewardGroup]
    def __init__(self, preset: _Optional[str] = ..., config_json: _Optional[bytes] = ..., step: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[RewardGroup, _Mapping]]] = ...) -> None: ...

class RewardGroup(_message.Message):
    __slots__ = ("id", "id_json", "rollouts")
    ID_FIELD_NUMBER: _ClassVar[int]
    ID_JSON_FIELD_NUMBER: _ClassVar[int]
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    id_json: bytes
    rollouts: _containers.RepeatedCompositeFieldContainer[RewardRollout]
    def __init__(self, id: _Optional[str] = ..., id_json: _Optional[bytes] = ..., rollouts: _Optional[_Iterable[_Union[RewardRollout, _Mapping]]] = ...) -> None: ...

class RewardRollout(_message.Message):
    __slots__ = ("turn_rewards", "outcome_reward", "trajectory_reward")
    TURN_REWARDS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_REWARD_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORY_REWARD_FIELD_NUMBER: _ClassVar[int]
    turn_rewards: _containers.RepeatedScalarFieldContainer[float]
    outcome_reward: float
    trajectory_reward: float
    def __init__(self, turn_rewards: _Optional[_Iterable[float]] = ..., outcome_reward: _Optional[float] = ..., trajectory_reward: _Optional[float] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("preset", "config_json", "effective_json", "groups", "explain")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_JSON_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    preset: str
    config_json: bytes
    effective_json: bytes
    groups: _containers.RepeatedCompositeFieldContainer[GroupResult]
    explain: bool
    def __init__(self, preset: _Optional[str] = ..., config_json: _Optional[bytes] = ..., effective_json: _Optional[bytes] = ..., groups: _Optional[_Iterable[_Union[GroupResult, _Mapping]]] = ..., explain: _Optional[bool] = ...) -> None: ...

class GroupResult(_message.Message):
    __slots__ = ("id", "id_json", "gold_ref", "gold_refs", "rollouts")
    ID_FIELD_NUMBER: _ClassVar[int]
    ID_JSON_FIELD_NUMBER: _ClassVar[int]
    GOLD_REF_FIELD_NUMBER: _ClassVar[int]
    GOLD_REFS_FIELD_NUMBER: _ClassVar[int]
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    id_json: bytes
    gold_ref: str
    gold_refs: _containers.RepeatedScalarFieldContainer[str]
    rollouts: _containers.RepeatedCompositeFieldContainer[RolloutResult]
    def __init__(self, id: _Optional[str] = ..., id_json: _Optional[bytes] = ..., gold_ref: _Optional[str] = ..., gold_refs: _Optional[_Iterable[str]] = ..., rollouts: _Optional[_Iterable[_Union[RolloutResult, _Mapping]]] = ...) -> None: ...

class RolloutResult(_message.Message):
    __slots__ = ("turn_rewards", "outcome_reward", "trajectory_advantage", "turn_advantages", "advantages", "num_turns", "num_calls", "malformed_calls", "reference", "trajectory_reward", "toolrl", "matches")
    TURN_REWARDS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_REWARD_FIELD_NUMBER: _ClassVar[int]
    RETURN_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORY_ADVANTAGE_FIELD_NUMBER: _ClassVar[int]
    TURN_ADVANTAGES_FIELD_NUMBER: _ClassVar[int]
    ADVANTAGES_FIELD_NUMBER: _ClassVar[int]
    NUM_TURNS_FIELD_NUMBER: _ClassVar[int]
    NUM_CALLS_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_CALLS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORY_REWARD_FIELD_NUMBER: _ClassVar[int]
    TOOLRL_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    turn_rewards: _containers.RepeatedScalarFieldContainer[float]
    outcome_reward: float
    trajectory_advantage: float
    turn_advantages: _containers.RepeatedScalarFieldContainer[float]
    advantages: _containers.RepeatedScalarFieldContainer[float]
    num_turns: int
    num_calls: int
    malformed_calls: int
    reference: int
    trajectory_reward: float
    toolrl: ToolRLScore
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    def __init__(self, turn_rewards: _Optional[_Iterable[float]] = ..., outcome_reward: _Optional[float] = ..., trajectory_advantage: _Optional[float] = ..., turn_advantages: _Optional[_Iterable[float]] = ..., advantages: _Optional[_Iterable[float]] = ..., num_turns: _Optional[int] = ..., num_calls: _Optional[int] = ..., malformed_calls: _Optional[int] = ..., reference: _Optional[int] = ..., trajectory_reward: _Optional[float] = ..., toolrl: _Optional[_Union[ToolRLScore, _Mapping]] = ..., matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ..., **kwargs) -> None: ...

class ToolRLScore(_message.Message):
    __slots__ = ("format", "correctness")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CORRECTNESS_FIELD_NUMBER: _ClassVar[int]
    format: float
    correctness: float
    def __init__(self, format: _Optional[float] = ..., correctness: _Optional[float] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("turn", "call", "name", "gold", "similarity", "reward")
    TURN_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    turn: int
    call: int
    name: str
    gold: int
    similarity: float
    reward: float
    def __init__(self, turn: _Optional[int] = ..., call: _Optional[int] = ..., name: _Optional[str] = ..., gold: _Optional[int] = ..., similarity: _Optional[float] = ..., reward: _Optional[float] = ...) -> None: ...

class PresetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PresetsResponse(_message.Message):
    __slots__ = ("presets_json",)
    class PresetsJsonEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    PRESETS_JSON_FIELD_NUMBER: _ClassVar[int]
    presets_json: _containers.ScalarMap[str, bytes]
    def __init__(self, presets_json: _Optional[_Mapping[str, bytes]] = ...) -> None: ...
