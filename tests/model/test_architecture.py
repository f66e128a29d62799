"""Layer shapes of paper section 3.1 and the masking of section 3.2."""

import torch
import torch.nn.functional as F

from contracts.combos import COMBO_NAMES, Combo
from model.architecture import EmotionNet
from model.config import ModelConfig
from model.loss import MISSING, multitask_loss


def _net(**kw):
    torch.manual_seed(0)
    return EmotionNet(ModelConfig(n_words=50, n_tags=20, image_size=32, **kw))


def _batch(n=6, mask=None):
    g = torch.Generator().manual_seed(0)
    return {
        "mask": mask if mask is not None else torch.ones(n, 3, dtype=torch.bool),
        "image": torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g),
        "text": torch.randint(1, 50, (n, 150), generator=g),
        "tags": torch.randint(1, 20, (n, 10), generator=g),
    }


def test_layer_shapes_follow_section_3_1():
    net = _net()
    assert net.image.proj.in_features == 1024 and net.image.proj.out_features == 300
    assert [c.kernel_size[0] for c in net.text.convs] == [3, 4, 5]
    assert all(c.out_channels == 100 and c.in_channels == 300 for c in net.text.convs)
    assert net.text.dropout.p == 0.25
    assert net.text.fc.in_features == 900 and net.text.fc.out_features == 300
    assert (
        net.tags.embed.embedding_dim == 250 and net.tags.conv.kernel_size == (1,) and net.tags.conv.out_channels == 300
    )
    assert sorted(net.heads) == sorted(COMBO_NAMES) and len(net.heads) == 7
    for combo, head in net.heads.items():
        linears = [m for m in head.trunk if isinstance(m, torch.nn.Linear)]
        assert linears[0].in_features == 300 * len(Combo.parse(combo))
        assert [lin.out_features for lin in linears] == [256, 128]
        assert head.emotion.out_features == 8 and head.sentiment.out_features == 2
    net.eval()
    feats = net.encode(_batch())
    assert all(f.shape == (6, 300) for f in feats.values())
    out = net(_batch())
    assert set(out) == set(COMBO_NAMES)
    assert all(e.shape == (6, 8) and s.shape == (6, 2) and n is None for _, e, s, n in out.values())


def test_absent_modality_encoder_gets_zero_gradient():
    net = _net()
    mask = torch.tensor([[False, True, True]] * 4)  # no image anywhere
    out = net(_batch(4, mask))
    assert set(out) == {"text", "tags", "text_tags"}
    loss, _ = multitask_loss(out, torch.tensor([0, 1, 2, 3]), torch.full((4,), MISSING), 4)
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in net.image.parameters())
    for combo in ("image", "image_text", "image_tags", "image_text_tags"):
        assert all(p.grad is None or not p.grad.any() for p in net.heads[combo].parameters())
    assert net.text.fc.weight.grad.abs().sum() > 0 and net.tags.conv.weight.grad.abs().sum() > 0


def test_loss_is_the_sum_of_present_heads():
    net = _net().eval()
    mask = torch.tensor([[True, True, True], [True, False, False], [False, True, True], [False, False, True]])
    emo = torch.tensor([1, MISSING, 4, 7])
    sent = torch.tensor([0, 1, MISSING, 0])
    out = net(_batch(4, mask))
    loss, parts = multitask_loss(out, emo, sent, 4)
    expected = 0.0
    heads_of = {0: COMBO_NAMES, 1: ("image",), 2: ("text", "tags", "text_tags"), 3: ("tags",)}
    for i, heads in heads_of.items():
        for combo in heads:
            rows, e, s, _ = out[combo]
            j = rows.tolist().index(i)
            if emo[i] != MISSING:
                expected += F.cross_entropy(e[j : j + 1], emo[i : i + 1]).item()
            if sent[i] != MISSING:
                expected += F.cross_entropy(s[j : j + 1], sent[i : i + 1]).item()
    assert abs(loss.item() - expected / 4) < 1e-5
    assert abs(sum(parts.values()) - loss.item()) < 1e-5
    # rows 1 and 3 cannot feed any bimodal head
    assert out["image_tags"][0].tolist() == [0]


def test_neutral_gate_adds_one_output_per_head_and_its_loss_where_the_label_is_known():
    net = _net(neutral_gate=True).eval()
    mask = torch.tensor([[False, True, False]] * 3)  # text only: the T head alone
    out = net(_batch(3, mask))
    rows, e, s, n = out["text"]
    assert n.shape == (3,)
    emo, sent, neutral = torch.full((3,), MISSING), torch.full((3,), MISSING), torch.tensor([1, 0, MISSING])
    loss, _ = multitask_loss(out, emo, sent, 3, neutral=neutral, neutral_weight=0.5)
    want = 0.5 * F.binary_cross_entropy_with_logits(n[:2], torch.tensor([1.0, 0.0]), reduction="sum") / 3
    assert abs(loss.item() - want.item()) < 1e-6
    assert multitask_loss(out, emo, sent, 3)[0].item() == 0  # no neutral labels given: no term
