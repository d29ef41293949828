"""Ocean-freight booking desk: the example workflow's data, tools and tasks.

Modules:
    data: the reference data in ``data/`` as frozen records (cached loaders).
    tools: the ``logistics.*`` tools, registered on import (the spec's ``tool_modules``).
    tasks: a seeded generator of booking tasks with their ground truth.
    models: the ``Booking`` table that ``logistics.book`` writes.

Nothing is imported here, so importing the package registers no tools and
touches no database.
"""
