"""Deploy: build contexts, deployment targets (local, Ray Serve, Kubernetes), rollouts and batch
scoring (chunked files, Spark)."""
