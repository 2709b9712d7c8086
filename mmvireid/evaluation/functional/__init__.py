from .cluster_quality import cluster_quality
from .cmfp import cross_modality_propagation, intra_topk
from .cmfp_trials import CMFPTrials, cmfp_distance_trials
from .reranking import k_reciprocal_rerank, re_ranking
from .verification_roc import roc_auc, verification_pairs, verification_roc
from .vireid_ranking import eval_regdb, eval_sysu, sysu_keep_mask

__all__ = [
    'cluster_quality', 'eval_sysu', 'eval_regdb', 'cross_modality_propagation',
    'intra_topk', 'CMFPTrials', 'cmfp_distance_trials', 'k_reciprocal_rerank',
    're_ranking', 'roc_auc', 'verification_pairs', 'verification_roc',
    'sysu_keep_mask'
]
