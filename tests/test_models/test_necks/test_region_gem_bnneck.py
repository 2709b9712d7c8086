"""RegionGeMBNNeck: one GeM + BN neck per stripe, concatenated."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='RegionGeMBNNeck', in_channels=3, **kwargs))


def test_each_stripe_is_pooled_by_its_own_neck():
    neck = build(num_regions=2).eval()
    for region in neck.regions:  # distinct BN statistics per region
        region.bn.running_mean.uniform_()
    x = torch.rand(2, 3, 5, 4)  # 5 rows: stripes of 3 and 2
    pooled, bn = neck(x)
    assert pooled.shape == bn.shape == (2, 6) and neck.out_channels == 6
    top, bottom = x[:, :, :3], x[:, :, 3:]
    for r, stripe in enumerate((top, bottom)):
        want = stripe.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
        torch.testing.assert_close(pooled[:, 3 * r:3 * r + 3], want)
        torch.testing.assert_close(bn[:, 3 * r:3 * r + 3],
                                   neck.regions[r].bn(want))
    # a change in the bottom stripe leaves the top region's feature alone
    y = x.clone()
    y[:, :, 4] += 1
    changed = neck(y)[1]
    torch.testing.assert_close(changed[:, :3], bn[:, :3])
    assert not torch.allclose(changed[:, 3:], bn[:, 3:])


def test_as_pa_cbam_pooling_it_gives_the_region_feature_to_vra():
    torch.manual_seed(0)
    neck = MODELS.build(
        dict(
            type='PACBAMNeck',
            in_channels=16,
            num_regions=4,
            reduction=4,
            pooling=dict(
                type='RegionGeMBNNeck', in_channels=16,
                num_regions=4))).eval()
    feats = neck.forward_features(torch.rand(3, 16, 8, 4))
    assert feats['global'].shape == (3, 64)
    # each 16-wide slice is one region: what VRAAssociator(num_regions=4)
    # splits (after its per-region normalisation)
    regions = F.normalize(feats['global'].view(3, 4, 16), dim=2)
    assert regions.shape == (3, 4, 16)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match='num_regions must be an int'):
        build(num_regions=0)
    with pytest.raises(ValueError, match='height 2 cannot be split'):
        build(num_regions=4)(torch.rand(1, 3, 2, 2))
    with pytest.raises(ValueError, match='expects \\(B, C, H, W\\)'):
        build()(torch.rand(2, 3))
