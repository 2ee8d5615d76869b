"""PAD (and its aligned tower) scores from each expert's last position (``scorer()``) exactly as from their whole sequences, for the
frequency gate and the user-aware one."""

import pytest
import torch
from pad_models import backbone_config, build_tower, new_backbone

from mmrec.core.sequences import left_pad
from mmrec.pad.config import PADConfig


@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
@pytest.mark.parametrize("gate", ["frequency", "user"])
def test_pad_last_position_scores_equal_the_whole_sequence_path(make_pad, kind, gate):
    pad = make_pad(kind, gate=gate)
    histories = left_pad([torch.arange(1, 1 + n).numpy() for n in (1, 4, 9, 12)], pad.max_len)
    with torch.no_grad():
        old = pad.encode_sequence(histories)[:, -1] @ pad.item_repr.all_items().T
        new = pad.scorer()(histories)
    torch.testing.assert_close(new, old, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
def test_aligned_tower_last_position_scores_equal_the_whole_sequence_path(split, content, kind):
    torch.manual_seed(0)
    tower = build_tower(new_backbone(kind, backbone_config(kind)), kind, content, split, PADConfig()).eval()
    histories = left_pad([torch.arange(1, 1 + n).numpy() for n in (2, 7, 11)], tower.max_len)
    with torch.no_grad():
        old = tower.encode_sequence(histories)[:, -1] @ tower.item_repr.all_items().T
        new = tower.scorer()(histories)
    torch.testing.assert_close(new, old, atol=1e-5, rtol=1e-5)
