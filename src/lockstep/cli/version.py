"""``lockstep version``: this command's version, the cluster's, and the engines installed.

The engines are the Deployments labelled ``app.kubernetes.io/name=lockstep`` (what
``lockstep install`` creates), with the image each runs. ``--client`` prints only
the command's version and reaches no cluster.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from lockstep import __version__
from lockstep.cli.components import DEFAULT_NAMESPACE, NAME
from lockstep.cli.context import console, state
from lockstep.kube import KubeClient, KubeObject

ENGINE_SELECTOR = {"app.kubernetes.io/name": NAME}


def engine_images(deployments: list[KubeObject]) -> list[tuple[str, str]]:
    """``(namespace/name, image)`` of each engine Deployment, in name order."""
    found = []
    for deployment in deployments:
        metadata = deployment.get("metadata") or {}
        containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        image = next((c.get("image", "") for c in containers if c.get("name") == NAME), "")
        found.append((f"{metadata.get('namespace')}/{metadata.get('name')}", str(image)))
    return sorted(found)


def version(
    ctx: typer.Context,
    client: Annotated[
        bool, typer.Option("--client", help="Only this command's version; no cluster is reached.")
    ] = False,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace of the engine.")
    ] = DEFAULT_NAMESPACE,
) -> None:
    """Print the versions of lockstep, of the cluster's Kubernetes, and of the engine there.

    Examples:

      lockstep version

      lockstep version --client
    """
    console.print(f"lockstep: v{__version__}")
    if client:
        return

    async def main(kube: KubeClient) -> tuple[str, list[KubeObject]]:
        async with kube:
            server = await kube.server_version()
            deployments = await kube.list(
                "apps/v1", "Deployment", namespace=namespace, labels=ENGINE_SELECTOR
            )
            return server, deployments

    server, deployments = asyncio.run(main(state(ctx).kube_client()))
    console.print(f"kubernetes: {server}")
    engines = engine_images(deployments)
    if not engines:
        console.print(f"engine: not installed in namespace {namespace}")
    for where, image in engines:
        console.print(f"engine {where}: {image}")
