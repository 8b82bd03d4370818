"""gRPC transport: ``turnscore.v1.RewardService`` on grpc.aio, sharing the HTTP service's runtime.

The server is :mod:`turnscore.grpc.server` (not imported here). ``turnscore.grpc._gen`` is generated from
proto/turnscore/v1/turnscore.proto when the package is built or installed (``make proto`` by hand).
See docs/grpc.md.
"""
