import pytest
import torch
import torch.nn.functional as F

from mmvireid.utils.knn import topk_similarity


def _dense_topk(query, gallery, k, exclude_self=False):
    sim = query @ gallery.t()
    if exclude_self:
        sim.fill_diagonal_(float('-inf'))
    order = torch.argsort(sim, dim=1, descending=True)[:, :k]
    return torch.gather(sim, 1, order), order


@pytest.mark.parametrize('chunk_size', [1, 7, 4096])
def test_topk_similarity_matches_dense_argsort(chunk_size):
    gen = torch.Generator().manual_seed(0)
    query = F.normalize(torch.randn(23, 16, generator=gen), dim=1)
    gallery = F.normalize(torch.randn(31, 16, generator=gen), dim=1)
    values, indices = topk_similarity(query, gallery, 5, chunk_size)
    ref_values, ref_indices = _dense_topk(query, gallery, 5)
    assert values.shape == indices.shape == (23, 5)
    assert indices.dtype == torch.long and values.dtype == torch.float32
    torch.testing.assert_close(values, ref_values)
    assert torch.equal(indices, ref_indices)
    assert torch.all(values[:, :-1] >= values[:, 1:])


def test_topk_similarity_hand_computed_and_clamped_k():
    query = torch.tensor([[1., 0.], [0., 1.]])
    gallery = torch.tensor([[0.6, 0.8], [1., 0.], [-1., -0.1]])
    values, indices = topk_similarity(query, gallery, k=10)  # k -> 3
    assert torch.equal(indices, torch.tensor([[1, 0, 2], [0, 1, 2]]))
    torch.testing.assert_close(values,
                               torch.tensor([[1., 0.6, -1.], [0.8, 0., -0.1]]))


def test_topk_similarity_self_inclusion_and_exclusion():
    gen = torch.Generator().manual_seed(1)
    feats = F.normalize(torch.randn(12, 8, generator=gen), dim=1)
    _, with_self = topk_similarity(feats, feats, 3, chunk_size=5)
    assert torch.equal(with_self[:, 0], torch.arange(12))
    values, indices = topk_similarity(
        feats, feats, 20, chunk_size=5, exclude_self=True)
    ref_values, ref_indices = _dense_topk(feats, feats, 11, exclude_self=True)
    assert indices.shape == (12, 11)  # clamped to Ng - 1
    assert not torch.any(indices == torch.arange(12)[:, None])
    assert torch.equal(indices, ref_indices)
    torch.testing.assert_close(values, ref_values)


def test_topk_similarity_rejects_bad_inputs():
    with pytest.raises(ValueError, match='feature dimensions'):
        topk_similarity(torch.zeros(2, 3), torch.zeros(2, 4), 1)
    with pytest.raises(ValueError, match='exclude_self'):
        topk_similarity(
            torch.zeros(2, 3), torch.zeros(3, 3), 1, exclude_self=True)
    with pytest.raises(ValueError, match='k must be'):
        topk_similarity(torch.zeros(2, 3), torch.zeros(3, 3), 0)
