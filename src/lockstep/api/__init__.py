"""The typed models of every custom resource lockstep serves, and CRDs generated from them."""
