"""Reference diagnostics without learned parameters, servable beside the networks."""
