"""Model kinds and what a loaded model assumes: the bearing recorded in a model directory."""

from __future__ import annotations

from faultdx.data.bearing import SKF_6205, BearingGeometry, bearing_from


def meta_bearing(bearing: dict | None) -> BearingGeometry:
    """A model directory's bearing (API form, or the older field names); SKF 6205 when none is recorded."""
    if not bearing:
        return SKF_6205
    if "n_balls" in bearing:  # model directories written before the API form
        bearing = {"balls": bearing["n_balls"], "ball_diameter_mm": bearing["ball_diameter"],
                   "pitch_diameter_mm": bearing["pitch_diameter"],
                   "contact_angle_deg": bearing.get("contact_angle_deg", 0.0), "name": bearing.get("name")}
    return bearing_from({k: v for k, v in bearing.items() if k != "source"}, "model.bearing")
