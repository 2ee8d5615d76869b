"""The CTR family as one package: ``config`` (the recipe's ctr section), ``build`` (a model from its catalogue
name), ``train`` (the training loop) and ``stage`` (the ctr stage). The models are in :mod:`mmrec.models.ctr`."""
