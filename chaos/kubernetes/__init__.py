"""The chaos engine's Kubernetes target (kind overlay) and its CLI: `python -m chaos.kubernetes`."""

from chaos.kubernetes.kubectl import Kubectl, KubectlError
from chaos.kubernetes.target import KubernetesTarget, unsupported

__all__ = ["Kubectl", "KubectlError", "KubernetesTarget", "unsupported"]
