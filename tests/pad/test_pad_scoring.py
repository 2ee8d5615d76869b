"""PAD scores from each expert's last position (``scorer()``) exactly as from their whole sequences, for the
frequency gate and the user-aware one."""

import pytest
import torch

from mmrec.core.sequences import left_pad


@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
@pytest.mark.parametrize("gate", ["frequency", "user"])
def test_pad_last_position_scores_equal_the_whole_sequence_path(make_pad, kind, gate):
    pad = make_pad(kind, gate=gate)
    histories = left_pad([torch.arange(1, 1 + n).numpy() for n in (1, 4, 9, 12)], pad.max_len)
    with torch.no_grad():
        old = pad.encode_sequence(histories)[:, -1] @ pad.item_repr.all_items().T
        new = pad.scorer()(histories)
    torch.testing.assert_close(new, old, atol=1e-5, rtol=1e-5)
