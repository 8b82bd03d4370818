"""What the test suites and the benchmarks share; a package importable from the repository root (pytest's
``pythonpath``, ``python -m bench.run``):

- serve.py: ``turnscore serve`` subprocesses on free ports (start, probe, stop), free ports, small stdlib
  HTTP servers in a thread;
- probes.py: the Prometheus text format, HTTP/1.1 over a raw socket, ``wait_until``;
- gold.py: ``gold_records()``, the gold traces (the full set beside the repository when present, else the
  sample vendored in tests/data);
- workloads.py: request builders beyond ``turnscore.workload``;
- fake_service.py (tests/client), grpc_service.py (tests/grpc), redis_server.py (tests/conftest.py),
  deploy.py and kustomize_lite.py (tests/deploy): helpers of one suite.

serve.py, probes.py, gold.py and workloads.py need only the standard library and httpx at import time: the
trainer suites (client/tests_trainers, client/tests_verl) run them in environments without the service.
"""
