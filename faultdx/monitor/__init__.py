"""Condition monitoring: assets, their diagnosis history in a database, condition indicators of the raw
signal, ISO 20816-3 severity zones, alarms and healthy baselines.

``indicators`` and ``zones`` are pure numpy; ``alarms`` decides which alarms a measurement opens or closes;
the database is ``db`` (engine, sessions, migrations), ``tables`` (ORM), ``crud`` (data access), ``schemas``
(what comes back) behind ``store.Store``; ``recording`` stores a measurement's diagnoses for an asset (the one
function every way in uses) and judges it against the asset's baseline; ``export`` writes the history as CSV
that spreadsheets open as data.
"""
