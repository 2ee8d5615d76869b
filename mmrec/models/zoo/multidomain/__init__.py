"""Multi-domain / multi-task zoo models (ZOO.md §4): shared-bottom, MMoE, PLE, ME-MMoE, Crocodile, on the base of
:mod:`mmrec.models.zoo.multidomain.base` (domain routing, one logit per label)."""
