"""turnscore as OpenRLHF's reward function file: ``--reward.remote_url /path/to/openrlhf_reward_func.py``.

OpenRLHF loads this file and calls ``reward_func(queries, prompts, labels)`` per sample from worker threads.
Configure with environment variables (set them for the Ray job, e.g. ``--runtime-env-json``):

    TURNSCORE_URL=http://turnscore:8000          # several replicas: comma-separated
    TURNSCORE_PRESET=matchtir-km                 # optional
    TURNSCORE_CONFIG='{"unmatched_penalty": 0.5}'  # optional overrides (JSON)
    TURNSCORE_API_KEY=...                        # when the service requires a key

Compared with ``--reward.remote_url http://HOST:8000/v1/openrlhf`` (no file needed), this adds the client's
retries with backoff and jitter (honouring Retry-After), a total deadline and replica failover.
"""

from turnscore_client.openrlhf import make_reward_func

reward_func = make_reward_func()
