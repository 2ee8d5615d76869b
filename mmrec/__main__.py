"""``python -m mmrec`` (what ``torchrun -m mmrec`` runs) is the ``mmrec`` command."""

from mmrec.cli import main

raise SystemExit(main())
