"""The plant side of faultdx: listeners that take signals from where the plant publishes them (MQTT)."""
