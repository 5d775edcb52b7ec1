"""Cluster deployment: render Ray cluster and KubeRay manifests from a pipeline, submit jobs."""
