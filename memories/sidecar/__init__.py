"""The sidecar agent: the engine served beside a workload over RESP, HTTP and ops endpoints."""
