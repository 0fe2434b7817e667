"""The pieces of the ``groupsync run`` daemon, one concept per module.

``changes`` debounces change notifications, ``listener`` keeps the LISTEN connection,
``leases`` shares the accounts between replicas, ``worker`` runs one account's runs and
:mod:`groupsync.daemon` puts them together.
"""
