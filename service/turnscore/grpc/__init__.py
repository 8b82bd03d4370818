"""gRPC transport: ``turnscore.v1.RewardService`` on grpc.aio, sharing the HTTP service's runtime.

The server is :mod:`turnscore.grpc.server` (not imported here, so ``python -m turnscore.grpc.codegen`` runs
even when the generated code in ``turnscore.grpc._gen`` is missing or broken). See docs/grpc.md.
"""
