"""PAD (METHODS.md §1) as one package: ``config`` (the one PADConfig), ``experts`` and ``tower`` / ``model`` (the
align-step tower and the triple experts), ``train`` (align, fine-tune) and ``stage`` (the align and pad stages)."""
