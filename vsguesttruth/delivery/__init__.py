"""How the documents travel between the service and the guests: guestinfo, or VM data sets.

guestinfo (``ReconfigVM_Task`` of extraConfig, watched) is the default and works everywhere. VM data sets
(vSphere 8.0+, virtual hardware vmx-20+) carry the same documents with access control made for the job, no
vCenter task per write, and no change notification: ``[delivery]`` chooses per VM, and this package adapts the
data set channel to the reconciler, which plans on the four keys either way:

- :mod:`.channel`: which VMs use data sets, and the four keys the reconciler sees for them (pure);
- :mod:`.poll`: when to read what guests write, within a budget of calls a second (pure);
- :mod:`.datasets`: :class:`DataSetDelivery`, the data sets as read and written, the inventory to plan on, and
  the writer that sends each value where it goes.

Nothing here imports the SDK: the vCenter edge's ``VmDataSets`` is handed in (:func:`open_delivery` makes it).
"""

from __future__ import annotations

from .channel import DATASETS, GUESTINFO, Held, uses_datasets, view
from .datasets import ChannelWriter, DataSetDelivery, DataSetPort, open_delivery
from .poll import PollSchedule

__all__ = [
    "DATASETS", "GUESTINFO", "ChannelWriter", "DataSetDelivery", "DataSetPort", "Held", "PollSchedule",
    "open_delivery", "uses_datasets", "view",
]
