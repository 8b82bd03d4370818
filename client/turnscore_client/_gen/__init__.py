"""Generated from proto/turnscore/v1/turnscore.proto by turnscore.grpc.codegen. Do not edit."""
