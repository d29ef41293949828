"""The application layer: the ``forgeyard`` command line, the demo and the site supervisor.

The top of the layer stack (see README, "Architecture"): it composes every
package below it (API, workers, training, serving, rewards, the run engine)
and nothing imports it; ``python -m forgeyard`` runs the CLI too.
"""
