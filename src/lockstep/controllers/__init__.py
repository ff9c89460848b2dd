"""The reconcilers, one subpackage per family, and the manager that runs them.

Families: :mod:`.source` (GitRepository, OCIRepository), :mod:`.kustomize`
(Kustomization and its drift watches), :mod:`.image` (ImageRepository, ImagePolicy,
ImageUpdateAutomation) and :mod:`.notification` (Receiver). Each exports the
controllers it contributes; they share the reconciler shell (:mod:`.shell`) and
nothing of each other (an import-linter contract keeps them independent).
:mod:`.manager` wires the families together.
"""
