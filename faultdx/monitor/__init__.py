"""Condition monitoring: assets, their diagnosis history in a database, condition indicators of the raw
signal, ISO 20816-3 severity zones and alarms.

``indicators`` and ``zones`` are pure numpy; ``store`` (SQLAlchemy 2 + Alembic) holds assets, diagnoses and
alarms; ``alarms`` decides which alarms a new measurement opens or closes.
"""
