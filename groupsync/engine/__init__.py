"""The reconcile engine: one run turns Square's groups into the desired state.

The steps of a run, each in its own module: ``lock`` (one run per account at a time),
``desired`` (read and normalise the desired state), ``groups`` (bind managed groups to
Square groups), ``resolver`` (link people to Square customers), ``snapshot`` (read the
members Square reports), ``plan`` (compute the changes in SQL), ``guard`` (hold large
removals), ``apply`` (journal and send the changes) and ``run`` (the whole run).
"""
