"""Meta-reinforcement learning: Bernoulli bandits (Duan et al. 2016, RL²) and 2-D navigation
(Finn et al. 2017, MAML); ``import metalearn_lite.rl``.

* tasks — :class:`BernoulliBanditEnv` (a Gymnasium environment, one trial at a time),
  :class:`BanditTasks` (seeded meta-train / meta-test streams of (batch, k) probabilities) and
  :func:`run_trials` (a policy over a batch of trials at once), :func:`evaluate` (mean total
  reward per trial ± 95% CI), :func:`expected_regret`;
* baselines — :class:`RandomArm`, :class:`UCB1`, :class:`Thompson`, :class:`EpsilonGreedy`
  (:func:`Greedy`), :class:`Gittins` (finite-horizon index), :class:`Oracle`;
* RL² — :class:`RL2Policy` (a GRU policy whose state spans one trial) and :func:`train_rl2` (A2C);
* navigation — :class:`PointNavigationEnv` (Gymnasium), :class:`NavigationTasks` (seeded goals),
  :class:`GaussianMLPPolicy`, :func:`rollout`, :func:`oracle_returns`;
* MAML with a policy-gradient inner loop — :func:`adapt`, :func:`dice_objective` (exact
  meta-gradients with DiCE), :func:`train_maml_rl`, :func:`train_pretrained`,
  :func:`adaptation_returns`; evolution strategies as the outer loop — :func:`train_es_maml`.

Bad arguments are refused with a ValueError that names them (NumPy scalars count as numbers);
training and adaptation stop with a FloatingPointError at the first NaN or ±inf loss, action or
weight, naming the step (helpers in :mod:`metalearn_lite.rl.checks`).

Not imported by ``import metalearn_lite``, which stays as light as it was.
"""
from .bandits import BanditPolicy, BanditTasks, BernoulliBanditEnv, Trials, evaluate, expected_regret, run_trials
from .baselines import EpsilonGreedy, Gittins, Greedy, Oracle, RandomArm, Thompson, UCB1
from .es import train_es_maml
from .maml_rl import adapt, adaptation_returns, dice_objective, train_maml_rl, train_pretrained
from .navigation import GaussianMLPPolicy, NavigationTasks, PointNavigationEnv, Trajectories, oracle_returns, rollout
from .rl2 import RL2Policy, train_rl2

__all__ = [
    "BanditPolicy", "BanditTasks", "BernoulliBanditEnv", "EpsilonGreedy", "Gittins", "Greedy", "Oracle", "RL2Policy",
    "RandomArm", "Thompson", "Trials", "UCB1", "evaluate", "expected_regret", "run_trials", "train_rl2",
    "GaussianMLPPolicy", "NavigationTasks", "PointNavigationEnv", "Trajectories", "adapt", "adaptation_returns",
    "dice_objective", "oracle_returns", "rollout", "train_es_maml", "train_maml_rl", "train_pretrained",
]
