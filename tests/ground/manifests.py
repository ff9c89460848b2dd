"""Flux manifests exactly as users write them (the seed of the foundation issue and the
image automation samples), shared by the API unit tests and the CRD integration tests."""

SAMPLE_MANIFESTS = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: infra, namespace: flux-system}
spec:
  interval: 1m
  url: https://github.com/acme/infra
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  sourceRef: {kind: GitRepository, name: infra}
  path: ./apps
  prune: true
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: payment-service, namespace: flux-system}
spec: {image: 127.0.0.1:5000/kaval-labs/payment-api, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: payment-service-policy, namespace: flux-system}
spec:
  imageRepositoryRef: {name: payment-service}
  policy: {semver: {range: '^1.2.x'}}
"""
