"""Instance-to-prototype association by entropic optimal transport."""
import torch

from mmvireid.registry import TASK_UTILS
from ...utils.ot_association import sinkhorn_plan
from .base_associator import Association, BaseAssociator, ClusterSet


@TASK_UTILS.register_module()
class OTAssociator(BaseAssociator):
    """SALCR's association (DAGL, Eq. 4-6, https://arxiv.org/abs/2504.19244).

    The cost between a source instance and a destination centroid is their
    squared Euclidean distance; the entropic OT plan with uniform marginals
    spreads the instances evenly over the centroids, and each instance
    joins the centroid its plan row prefers. Outliers are not transported.

    Args:
        lambda_ot (float): Kernel sharpness (POT's ``reg = 1 / lambda_ot``).
            Defaults to 5.
        reference_stop (bool): The SALCR reference's stopping rule (column
            scaling changing by < 10 %) instead of POT to convergence.
            Defaults to False.
        num_iters (int): Iteration cap. Defaults to 500.
        stop_thr (float): POT's stopping threshold. Defaults to 1e-6.
    """

    def __init__(self,
                 lambda_ot: float = 5.0,
                 reference_stop: bool = False,
                 num_iters: int = 500,
                 stop_thr: float = 1e-6) -> None:
        if lambda_ot <= 0:
            raise ValueError(f'lambda_ot must be > 0, got {lambda_ot}')
        self.lambda_ot = lambda_ot
        self.reference_stop = reference_stop
        self.num_iters = num_iters
        self.stop_thr = stop_thr

    def __call__(self, source: ClusterSet,
                 destination: ClusterSet) -> Association:
        """Cross labels (argmax of each plan row) and the plan."""
        labels = torch.as_tensor(source.labels)
        cross = torch.full_like(labels, -1)
        kept = labels >= 0
        if not kept.any() or not destination.num_clusters:
            return Association(cross)
        plan = sinkhorn_plan(
            source.features[kept],
            destination.centroids,
            lambda_ot=self.lambda_ot,
            num_iters=self.num_iters,
            stop_thr=self.stop_thr,
            reference_stop=self.reference_stop)
        cross[kept] = plan.argmax(1)
        return Association(cross, plan)
