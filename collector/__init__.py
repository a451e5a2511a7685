"""The Lantern collector: gRPC ingest, storage, triggers, alerts and the web console."""
