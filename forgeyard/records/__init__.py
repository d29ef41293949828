"""Tables of the reward workbench (:mod:`.rewards`) and of training (:mod:`.training`).

They live in the kernel, beside :mod:`forgeyard.models`, so that the
migrations see every table without importing a higher layer.
"""
