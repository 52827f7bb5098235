"""Activities: the work-order system's side effects, as methods of classes whose
dependencies (the work-order store, the NMS, reference data) are injected by the
worker."""

from activities.activation import ActivationActivities
from activities.construction import ConstructionActivities
from activities.orders import OrderActivities
from activities.quality import QualityCheckActivities

__all__ = [
    "ActivationActivities",
    "ConstructionActivities",
    "OrderActivities",
    "QualityCheckActivities",
]
