"""A site's sensors: new objects -> jobs, open jobs -> claimed runs, leases kept or released, and a job
made by a sensor's own logic (curation)."""

from orchestrator.sensors.claims import make_claim_sensor
from orchestrator.sensors.curation import make_curation_sensor
from orchestrator.sensors.new_objects import make_new_objects_sensor
from orchestrator.sensors.reconcile import make_reconcile_sensor

__all__ = ["make_claim_sensor", "make_curation_sensor", "make_new_objects_sensor", "make_reconcile_sensor"]
