"""The lab center: a LOINC test catalogue with reference ranges (:mod:`lab.catalogue`,
:mod:`lab.ranges`), orders and specimens (:mod:`lab.orders`, :mod:`lab.specimens`), results
with two-person release and amendments (:mod:`lab.results`), critical values
(:mod:`lab.critical`), and the HL7 v2 doors: messages (:mod:`lab.hl7`), MLLP transport
(:mod:`lab.mllp`), the results inbox (:mod:`lab.inbound`) and the LIS order outbox
(:mod:`lab.outbound`)."""
